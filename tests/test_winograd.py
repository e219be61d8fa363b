"""The winograd backend on the shapes where F(4x4, 3x3) runs, against PyTorch (float64 oracle).

The generic layer tests (test_layers_vs_torch.py) run every backend on few channels, where
winograd hands over to img2col; here the channels are wide enough for the Winograd path itself:
odd H and W (not multiples of 4), batch 2, Cin 16 and 512, pad 0, 1 and 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import rel_error
from vggcli.engine.backends.img2col import Img2colBackend
from vggcli.engine.backends.winograd import WinogradBackend, applies, winograd_pays
from vggcli.measure.layer_checks import check_backend

# (N, Cin, H, W, Cout, pad)
CASES = [
    (1, 16, 7, 9, 16, 1),
    (2, 16, 10, 13, 24, 1),
    (2, 512, 9, 11, 32, 1),
    (1, 32, 5, 6, 512, 1),
    (1, 16, 6, 7, 16, 0),
    (2, 16, 6, 7, 20, 2),
    (1, 64, 33, 17, 64, 1),
]


def _read_only(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(
    "case", CASES, ids=[f"N{c[0]}-{c[1]}x{c[2]}x{c[3]}-to{c[4]}-p{c[5]}" for c in CASES]
)
def test_forward_and_input_gradient_match_torch(torch, case):
    n, cin, h, w, cout, pad = case
    assert applies((cin, 3, 3, cout), 1, pad) and winograd_pays(cin, cout)
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    weight = _read_only(rng.standard_normal((cin, 3, 3, cout)).astype(np.float32))
    bias = rng.standard_normal(cout).astype(np.float32)
    backend = WinogradBackend()
    y, cache = backend.conv2d_forward(x, weight, bias, 1, pad)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = backend.conv2d_backward(dy, cache)

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(weight.transpose(3, 0, 1, 2), dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(bias, dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, 1, pad)
    yt.backward(torch.tensor(dy, dtype=torch.float64))
    assert y.dtype == dx.dtype == np.float32
    assert rel_error(y, yt.detach().numpy()) <= 1e-4
    assert rel_error(dx, xt.grad.numpy()) <= 1e-4
    assert rel_error(dw, wt.grad.numpy().transpose(1, 2, 3, 0)) <= 1e-4
    assert rel_error(db, bt.grad.numpy()) <= 1e-4


def test_float32_error_is_that_of_the_tiling_not_of_a_bug():
    """F(4x4, 3x3) in float32 stays within about 1e-5 of the float64 result on VGG19-like
    inputs (docs/winograd.md): larger than one GEMM's rounding, well inside the 1e-4 that
    every backend is held to."""
    rng = np.random.default_rng(3)
    x = np.maximum(rng.standard_normal((1, 256, 28, 28)), 0).astype(np.float32) * 30
    w = _read_only((rng.standard_normal((256, 3, 3, 256)) * np.sqrt(2 / 2304)).astype(np.float32))
    b = np.zeros(256, np.float32)
    exact = Img2colBackend().conv2d_forward(x.astype(np.float64), w.astype(np.float64), b, 1, 1)[0]
    ours = WinogradBackend().conv2d_forward(x, w, b, 1, 1)[0]
    gemm = Img2colBackend().conv2d_forward(x, w, b, 1, 1)[0]
    assert rel_error(gemm, exact) < rel_error(ours, exact) <= 3e-5


def test_filter_transforms_are_kept_per_read_only_weight_array():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 16, 8, 8)).astype(np.float32)
    w = _read_only(rng.standard_normal((16, 3, 3, 16)).astype(np.float32))
    b = np.zeros(16, np.float32)
    backend = WinogradBackend()
    once = backend._transform(w, np.float32, turned=False)  # a single pass keeps nothing
    first = backend._transform(w, np.float32, turned=False)  # kept from the second use
    assert first is not once and np.array_equal(first, once)
    assert backend._transform(w, np.float32, turned=False) is first
    assert backend._transform(w, np.float32, turned=True) is not first  # dX has its own
    assert len(backend._transforms) == 2
    y1 = backend.conv2d_forward(x, w, b, 1, 1)[0]
    writable = w.copy()  # a writable array may change: its transform is never kept
    y2 = backend.conv2d_forward(x, writable, b, 1, 1)[0]
    writable *= 2
    y3 = backend.conv2d_forward(x, writable, b, 1, 1)[0]
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(y3, 2 * y2, rtol=1e-5, atol=1e-4)
    del w, first
    assert not backend._transforms  # forgotten with the array


def test_fallbacks_and_the_multiplications_it_performs():
    backend = WinogradBackend()
    assert not applies((16, 3, 3, 16), 2, 1) and not applies((16, 5, 5, 16), 1, 2)
    assert not winograd_pays(3, 64) and not winograd_pays(64, 3)  # conv1_1 and its dX
    direct = Img2colBackend().conv_multiplications((1, 64, 56, 56), (64, 3, 3, 64), 1, 1)
    assert backend.conv_multiplications((1, 64, 56, 56), (64, 3, 3, 64), 1, 1) * 4 == direct
    assert backend.conv_multiplications((1, 3, 56, 56), (3, 3, 3, 64), 1, 1) == (
        Img2colBackend().conv_multiplications((1, 3, 56, 56), (3, 3, 3, 64), 1, 1)
    )
    # 14x14 outputs: 4x4 tiles of which the last row and column are half used
    assert backend.conv_multiplications((1, 512, 14, 14), (512, 3, 3, 512), 1, 1) == (
        16 * 36 * 512 * 512
    )


def test_vgg_check_passes_for_winograd_on_its_own_path():
    checks, _ = check_backend("winograd")
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    names = [c.name for c in checks]
    assert any("2x16x9x7→16 k3 s1 p1" in n for n in names)  # Winograd's own path, forward
    assert any(n.startswith("conv 16→16 3x3/1/pad 1 dx") for n in names)  # and dX
