"""Random problems for one layer, for benchmarks and checks: a convolution or a max pooling
with its inputs and an upstream gradient, runnable on any backend (or torch's reference).

Both can be cut to their first k output channels (``sliced``): every output channel costs the
same, which lets a slow implementation be timed on a share of the work.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from vggcli.engine.vgg19 import Layer, layer_cost
from vggcli.errors import UsageError


@dataclass(frozen=True)
class ConvCase:
    """x [N, Cin, H, W], w [Cin, K, K, Cout], b [Cout], dy like y; sliceable over Cout."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    dy: np.ndarray
    stride: int
    pad: int

    @property
    def channels(self) -> int:
        return self.w.shape[3]

    @property
    def flops(self) -> int:
        return 2 * self.dy.size * int(np.prod(self.w.shape[:3]))

    def sliced(self, k: int) -> ConvCase:
        if k == self.channels:
            return self
        w = np.ascontiguousarray(self.w[..., :k])
        w.flags.writeable = False
        return replace(
            self,
            w=w,
            b=self.b[:k],
            dy=np.ascontiguousarray(self.dy[:, :k]),
        )

    def multiplications(self, impl) -> int:
        """The multiplications ``impl`` performs for the forward pass."""
        return impl.conv_multiplications(self.x.shape, self.w.shape, self.stride, self.pad)

    def run(self, impl, tick=None):
        """Forward then backward on ``impl``: (forward s, backward s, outputs by name)."""
        start = time.perf_counter()
        y, cache = impl.conv2d_forward(self.x, self.w, self.b, self.stride, self.pad, tick=tick)
        middle = time.perf_counter()
        dx, dw, db = impl.conv2d_backward(self.dy, cache, tick=tick)
        return middle - start, time.perf_counter() - middle, {"y": y, "dx": dx, "dw": dw, "db": db}


@dataclass(frozen=True)
class PoolCase:
    """x [N, C, H, W], dy like y; sliceable over C."""

    x: np.ndarray
    dy: np.ndarray
    kernel: int
    stride: int

    @property
    def channels(self) -> int:
        return self.x.shape[1]

    @property
    def flops(self) -> int:  # compared elements
        return self.dy.size * self.kernel**2

    def sliced(self, k: int) -> PoolCase:
        if k == self.channels:
            return self
        return replace(
            self, x=np.ascontiguousarray(self.x[:, :k]), dy=np.ascontiguousarray(self.dy[:, :k])
        )

    def multiplications(self, impl) -> None:
        """Max pooling multiplies nothing."""
        return None

    def run(self, impl, tick=None):
        """Forward then backward on ``impl``: (forward s, backward s, outputs by name)."""
        start = time.perf_counter()
        y, cache = impl.maxpool2d_forward(self.x, self.kernel, self.stride, tick=tick)
        middle = time.perf_counter()
        dx = impl.maxpool2d_backward(self.dy, cache, tick=tick)
        return middle - start, time.perf_counter() - middle, {"y": y, "dx": dx}


def conv_case(
    shape: tuple[int, ...], cout: int, kernel: int, stride: int, pad: int, seed: int = 0
) -> ConvCase:
    """Random float32 inputs (He-scaled weights) for one convolution."""
    out = layer_cost(Layer("conv", "conv", shape[1], cout, kernel, stride, pad), shape).out_shape
    if min(out) < 1:
        raise UsageError(f"a {kernel}x{kernel}/{stride} convolution does not fit {shape}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((shape[1], kernel, kernel, cout), dtype=np.float32)
    w *= np.float32(math.sqrt(2 / (shape[1] * kernel * kernel)))
    b = rng.standard_normal(cout, dtype=np.float32)
    w.flags.writeable = False  # as every network's weights: backends may keep what they derive
    return ConvCase(x, w, b, rng.standard_normal(out, dtype=np.float32), stride, pad)


def pool_case(shape: tuple[int, ...], kernel: int, stride: int, seed: int = 0) -> PoolCase:
    """Random float32 inputs for one max pooling."""
    out = layer_cost(Layer("pool", "pool", kernel=kernel, stride=stride), shape).out_shape
    if min(out) < 1:
        raise UsageError(f"a {kernel}x{kernel}/{stride} pooling does not fit {shape}")
    rng = np.random.default_rng(seed)
    return PoolCase(
        rng.standard_normal(shape, dtype=np.float32),
        rng.standard_normal(out, dtype=np.float32),
        kernel,
        stride,
    )
