"""Analytic gradients against float64 central differences for conv, pool, fully connected,
ReLU, softmax and the style-transfer losses: the check that needs no known-good output (lab
manual §3.3.7, question 3)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vggcli.engine import ops
from vggcli.engine.backends.base import Backend
from vggcli.measure.gradcheck import Check, numeric_gradient, relative_error
from vggcli.style import losses

GRADIENT_TOL = 1e-5


def _grad_check(name: str, loss: Callable[[], float], analytic: np.ndarray, wrt: np.ndarray):
    return Check(
        f"{name} vs central differences",
        relative_error(analytic, numeric_gradient(loss, wrt)),
        GRADIENT_TOL,
    )


def gradient_checks(backend: Backend) -> list[Check]:
    """Every backward pass of ``backend`` and of the shared layers and losses, numerically."""
    rng = np.random.default_rng(1)
    return (
        conv_gradient_checks(backend, 3, 2, 1, rng)
        + conv_gradient_checks(backend, 3, 1, 1, rng, channels=(16, 16))
        + pool_gradient_checks(backend, 3, 2, rng)
        + shared_gradient_checks(rng)
    )


def conv_gradient_checks(
    backend: Backend,
    kernel: int,
    stride: int,
    pad: int,
    rng: np.random.Generator,
    channels: tuple[int, int] = (3, 2),
) -> list[Check]:
    """dx, dW, db of one float64 convolution x [2, Cin, 5, 6] → Cout channels, for
    L = Σ y ⊙ g."""
    cin, cout = channels
    x = rng.standard_normal((2, cin, 5, 6))
    w = rng.standard_normal((cin, kernel, kernel, cout))
    b = rng.standard_normal(cout)
    y, cache = backend.conv2d_forward(x, w, b, stride, pad)
    g = rng.standard_normal(y.shape)
    dx, dw, db = backend.conv2d_backward(g, cache)

    def conv_loss():
        return float(np.sum(backend.conv2d_forward(x, w, b, stride, pad)[0] * g))

    where = f"conv {cin}→{cout} {kernel}x{kernel}/{stride}/pad {pad}"
    return [
        _grad_check(f"{where} {what}", conv_loss, analytic, wrt)
        for what, analytic, wrt in (("dx", dx, x), ("dw", dw, w), ("db", db, b))
    ]


def pool_gradient_checks(
    backend: Backend, kernel: int, stride: int, rng: np.random.Generator
) -> list[Check]:
    """dx of one float64 max pooling of x [2, 2, 6, 7], for L = Σ y ⊙ g."""
    xp = rng.standard_normal((2, 2, 6, 7))
    y, cache = backend.maxpool2d_forward(xp, kernel, stride)
    g = rng.standard_normal(y.shape)
    return [
        _grad_check(
            f"maxpool {kernel}x{kernel}/{stride} dx",
            lambda: float(np.sum(backend.maxpool2d_forward(xp, kernel, stride)[0] * g)),
            backend.maxpool2d_backward(g, cache),
            xp,
        )
    ]


def shared_gradient_checks(rng: np.random.Generator) -> list[Check]:
    """The layers every backend shares (fc, ReLU, softmax) and the style-transfer losses."""
    checks = []
    xf, wf, bf = rng.standard_normal((3, 6)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    g = rng.standard_normal((3, 4))
    fdx, fdw, fdb = ops.linear_backward(g, xf, wf)

    def fc_loss():
        return float(np.sum(ops.linear_forward(xf, wf, bf) * g))

    checks += [
        _grad_check(f"fully connected {what}", fc_loss, analytic, wrt)
        for what, analytic, wrt in (("dx", fdx, xf), ("dw", fdw, wf), ("db", fdb, bf))
    ]

    z, g = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    checks.append(
        _grad_check(
            "relu dx",
            lambda: float(np.sum(ops.relu_forward(z) * g)),
            ops.relu_backward(g, ops.relu_forward(z)),
            z,
        )
    )
    checks.append(
        _grad_check(
            "softmax dx",
            lambda: float(np.sum(ops.softmax_forward(z) * g)),
            ops.softmax_backward(g, ops.softmax_forward(z)),
            z,
        )
    )

    feats, target = rng.standard_normal((1, 4, 3, 5)), rng.standard_normal((1, 4, 3, 5))
    checks.append(
        _grad_check(
            "content loss dX",
            lambda: losses.content_loss(feats, target)[0],
            losses.content_loss(feats, target)[1],
            feats,
        )
    )
    gram = losses.gram(rng.standard_normal((1, 4, 3, 5)))
    checks.append(
        _grad_check(
            "style loss dX",
            lambda: losses.style_loss(feats, gram)[0],
            losses.style_loss(feats, gram)[1],
            feats,
        )
    )
    checks.append(
        _grad_check(
            "total variation dX", lambda: losses.tv_loss(feats)[0], losses.tv_loss(feats)[1], feats
        )
    )
    return checks
