"""im2col + GEMM: the loops backend's arithmetic, reorganised as one matrix product per layer.

Forward (eq. 3.3): copy every K x K x Cin window of the padded input into a column of
``col`` [N, Cin·K·K, Ho·Wo] (im2col), then Y = Wmat · col with Wmat = [Cout, Cin·K·K], a single
GEMM that lands directly in NCHW order. Backward (eqs. 3.5, 3.6): dcol = Wmatᵀ · dY, scattered
back onto the padded input by col2im; dW = col · dYᵀ and db = Σ dY when asked for.

Max pooling takes the same window view without copying it: the maximum over the K·K window
offsets is K·K vectorised ``maximum`` calls over strided slices, and backward routes each
gradient to the first offset (row-major, as numpy's argmax) that holds the maximum.

Everything stays in the input dtype (float32 in the engine). The forward keeps only x in its
cache; ``col``, nine times larger, is rebuilt in backward when dW is wanted and lives in a
reusable workspace, because fresh allocations of that size cost page faults on every call.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vggcli.backends.base import (
    Backend,
    ConvCache,
    PoolCache,
    Tick,
    check_conv_args,
    check_window,
    pad_nchw,
    window_slice,
)


def window_view(xpad: np.ndarray, kernel: int, stride: int, ho: int, wo: int) -> np.ndarray:
    """A read-only view [N, C, K, K, Ho, Wo] of xpad [N, C, Hp, Wp]: element
    (n, c, kh, kw, h, w) is xpad[n, c, h·stride + kh, w·stride + kw]. No data is copied."""
    sn, sc, sh, sw = xpad.strides
    n, c = xpad.shape[:2]
    return as_strided(
        xpad,
        shape=(n, c, kernel, kernel, ho, wo),
        strides=(sn, sc, sh, sw, sh * stride, sw * stride),
        writeable=False,
    )


def col2im(
    dcol: np.ndarray, x_shape: tuple[int, ...], kernel: int, stride: int, pad: int
) -> np.ndarray:
    """Adjoint of im2col: dcol [N, C·K·K, Ho·Wo] summed back onto x's positions → [N, C, H, W]."""
    n, c, h, w = x_shape
    ho, wo = check_window(x_shape, kernel, stride, pad)
    dcol = dcol.reshape(n, c, kernel, kernel, ho, wo)
    dxpad = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcol.dtype)
    for kh in range(kernel):
        for kw in range(kernel):
            dxpad[:, :, window_slice(kh, stride, ho), window_slice(kw, stride, wo)] += dcol[
                :, :, kh, kw
            ]
    return np.ascontiguousarray(dxpad[:, :, pad : pad + h, pad : pad + w])


class Img2colBackend(Backend):
    name = "img2col"
    summary = "im2col + one GEMM per layer (BLAS), col2im for backward; float32"

    def __init__(self) -> None:
        self._workspace: dict[str, np.ndarray] = {}

    def _buffer(self, slot: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A scratch array of ``shape``, reused across calls (grown when too small)."""
        size = int(np.prod(shape))
        buf = self._workspace.get(slot)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = np.empty(size, dtype=dtype)
            self._workspace[slot] = buf
        return buf[:size].reshape(shape)

    def im2col(self, x: np.ndarray, kernel: int, stride: int, pad: int) -> np.ndarray:
        """col [N, C·K·K, Ho·Wo]: row (c, kh, kw), column (h, w) holds Xpad[n, c, h·s+kh, w·s+kw].

        The result lives in this backend's workspace: it is valid until the next im2col.
        """
        n, c = x.shape[:2]
        ho, wo = check_window(x.shape, kernel, stride, pad)
        view = window_view(pad_nchw(x, pad), kernel, stride, ho, wo)
        col = self._buffer("col", view.shape, x.dtype)
        np.copyto(col, view)
        return col.reshape(n, c * kernel * kernel, ho * wo)

    def conv2d_forward(self, x, w, b, stride=1, pad=0, tick: Tick | None = None):
        check_conv_args(x, w, b, stride, pad)
        cin, k, _, cout = w.shape
        ho, wo = check_window(x.shape, k, stride, pad)
        dtype = np.result_type(x, w)
        col = self.im2col(x.astype(dtype, copy=False), k, stride, pad)
        wmat = w.astype(dtype, copy=False).reshape(cin * k * k, cout).T  # [Cout, Cin·K·K], a view
        y = np.matmul(wmat, col)  # [N, Cout, Ho·Wo]
        y += b.astype(dtype, copy=False)[:, None]
        return y.reshape(x.shape[0], cout, ho, wo), ConvCache(x, w, stride, pad)

    def conv2d_backward(self, dy, cache: ConvCache, *, param_grads=True, tick: Tick | None = None):
        x, w, s, pad = cache.x, cache.w, cache.stride, cache.pad
        cin, k, _, cout = w.shape
        n = dy.shape[0]
        dtype = np.result_type(dy, w, x)
        dy2 = dy.astype(dtype, copy=False).reshape(n, cout, -1)  # [N, Cout, Ho·Wo]
        wmat = w.astype(dtype, copy=False).reshape(cin * k * k, cout)  # [Cin·K·K, Cout]
        dcol = np.matmul(wmat, dy2, out=self._buffer("dcol", (n, cin * k * k, dy2.shape[2]), dtype))
        dx = col2im(dcol, x.shape, k, s, pad)
        if not param_grads:
            return dx, None, None
        col = self.im2col(x.astype(dtype, copy=False), k, s, pad)
        dw = sum(col[i] @ dy2[i].T for i in range(n))  # [Cin·K·K, Cout]
        db = dy2.sum(axis=(0, 2))
        return dx, dw.reshape(w.shape), db

    def maxpool2d_forward(self, x, kernel=2, stride=2, tick: Tick | None = None):
        ho, wo = check_window(x.shape, kernel, stride)
        y = None
        for kh in range(kernel):
            for kw in range(kernel):
                part = x[:, :, window_slice(kh, stride, ho), window_slice(kw, stride, wo)]
                if y is None:
                    y = part.copy()
                else:
                    np.maximum(y, part, out=y)
        return y, PoolCache(x, y, kernel, stride)

    def maxpool2d_backward(self, dy, cache: PoolCache, tick: Tick | None = None):
        x, y, k, s = cache.x, cache.y, cache.kernel, cache.stride
        ho, wo = y.shape[2:]
        dx = np.zeros(x.shape, dtype=dy.dtype)
        routed = np.zeros(y.shape, dtype=bool)  # windows whose maximum was already found
        first_max = np.empty(y.shape, dtype=bool)
        for kh in range(k):
            for kw in range(k):
                rows, cols = window_slice(kh, s, ho), window_slice(kw, s, wo)
                np.equal(x[:, :, rows, cols], y, out=first_max)
                np.greater(first_max, routed, out=first_max)  # equal here, not before
                routed |= first_max
                if k <= s:  # windows do not overlap: each position is written once
                    np.multiply(dy, first_max, out=dx[:, :, rows, cols])
                else:
                    dx[:, :, rows, cols] += dy * first_max
        return dx
