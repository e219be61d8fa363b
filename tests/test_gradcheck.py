"""Analytic gradients against central differences in float64, for every backend.

The checks are the library's own (:mod:`vggcli.measure.gradient_checks`, what ``vgg check``
runs), on more geometries here. The loss is L = Σ y ⊙ g for a fixed random g, so dL/dy = g and
the backward pass under test must return dL/dx (and dW, db).
"""

from __future__ import annotations

import numpy as np
import pytest

from vggcli.engine.backends import BACKENDS
from vggcli.engine.backends.img2col import Img2colBackend
from vggcli.measure.gradcheck import numeric_gradient, relative_error
from vggcli.measure.gradient_checks import (
    GRADIENT_TOL,
    conv_gradient_checks,
    pool_gradient_checks,
    shared_gradient_checks,
)


def test_numeric_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    grad = numeric_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)
    assert x.tolist() == [[1.0, -2.0], [3.0, 0.5]]  # restored


def test_relative_error():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0, 2.5], [1.0, 2.0]) == pytest.approx(0.25)
    assert relative_error([0.0], [0.0]) == 0.0


def _assert_all_pass(checks, count):
    assert len(checks) == count
    for c in checks:
        assert c.tolerance == GRADIENT_TOL
        assert c.max_rel_error < 1e-6, c  # far inside the tolerance that vgg check states


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("k,stride,pad", [(3, 1, 1), (3, 2, 0), (2, 1, 2), (1, 1, 0)])
def test_conv_gradients(backend, k, stride, pad):
    rng = np.random.default_rng(k * 10 + stride + pad)
    _assert_all_pass(conv_gradient_checks(BACKENDS[backend](), k, stride, pad, rng), 3)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("k,stride", [(2, 2), (3, 2), (2, 1), (2, 3)])
def test_maxpool_gradients(backend, k, stride):
    rng = np.random.default_rng(k + stride)
    _assert_all_pass(pool_gradient_checks(BACKENDS[backend](), k, stride, rng), 1)


def test_shared_layers_and_losses_gradients():
    checks = shared_gradient_checks(np.random.default_rng(5))
    assert [c.name.removesuffix(" vs central differences") for c in checks] == [
        "fully connected dx",
        "fully connected dw",
        "fully connected db",
        "relu dx",
        "softmax dx",
        "content loss dX",
        "style loss dX",
        "total variation dX",
    ]
    _assert_all_pass(checks, 8)


def test_the_checks_catch_a_wrong_gradient():
    """A backend whose dW is off by 1% fails the dw check, and only it."""

    class Broken(Img2colBackend):
        def conv2d_backward(self, dy, cache, *, param_grads=True, tick=None):
            dx, dw, db = super().conv2d_backward(dy, cache, param_grads=param_grads)
            return dx, dw * 1.01, db

    checks = conv_gradient_checks(Broken(), 3, 1, 1, np.random.default_rng(0))
    assert [c.passed for c in checks] == [True, False, True]
