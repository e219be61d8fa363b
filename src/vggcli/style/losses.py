"""Style-transfer losses (lab manual §3.3.2, eqs. 3.10–3.15) as forward/backward pairs.

Feature maps are NCHW. Every function returns ``(loss, gradient)``: the loss as a Python float
(summed in float64), the gradient with respect to the first argument in its dtype and, for the
Gram matrix, in its memory order: the img2col backend's maps are channels-last in memory
(see :mod:`vggcli.engine.backends.img2col`), where the [H·W, C] matrix of a map is a free view.
"""

from __future__ import annotations

import numpy as np


def content_loss(x: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """L = 1/(2NCHW) Σ (X − Y)² (eq. 3.10); ∇X = (X − Y)/(NCHW) (eq. 3.11)."""
    diff = x - target
    loss = float(np.sum(np.square(diff, dtype=np.float64))) / (2 * x.size)
    return loss, diff / np.asarray(x.size, dtype=x.dtype)


def pixel_rows(x: np.ndarray) -> np.ndarray:
    """F [N, H·W, C] with F[n, h·W + w, c] = X[n, c, h, w]: a view when x is channels-last in
    memory, a copy otherwise."""
    n, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(n, h * w, c)


def gram(x: np.ndarray) -> np.ndarray:
    """G[n, i, j] = Σ_{h,w} X[n, i, h, w]·X[n, j, h, w] (eq. 3.12): [N, C, H, W] → [N, C, C]."""
    f = pixel_rows(x)
    return f.transpose(0, 2, 1) @ f


def style_loss(x: np.ndarray, target_gram: np.ndarray) -> tuple[float, np.ndarray]:
    """L = 1/(4NC²H²W²) Σ (G − A)² (eq. 3.13) with G = gram(X), A = ``target_gram``;
    ∇X[n,i,h,w] = 1/(NC²H²W²) Σ_j X[n,j,h,w]·(G − A)[n,j,i] (eq. 3.15)."""
    n, c, h, w = x.shape
    f = pixel_rows(x)
    diff = gram(x) - target_gram  # G − A, symmetric
    scale = float(n) * c * c * (h * w) ** 2
    loss = float(np.sum(np.square(diff, dtype=np.float64))) / (4 * scale)
    grad = f @ (diff / np.asarray(scale, dtype=x.dtype))  # [N, H·W, C]: F·(G − A)
    return loss, grad.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def tv_loss(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Total variation: L = 1/(NCHW) Σ [(x[h+1,w] − x[h,w])² + (x[h,w+1] − x[h,w])²].

    Smooths the image; 0 for a constant image. Not part of the manual's objective (weight 0
    there).
    """
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    loss = np.sum(np.square(dh, dtype=np.float64)) + np.sum(np.square(dw, dtype=np.float64))
    grad = np.zeros_like(x)
    grad[:, :, 1:, :] += dh
    grad[:, :, :-1, :] -= dh
    grad[:, :, :, 1:] += dw
    grad[:, :, :, :-1] -= dw
    return float(loss) / x.size, grad * np.asarray(2.0 / x.size, dtype=x.dtype)
