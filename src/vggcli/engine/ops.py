"""Layers every backend shares: ReLU, MatConvNet flatten, fully connected, softmax, and the
average pooling that style transfer may use instead of max pooling.

These are one matrix product or one elementwise pass each, so there is nothing for a backend to
do differently; convolution and pooling, where the loops-versus-GEMM question lives, are in
:mod:`vggcli.engine.backends`. Every function keeps the dtype of its inputs, so the same code
runs the float32 engine and the float64 gradient checks.
"""

from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """y = max(x, 0). With ``inplace`` the result overwrites ``x``."""
    return np.maximum(x, 0, out=x if inplace else None)


def relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dx = dy where the output was positive, else 0 (y > 0 exactly where x > 0)."""
    return dy * (y > 0)  # several times faster than np.where with a scalar


def flatten_forward(x: np.ndarray) -> np.ndarray:
    """[N, C, H, W] → [N, H·W·C] in MatConvNet's order: transpose to NHWC, then reshape.

    MatConvNet stores feature maps as H x W x C, and fc6's rows follow that order.
    """
    n = x.shape[0]
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n, -1)


def flatten_backward(dy: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
    """The inverse permutation of :func:`flatten_forward`: [N, H·W·C] → [N, C, H, W]."""
    n, c, h, w = in_shape
    return np.ascontiguousarray(dy.reshape(n, h, w, c).transpose(0, 3, 1, 2))


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = x·W + b with x [N, in], W [in, out], b [out]."""
    return x @ w + b


def linear_backward(
    dy: np.ndarray, x: np.ndarray, w: np.ndarray, param_grads: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """dx = dy·Wᵀ [N, in]; dW = xᵀ·dy [in, out]; db = Σ_n dy [out] (None, None without
    ``param_grads``: dW of fc6 alone is 400 MB)."""
    dx = dy @ w.T
    if not param_grads:
        return dx, None, None
    return dx, x.T @ dy, dy.sum(axis=0)


def softmax_forward(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of [N, K] scores, stable: the row maximum is subtracted first."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dz = y ⊙ (dy − Σ_k dy_k·y_k), the Jacobian-vector product of softmax."""
    return y * (dy - (dy * y).sum(axis=1, keepdims=True))


def avgpool_forward(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Y[n,c,h,w] = mean of the K x K window at (h·s, w·s) (no padding, floor): the pooling
    Gatys et al. recommend for image synthesis. Keeps x's memory order."""
    ho = (x.shape[2] - kernel) // stride + 1
    wo = (x.shape[3] - kernel) // stride + 1
    y = None
    for kh in range(kernel):
        for kw in range(kernel):
            part = x[
                :,
                :,
                kh : kh + stride * (ho - 1) + 1 : stride,
                kw : kw + stride * (wo - 1) + 1 : stride,
            ]
            if y is None:
                y = part.copy(order="K")
            else:
                y += part
    y *= np.asarray(1 / (kernel * kernel), dtype=y.dtype)
    return y


def avgpool_backward(
    dy: np.ndarray, x_shape: tuple[int, ...], kernel: int, stride: int
) -> np.ndarray:
    """dx: each window's dy/(K·K) added to the K x K positions it averaged."""
    dx = np.zeros(x_shape, dtype=dy.dtype)
    ho, wo = dy.shape[2:]
    share = dy * np.asarray(1 / (kernel * kernel), dtype=dy.dtype)
    for kh in range(kernel):
        for kw in range(kernel):
            dx[
                :,
                :,
                kh : kh + stride * (ho - 1) + 1 : stride,
                kw : kw + stride * (wo - 1) + 1 : stride,
            ] += share
    return dx
