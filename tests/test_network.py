"""The whole network against a PyTorch VGG19 built from the same MatConvNet file.

The manual's grading bands: 80 = correct pool5 output, 100 = correct softmax output and class.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests import matfiles
from tests.conftest import rel_error
from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.engine.weightset import random_weights
from vggcli.errors import UsageError
from vggcli.weights.matconvnet import read_matconvnet

TOL = 1e-4


def _input(rng, h, w, n=1):
    return (rng.standard_normal((n, 3, h, w)) * 50).astype(np.float32)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_taps_of_the_conv_part_match_torch(torch, tiny_raw, tiny_mat, backend):
    net = Network(read_matconvnet(tiny_mat), BACKENDS[backend]())
    x = _input(np.random.default_rng(0), 37, 50, n=2)  # odd, non-square, batch of 2
    taps = ["conv1_1", "relu1_1", "pool1", "relu3_1", "relu4_2", "pool5"]
    ours = net.forward(x, taps).outputs
    theirs = matfiles.torch_forward(torch, tiny_raw, x)
    assert set(ours) == set(taps)
    for name in taps:
        assert ours[name].dtype == np.float32
        assert rel_error(ours[name], theirs[name]) <= TOL, name
    assert (ours["conv1_1"] < 0).any(), "the conv1_1 tap must not be overwritten by relu1_1"


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_pool5_and_softmax_at_224_match_torch(torch, tiny_raw, tiny_mat, backend):
    """Bands 80 and 100 on the narrow network (loops is too slow for full widths)."""
    net = Network(read_matconvnet(tiny_mat), BACKENDS[backend]())
    x = _input(np.random.default_rng(1), 224, 224)
    ours = net.forward(x, ["pool5", "fc6", "softmax"]).outputs
    theirs = matfiles.torch_forward(torch, tiny_raw, x)
    for name in ("pool5", "fc6", "softmax"):
        assert rel_error(ours[name], theirs[name]) <= TOL, name
    assert ours["softmax"].argmax() == theirs["softmax"].argmax()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["img2col", "winograd"])
def test_full_width_vgg19_at_224_matches_torch(torch, tmp_path, backend):
    """The real conv widths (64…512, 20M parameters); fc hidden widths reduced."""
    raw = matfiles.random_raw(np.random.default_rng(7), (64, 128, 256, 512, 512), (64, 64, 1000))
    path = matfiles.write_matconvnet(tmp_path / "wide.mat", raw, "current")
    net = Network(read_matconvnet(path), BACKENDS[backend]())
    x = _input(np.random.default_rng(2), 224, 224)
    ours = net.forward(x, ["pool5", "softmax"]).outputs
    theirs = matfiles.torch_forward(torch, raw, x)
    assert ours["pool5"].shape == (1, 512, 7, 7)
    assert rel_error(ours["pool5"], theirs["pool5"]) <= TOL
    assert rel_error(ours["softmax"], theirs["softmax"]) <= TOL
    assert np.abs(ours["softmax"] - theirs["softmax"]).max() <= 1e-4  # absolute, as promised
    assert ours["softmax"].argmax() == theirs["softmax"].argmax()


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_input_gradient_from_several_taps_matches_torch_autograd(
    torch, tiny_raw, tiny_mat, backend
):
    net = Network(read_matconvnet(tiny_mat), BACKENDS[backend]())
    rng = np.random.default_rng(3)
    x = _input(rng, 32, 40)
    taps = ["relu1_1", "relu3_1", "relu4_2", "relu5_1"]
    result = net.forward(x, taps, record=True)
    grads = {
        name: rng.standard_normal(result.outputs[name].shape).astype(np.float32) for name in taps
    }
    dx = net.backward(result, grads).input

    tx = torch.tensor(x, requires_grad=True)
    outs = matfiles.torch_outputs(torch, matfiles.torch_params(torch, tiny_raw), tx)
    total = sum((outs[name] * torch.tensor(grads[name])).sum() for name in taps)
    total.backward()
    assert dx.shape == x.shape
    assert rel_error(dx, tx.grad.numpy()) <= TOL


def test_backward_returns_parameter_gradients_when_asked(torch, tiny_raw, tiny_mat):
    net = Network(read_matconvnet(tiny_mat), BACKENDS["img2col"]())
    x = _input(np.random.default_rng(4), 224, 224)
    result = net.forward(x, ["softmax"], record=True)
    g = np.zeros((1, 1000), np.float32)
    g[0, 281] = 1.0
    back = net.backward(result, {"softmax": g}, param_grads=True)
    assert set(back.params) == {name for name in tiny_raw}

    tx = torch.tensor(x, requires_grad=True)
    params = matfiles.torch_params(torch, tiny_raw, requires_grad=True)
    outs = matfiles.torch_outputs(torch, params, tx)
    outs["softmax"][0, 281].backward()
    assert rel_error(back.input, tx.grad.numpy()) <= TOL
    for name in ("conv1_1", "conv5_4", "fc6", "fc8"):
        dw, db = back.params[name]
        tw, tb = params[name]
        stored = tw.grad.numpy()  # [H, W, Cin, Cout] as in the file
        expected = (
            stored.transpose(2, 0, 1, 3)
            if name.startswith("conv")
            else stored.reshape(-1, stored.shape[-1])
        )
        assert rel_error(dw, expected) <= TOL, name
        assert rel_error(db, tb.grad.numpy()) <= TOL, name


def test_unknown_tap_lists_the_valid_layers(tiny_mat):
    net = Network(read_matconvnet(tiny_mat), BACKENDS["img2col"]())
    with pytest.raises(UsageError, match=r"unknown layer 'relu9_9'.*conv1_1, relu1_1"):
        net.forward(np.zeros((1, 3, 32, 32), np.float32), ["relu9_9"])


def test_classifier_needs_224_and_conv_part_needs_32(tiny_mat):
    net = Network(read_matconvnet(tiny_mat), BACKENDS["img2col"]())
    with pytest.raises(UsageError, match="needs a 224x224 input"):
        net.forward(np.zeros((1, 3, 64, 64), np.float32), ["softmax"])
    with pytest.raises(UsageError, match="too small"):
        net.forward(np.zeros((1, 3, 24, 40), np.float32), ["pool5"])
    with pytest.raises(UsageError, match="3-channel"):
        net.forward(np.zeros((1, 4, 64, 64), np.float32), ["pool5"])
    # taps short of pool5 accept smaller inputs
    assert net.forward(np.zeros((1, 3, 16, 16), np.float32), ["relu4_2"]).outputs[
        "relu4_2"
    ].shape == (1, 16, 2, 2)


def test_conv_only_weights_have_no_classifier_layers():
    weights = random_weights(0, channels=(2, 2, 2, 2, 2), fc=None)
    net = Network(weights, BACKENDS["img2col"]())
    assert net.layer_names[-1] == "pool5"
    with pytest.raises(UsageError, match="has no classifier"):
        net.forward(np.zeros((1, 3, 224, 224), np.float32), ["softmax"])


def test_backward_needs_a_recorded_forward(tiny_mat):
    net = Network(read_matconvnet(tiny_mat), BACKENDS["img2col"]())
    result = net.forward(np.zeros((1, 3, 32, 32), np.float32), ["relu1_1"])
    with pytest.raises(ValueError, match="record=True"):
        net.backward(result, {"relu1_1": np.zeros((1, 4, 32, 32), np.float32)})


def test_progress_reports_every_unit_of_work(tiny_mat):
    net = Network(read_matconvnet(tiny_mat), BACKENDS["loops"]())
    seen: dict[str, int] = {}

    def progress(layer, units):
        seen[layer.name] = seen.get(layer.name, 0) + units

    x = np.zeros((1, 3, 32, 32), np.float32)
    net.forward(x, ["pool2"], progress=progress)
    plan = net.plan(x.shape, ["pool2"])
    assert seen == {c.layer.name: c.work for c in plan}
    assert seen["conv1_2"] == 32 * 32 * 4 * 4 * 9
