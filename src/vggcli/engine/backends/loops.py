"""The lab manual's reference implementation: four nested loops over (n, c_out, h, w).

Each output element is one vectorised inner product between a K x K x Cin window of the padded
input and one filter (eq. 3.3); backward visits the same windows and accumulates eqs. 3.5–3.9.
It is slow on purpose: it is the definition, written so that it can be read against the manual
line by line, and the oracle the fast backend is tested against.
"""

from __future__ import annotations

import numpy as np

from vggcli.engine.backends.base import (
    Backend,
    ConvCache,
    PoolCache,
    Tick,
    check_conv_args,
    check_window,
    pad_nchw,
)


def _no_tick(units: int) -> None:
    pass


class LoopsBackend(Backend):
    name = "loops"
    description = (
        "the lab manual's reference: nested loops over (n, c_out, h, w), one inner product each"
    )

    def conv2d_forward(self, x, w, b, stride=1, pad=0, tick: Tick | None = None):
        check_conv_args(x, w, b, stride, pad)
        tick = tick or _no_tick
        n_images, cin, _, _ = x.shape
        _, k, _, cout = w.shape
        ho, wo = check_window(x.shape, k, stride, pad)
        xpad = pad_nchw(x, pad)
        y = np.empty((n_images, cout, ho, wo), dtype=np.result_type(x, w))
        for n in range(n_images):
            for co in range(cout):
                kernel = w[:, :, :, co]
                for h in range(ho):
                    for v in range(wo):
                        window = xpad[
                            n, :, h * stride : h * stride + k, v * stride : v * stride + k
                        ]
                        y[n, co, h, v] = np.sum(window * kernel) + b[co]
                tick(ho * wo * cin * k * k)
        return y, ConvCache(x, w, stride, pad)

    def conv2d_backward(self, dy, cache: ConvCache, *, param_grads=True, tick: Tick | None = None):
        tick = tick or _no_tick
        x, w, s, pad = cache.x, cache.w, cache.stride, cache.pad
        n_images, cout, ho, wo = dy.shape
        cin, k, _, _ = w.shape
        xpad = pad_nchw(x, pad)
        dxpad = np.zeros(xpad.shape, dtype=np.result_type(dy, w))
        dw = np.zeros(w.shape, dtype=np.result_type(dy, x)) if param_grads else None
        db = np.zeros(cout, dtype=dy.dtype) if param_grads else None
        for n in range(n_images):
            for co in range(cout):
                kernel = w[:, :, :, co]
                for h in range(ho):
                    for v in range(wo):
                        g = dy[n, co, h, v]
                        rows = slice(h * s, h * s + k)
                        cols = slice(v * s, v * s + k)
                        dxpad[n, :, rows, cols] += g * kernel
                        if param_grads:
                            dw[:, :, :, co] += g * xpad[n, :, rows, cols]
                            db[co] += g
                tick(ho * wo * cin * k * k)
        dx = dxpad[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]]  # crop (eq. 3.6)
        return np.ascontiguousarray(dx), dw, db

    def maxpool2d_forward(self, x, kernel=2, stride=2, tick: Tick | None = None):
        tick = tick or _no_tick
        n_images, channels, _, _ = x.shape
        ho, wo = check_window(x.shape, kernel, stride)
        y = np.empty((n_images, channels, ho, wo), dtype=x.dtype)
        for n in range(n_images):
            for c in range(channels):
                for h in range(ho):
                    for v in range(wo):
                        window = x[
                            n, c, h * stride : h * stride + kernel, v * stride : v * stride + kernel
                        ]
                        y[n, c, h, v] = np.max(window)
                tick(ho * wo * kernel * kernel)
        return y, PoolCache(x, y, kernel, stride)

    def maxpool2d_backward(self, dy, cache: PoolCache, tick: Tick | None = None):
        tick = tick or _no_tick
        x, k, s = cache.x, cache.kernel, cache.stride
        n_images, channels, ho, wo = dy.shape
        dx = np.zeros(x.shape, dtype=dy.dtype)
        for n in range(n_images):
            for c in range(channels):
                for h in range(ho):
                    for v in range(wo):
                        window = x[n, c, h * s : h * s + k, v * s : v * s + k]
                        qh, qw = np.unravel_index(np.argmax(window), window.shape)  # eq. 3.8
                        dx[n, c, h * s + qh, v * s + qw] += dy[n, c, h, v]  # eq. 3.9
                tick(ho * wo * k * k)
        return dx
