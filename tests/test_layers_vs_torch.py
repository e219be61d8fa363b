"""Every layer, forward and every backward output, against PyTorch (float32, rel. error ≤ 1e-4).

Convolution and max pooling are checked for each backend; ReLU, flatten, fully connected and
softmax are shared by all backends (vggcli.engine.ops) and checked once.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import rel_error
from vggcli.engine import ops
from vggcli.engine.backends import BACKENDS

TOL = 1e-4

# (N, Cin, H, W, Cout, K, stride, pad): odd sizes, stride 2, pad 0/1/2, kernels 1/3/5, N=2, Cin≠Cout
# img2col computes dX of stride-1 cases as a convolution with the turned kernel or by col2im
# (turned_kernel_is_cheaper), of the others by col2im: all three kinds are here.
CONV_CASES = [
    (1, 3, 7, 9, 4, 3, 1, 1),
    (2, 5, 8, 6, 3, 3, 2, 1),
    (2, 4, 9, 11, 6, 5, 1, 2),
    (1, 6, 5, 7, 2, 1, 1, 0),
    (2, 3, 10, 10, 4, 3, 2, 0),
    (1, 2, 6, 9, 5, 5, 2, 2),
    (2, 7, 4, 5, 3, 1, 2, 1),
    (2, 6, 7, 8, 4, 3, 1, 1),
    (1, 5, 9, 6, 5, 5, 1, 2),
    (1, 2, 8, 7, 8, 3, 1, 1),
    (1, 4, 5, 6, 2, 1, 1, 1),
]
# (N, C, H, W, K, stride): even and odd sizes (floor), overlapping windows
POOL_CASES = [
    (1, 3, 8, 8, 2, 2),
    (2, 4, 7, 9, 2, 2),
    (1, 2, 9, 9, 3, 2),
    (2, 3, 10, 7, 3, 3),
    (1, 2, 6, 6, 2, 1),
]


def _conv_id(case):
    n, cin, h, w, cout, k, s, p = case
    return f"N{n}-{cin}x{h}x{w}-to{cout}-k{k}s{s}p{p}"


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("case", CONV_CASES, ids=[_conv_id(c) for c in CONV_CASES])
def test_conv_forward_and_backward_match_torch(torch, backend, case):
    n, cin, h, w, cout, k, s, p = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    weight = rng.standard_normal((cin, k, k, cout)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)

    engine = BACKENDS[backend]()
    y, cache = engine.conv2d_forward(x, weight, bias, stride=s, pad=p)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = engine.conv2d_backward(dy, cache)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(weight.transpose(3, 0, 1, 2).copy(), requires_grad=True)  # [Cout,Cin,K,K]
    tb = torch.tensor(bias, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
    ty.backward(torch.tensor(dy))

    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert rel_error(y, ty.detach().numpy()) <= TOL
    assert rel_error(dx, tx.grad.numpy()) <= TOL
    assert rel_error(dw, tw.grad.numpy().transpose(1, 2, 3, 0)) <= TOL
    assert rel_error(db, tb.grad.numpy()) <= TOL


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_conv_backward_without_param_grads_gives_the_same_dx(backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    weight = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    engine = BACKENDS[backend]()
    y, cache = engine.conv2d_forward(x, weight, np.zeros(4, np.float32), stride=1, pad=1)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    full = engine.conv2d_backward(dy, cache)
    dx, dw, db = engine.conv2d_backward(dy, cache, param_grads=False)
    assert dw is None and db is None
    np.testing.assert_array_equal(dx, full[0])


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "N{}-{}x{}x{}-k{}s{}".format(*c))
def test_maxpool_forward_and_backward_match_torch(torch, backend, case):
    n, c, h, w, k, s = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    engine = BACKENDS[backend]()
    y, cache = engine.maxpool2d_forward(x, kernel=k, stride=s)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = engine.maxpool2d_backward(dy, cache)

    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, k, s)
    ty.backward(torch.tensor(dy))
    assert rel_error(y, ty.detach().numpy()) <= TOL
    assert rel_error(dx, tx.grad.numpy()) <= TOL


def test_relu_matches_torch(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y = ops.relu_forward(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.relu(tx)
    ty.backward(torch.tensor(dy))
    assert rel_error(y, ty.detach().numpy()) <= TOL
    assert rel_error(ops.relu_backward(dy, y), tx.grad.numpy()) <= TOL


def test_relu_inplace_overwrites_its_input():
    x = np.array([-1.0, 2.0], dtype=np.float32)
    y = ops.relu_forward(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]


def test_flatten_is_matconvnet_order_and_matches_torch(torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = ops.flatten_forward(x)
    # element (n, c, h, w) lands at column (h·W + w)·C + c
    assert y[1, (2 * 5 + 3) * 3 + 1] == x[1, 1, 2, 3]
    tx = torch.tensor(x, requires_grad=True)
    ty = tx.permute(0, 2, 3, 1).reshape(2, -1)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.tensor(dy))
    assert rel_error(y, ty.detach().numpy()) == 0
    assert rel_error(ops.flatten_backward(dy, x.shape), tx.grad.numpy()) == 0


def test_fully_connected_matches_torch(torch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 7)).astype(np.float32)
    w = rng.standard_normal((7, 5)).astype(np.float32)  # [in, out]
    b = rng.standard_normal(5).astype(np.float32)
    y = ops.linear_forward(x, w, b)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = ops.linear_backward(dy, x, w)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w.T.copy(), b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    ty.backward(torch.tensor(dy))
    assert rel_error(y, ty.detach().numpy()) <= TOL
    assert rel_error(dx, tx.grad.numpy()) <= TOL
    assert rel_error(dw, tw.grad.numpy().T) <= TOL
    assert rel_error(db, tb.grad.numpy()) <= TOL


def test_softmax_matches_torch_and_is_stable(torch):
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((2, 10)) * 50 + 1000).astype(np.float32)  # exp(1000) overflows
    y = ops.softmax_forward(z)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    tz = torch.tensor(z, requires_grad=True)
    ty = torch.softmax(tz, dim=1)
    ty.backward(torch.tensor(dy))
    assert rel_error(y, ty.detach().numpy()) <= TOL
    assert rel_error(ops.softmax_backward(dy, y), tz.grad.numpy()) <= TOL


def test_img2col_works_channels_last_whatever_the_input_layout():
    """Outputs and input gradients are NCHW views of channels-last memory (what makes the next
    layer's im2col cheap); an NCHW-contiguous input gives the same numbers."""
    backend = BACKENDS["img2col"]()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 7, 6)).astype(np.float32)
    x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    w = rng.standard_normal((4, 3, 3, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    y, cache = backend.conv2d_forward(x, w, b, 1, 1)
    y_last, cache_last = backend.conv2d_forward(x_last, w, b, 1, 1)
    np.testing.assert_array_equal(y_last, y)
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous
    dy = rng.standard_normal(y.shape).astype(np.float32)  # NCHW-contiguous upstream gradient
    dx, dw, db = backend.conv2d_backward(dy, cache_last)
    for mine, nchw in zip((dx, dw, db), backend.conv2d_backward(dy, cache), strict=True):
        np.testing.assert_array_equal(mine, nchw)
    assert dx.transpose(0, 2, 3, 1).flags.c_contiguous
    pooled, pool_cache = backend.maxpool2d_forward(y, 2, 2)
    assert pooled.transpose(0, 2, 3, 1).flags.c_contiguous
    dpool = backend.maxpool2d_backward(np.ones_like(pooled), pool_cache)
    assert dpool.transpose(0, 2, 3, 1).flags.c_contiguous


def test_both_stride_1_input_gradients_are_exercised():
    from vggcli.engine.backends.img2col import turned_kernel_is_cheaper

    stride_1 = [c for c in CONV_CASES if c[6] == 1 and c[7] <= c[5] - 1]
    choices = {turned_kernel_is_cheaper(c[1], c[4], c[0] * c[2] * c[3]) for c in stride_1}
    assert choices == {True, False}
    # VGG19 at 224: col2im for conv1_1 (3→64) … conv3_1 (128→256), turned for conv4_1 (256→512)
    assert not turned_kernel_is_cheaper(3, 64, 224 * 224)
    assert not turned_kernel_is_cheaper(128, 256, 56 * 56)
    assert turned_kernel_is_cheaper(256, 512, 28 * 28)
    assert turned_kernel_is_cheaper(512, 512, 14 * 14)


@pytest.mark.parametrize("case", CONV_CASES, ids=[_conv_id(c) for c in CONV_CASES])
def test_img2col_in_row_bands_matches_torch(torch, monkeypatch, case):
    """Large images are processed a band of output rows at a time: force tiny bands."""
    from vggcli.engine.backends import img2col

    monkeypatch.setattr(img2col, "BAND_ELEMENTS", 8)
    monkeypatch.setattr(img2col, "MIN_BAND_POSITIONS", 3)
    assert len(img2col.row_bands(8, 3, 27)) == 8  # one row per band here
    test_conv_forward_and_backward_match_torch(torch, "img2col", case)
