"""Average pooling (``--pooling avg``, Gatys et al.'s choice for style transfer) against torch,
forward and backward, through the network."""

from __future__ import annotations

import numpy as np

from tests import matfiles
from tests.conftest import rel_error
from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.weights.matconvnet import read_matconvnet


def test_average_pooling_matches_torch(torch, tiny_raw, tiny_mat):
    net = Network(read_matconvnet(tiny_mat), BACKENDS["winograd"](), "avg")
    x = (np.random.default_rng(4).standard_normal((2, 3, 37, 45)) * 40).astype(np.float32)
    taps = ["relu3_1", "pool5"]
    result = net.forward(x, taps, record=True)
    g = {
        t: np.random.default_rng(5).standard_normal(result.outputs[t].shape).astype(np.float32)
        for t in taps
    }
    dx = net.backward(result, g).input
    params = matfiles.torch_params(torch, tiny_raw)
    tx = torch.tensor(x, requires_grad=True)
    outs = matfiles.torch_outputs(torch, params, tx, pooling="avg")
    total = sum((outs[t] * torch.tensor(g[t])).sum() for t in taps)
    total.backward()
    for t in taps:
        assert rel_error(result.outputs[t], outs[t].detach().numpy()) <= 1e-4
    assert rel_error(dx, tx.grad.numpy()) <= 1e-4
