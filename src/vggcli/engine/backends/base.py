"""The small interface every convolution backend implements, and what they share.

A backend computes the two layers whose cost dominates VGG19, convolution and max pooling,
forward and backward, in the CS231n style: ``forward`` returns the output and a cache, and
``backward`` takes the upstream gradient and that cache. Both backends keep the same caches
(inputs and outputs only), so any two can be checked against each other call by call.

Layouts (lab manual §3.1.2.1): feature maps NCHW; conv weights [Cin, K, K, Cout]; bias [Cout].
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vggcli.engine.vgg19 import conv_output_size

Tick = Callable[[int], None]
"""Progress callback, called with the work units just done: multiply-accumulates for a
convolution, compared elements for a pooling (:attr:`vggcli.engine.vgg19.LayerCost.work`).
Backends may report nothing; the network tops each layer up when it finishes."""


@dataclass(frozen=True)
class ConvCache:
    """What conv backward needs: the input x [N, Cin, H, W], weights [Cin, K, K, Cout], geometry."""

    x: np.ndarray
    w: np.ndarray
    stride: int
    pad: int


@dataclass(frozen=True)
class PoolCache:
    """What max-pool backward needs: input x [N, C, H, W], output y [N, C, Ho, Wo], geometry."""

    x: np.ndarray
    y: np.ndarray
    kernel: int
    stride: int


class Backend(ABC):
    """Convolution and max pooling, forward and backward (manual eqs. 3.1–3.9)."""

    name: ClassVar[str]  # what --backend calls it
    description: ClassVar[str]  # one line for --help and reports: how it computes

    def conv_multiplications(
        self, x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: int, pad: int
    ) -> int:
        """Multiplications one forward convolution performs: the formula's N·Ho·Wo·Cin·K·K·Cout
        (eq. 3.3); a backend with a faster algorithm reports its own count."""
        cin, k, _, cout = w_shape
        ho = conv_output_size(x_shape[2], k, stride, pad)
        wo = conv_output_size(x_shape[3], k, stride, pad)
        return x_shape[0] * ho * wo * cin * k * k * cout

    @abstractmethod
    def conv2d_forward(
        self,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray,
        stride: int = 1,
        pad: int = 0,
        tick: Tick | None = None,
    ) -> tuple[np.ndarray, ConvCache]:
        """Y[n,co,h,w] = Σ_{ci,kh,kw} W[ci,kh,kw,co]·Xpad[n,ci,h·s+kh,w·s+kw] + b[co] (eq. 3.3).

        x [N, Cin, H, W], w [Cin, K, K, Cout], b [Cout] → y [N, Cout, Ho, Wo], cache.
        """

    @abstractmethod
    def conv2d_backward(
        self,
        dy: np.ndarray,
        cache: ConvCache,
        *,
        param_grads: bool = True,
        tick: Tick | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """dy [N, Cout, Ho, Wo] → dx [N, Cin, H, W], dW [Cin, K, K, Cout], db [Cout] (eqs. 3.5-3.6).

        With ``param_grads=False`` only dx is computed (style transfer needs no dW, db) and the
        other two are None.
        """

    @abstractmethod
    def maxpool2d_forward(
        self, x: np.ndarray, kernel: int = 2, stride: int = 2, tick: Tick | None = None
    ) -> tuple[np.ndarray, PoolCache]:
        """Y[n,c,h,w] = max_{kh,kw} X[n,c,h·s+kh,w·s+kw] (eq. 3.7), no padding, floor."""

    @abstractmethod
    def maxpool2d_backward(
        self, dy: np.ndarray, cache: PoolCache, tick: Tick | None = None
    ) -> np.ndarray:
        """Route each dY to the first maximum of its window, row-major (eqs. 3.8, 3.9)."""


def check_conv_args(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> None:
    """Raise ValueError when the shapes or the geometry of a convolution do not fit."""
    if x.ndim != 4 or w.ndim != 4 or b.ndim != 1:
        raise ValueError(
            f"conv2d wants x NCHW, w [Cin,K,K,Cout], b [Cout]; got {x.shape}, {w.shape}, {b.shape}"
        )
    cin, kh, kw, cout = w.shape
    if kh != kw:
        raise ValueError(f"conv2d wants square kernels, got {kh}x{kw}")
    if x.shape[1] != cin or b.shape[0] != cout:
        raise ValueError(f"conv2d shapes do not fit: x {x.shape}, w {w.shape}, b {b.shape}")
    if stride < 1 or pad < 0:
        raise ValueError(f"conv2d wants stride >= 1 and pad >= 0, got {stride}, {pad}")
    check_window(x.shape, kh, stride, pad)


def check_window(
    x_shape: tuple[int, ...], kernel: int, stride: int, pad: int = 0
) -> tuple[int, int]:
    """(Ho, Wo) of a kernel x kernel window sliding over x_shape; ValueError when empty."""
    h, w = x_shape[2], x_shape[3]
    ho = conv_output_size(h, kernel, stride, pad)
    wo = conv_output_size(w, kernel, stride, pad)
    if ho < 1 or wo < 1 or kernel < 1 or stride < 1:
        raise ValueError(
            f"a {kernel}x{kernel}/stride {stride}/pad {pad} window does not fit a {h}x{w} input"
        )
    return ho, wo


def pad_nchw(x: np.ndarray, pad: int) -> np.ndarray:
    """Xpad: ``pad`` rows and columns of zeros around H and W (eq. 3.1)."""
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def window_slice(offset: int, stride: int, count: int) -> slice:
    """The positions offset, offset+stride, …, that window element ``offset`` visits."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)
