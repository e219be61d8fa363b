"""Analytic gradients against central differences in float64, for every backend.

The loss is L = Σ y ⊙ g for a fixed random g, so dL/dy = g and the backward pass under test
must return dL/dx (and dW, db).
"""

from __future__ import annotations

import numpy as np
import pytest

from vggcli.engine import ops
from vggcli.engine.backends import BACKENDS
from vggcli.measure.gradcheck import numeric_gradient, relative_error

TOL = 1e-6


def test_numeric_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    grad = numeric_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)
    assert x.tolist() == [[1.0, -2.0], [3.0, 0.5]]  # restored


def test_relative_error():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0, 2.5], [1.0, 2.0]) == pytest.approx(0.25)
    assert relative_error([0.0], [0.0]) == 0.0


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("k,stride,pad", [(3, 1, 1), (3, 2, 0), (2, 1, 2), (1, 1, 0)])
def test_conv_gradients(backend, k, stride, pad):
    rng = np.random.default_rng(k * 10 + stride + pad)
    engine = BACKENDS[backend]()
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((3, k, k, 2))
    b = rng.standard_normal(2)
    y, cache = engine.conv2d_forward(x, w, b, stride=stride, pad=pad)
    g = rng.standard_normal(y.shape)
    dx, dw, db = engine.conv2d_backward(g, cache)

    def loss():
        return float(np.sum(engine.conv2d_forward(x, w, b, stride=stride, pad=pad)[0] * g))

    assert dx.dtype == np.float64
    assert relative_error(dx, numeric_gradient(loss, x)) < TOL
    assert relative_error(dw, numeric_gradient(loss, w)) < TOL
    assert relative_error(db, numeric_gradient(loss, b)) < TOL


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("k,stride", [(2, 2), (3, 2), (2, 1), (2, 3)])
def test_maxpool_gradients(backend, k, stride):
    rng = np.random.default_rng(k + stride)
    engine = BACKENDS[backend]()
    x = rng.standard_normal((2, 2, 6, 7))
    y, cache = engine.maxpool2d_forward(x, kernel=k, stride=stride)
    g = rng.standard_normal(y.shape)
    dx = engine.maxpool2d_backward(g, cache)

    def loss():
        return float(np.sum(engine.maxpool2d_forward(x, kernel=k, stride=stride)[0] * g))

    assert relative_error(dx, numeric_gradient(loss, x)) < TOL


def test_fully_connected_gradients():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 6)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    g = rng.standard_normal((3, 4))
    dx, dw, db = ops.linear_backward(g, x, w)

    def loss():
        return float(np.sum(ops.linear_forward(x, w, b) * g))

    for analytic, wrt in ((dx, x), (dw, w), (db, b)):
        assert relative_error(analytic, numeric_gradient(loss, wrt)) < TOL


def test_relu_and_softmax_gradients():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5))
    g = rng.standard_normal((2, 5))

    def relu_loss():
        return float(np.sum(ops.relu_forward(x) * g))

    def softmax_loss():
        return float(np.sum(ops.softmax_forward(x) * g))

    assert (
        relative_error(ops.relu_backward(g, ops.relu_forward(x)), numeric_gradient(relu_loss, x))
        < TOL
    )
    y = ops.softmax_forward(x)
    assert relative_error(ops.softmax_backward(g, y), numeric_gradient(softmax_loss, x)) < TOL
