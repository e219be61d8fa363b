"""im2col + GEMM: the loops backend's arithmetic, reorganised as matrix products.

Forward (eq. 3.3): copy every K x K x Cin window of the padded input into a column of ``col``
[Cin·K·K, Ho·Wo] (im2col), then Y = Wmat · col with Wmat = [Cout, Cin·K·K]: one GEMM whose
result is already in NCHW order. Backward (eqs. 3.5, 3.6): dcol = Wmatᵀ · dY, scattered back
onto the padded input by col2im (the adjoint of im2col); dW = col · dYᵀ and db = Σ dY when
asked for.

``col`` is nine times the size of the input (604 MB for conv1_2 of a 512x512 image), so it is
built for a band of output rows at a time: about 1M elements, but at least 2048 output
positions so that the GEMM keeps its efficiency. Up to 224x224 most layers are a single band,
one GEMM per layer; larger images need several, with a fraction of the memory and the same
speed or better (the band stays in cache). Bands live in a reusable workspace: fresh
allocations of that size cost page faults on every call.

Max pooling uses the same window view without copying it: the maximum over the K·K window
offsets is K·K vectorised ``maximum`` calls over strided slices, and backward routes each
gradient to the first offset (row-major, as numpy's argmax) that holds the maximum.

Everything stays in the input dtype (float32 in the engine). The forward keeps only x in its
cache; col is rebuilt in backward when dW is wanted.
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

BAND_ELEMENTS = 1 << 20  # elements of col per band …
MIN_BAND_COLUMNS = 2048  # … but never fewer output positions than this


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


def row_bands(ho: int, wo: int, rows_of_col: int) -> list[slice]:
    """Output rows in bands whose col matrix ([rows_of_col, rows·Wo]) has about
    :data:`BAND_ELEMENTS` elements and at least :data:`MIN_BAND_COLUMNS` columns."""
    columns = max(MIN_BAND_COLUMNS, BAND_ELEMENTS // rows_of_col)
    rows = max(1, min(ho, columns // wo))
    return [slice(r, min(ho, r + rows)) for r in range(0, ho, rows)]


def col2im(
    dcol: np.ndarray, dxpad: np.ndarray, kernel: int, stride: int, band: slice, wo: int
) -> None:
    """The adjoint of im2col for one image and one band of output rows: add dcol
    [C·K·K, rows·Wo] onto the padded input positions it was read from, dxpad [C, Hp, Wp]."""
    c = dxpad.shape[0]
    rows = band.stop - band.start
    dcol = dcol.reshape(c, kernel, kernel, rows, wo)
    for kh in range(kernel):
        for kw in range(kernel):
            dxpad[
                :,
                window_slice(band.start * stride + kh, stride, rows),
                window_slice(kw, stride, wo),
            ] += dcol[:, kh, kw]


class Img2colBackend(Backend):
    name = "img2col"
    summary = "im2col + GEMM (BLAS) per layer or band of rows, col2im for backward; float32"

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

    def _col(self, view: np.ndarray, band: slice) -> np.ndarray:
        """im2col of one image's band: col [C·K·K, rows·Wo], row (c, kh, kw), column (h, w)
        holding Xpad[c, h·s + kh, w·s + kw]. Lives in the workspace until the next call."""
        part = view[:, :, :, band, :]  # [C, K, K, rows, Wo]
        col = self._buffer("col", part.shape, part.dtype)
        np.copyto(col, part)
        c, k, _, rows, wo = part.shape
        return col.reshape(c * k * k, rows * wo)

    def conv2d_forward(self, x, w, b, stride=1, pad=0, tick: Tick | None = None):
        check_conv_args(x, w, b, stride, pad)
        cin, k, _, cout = w.shape
        ho, wo = check_window(x.shape, k, stride, pad)
        dtype = np.result_type(x, w)
        view = window_view(pad_nchw(x.astype(dtype, copy=False), pad), k, stride, ho, wo)
        wmat = w.astype(dtype, copy=False).reshape(cin * k * k, cout).T  # [Cout, Cin·K·K], a view
        y = np.empty((x.shape[0], cout, ho, wo), dtype=dtype)
        bands = row_bands(ho, wo, cin * k * k)
        for n in range(x.shape[0]):
            for band in bands:
                col = self._col(view[n], band)
                if len(bands) == 1:  # the whole image: write straight into y
                    np.matmul(wmat, col, out=y[n].reshape(cout, ho * wo))
                else:
                    out = self._buffer("out", (cout, col.shape[1]), dtype)
                    np.matmul(wmat, col, out=out)
                    y[n, :, band, :] = out.reshape(cout, -1, wo)
        y += b.astype(dtype, copy=False)[:, None, None]
        return y, ConvCache(x, w, stride, pad)

    def conv2d_backward(self, dy, cache: ConvCache, *, param_grads=True, tick: Tick | None = None):
        x, w, s, pad = cache.x, cache.w, cache.stride, cache.pad
        cin, k, _, cout = w.shape
        n_images, _, ho, wo = dy.shape
        dtype = np.result_type(dy, w, x)
        dy = dy.astype(dtype, copy=False)
        wmat = w.astype(dtype, copy=False).reshape(cin * k * k, cout)  # [Cin·K·K, Cout]
        h, wd = x.shape[2:]
        dxpad = np.zeros((n_images, cin, h + 2 * pad, wd + 2 * pad), dtype=dtype)
        dw = np.zeros((cin * k * k, cout), dtype=dtype) if param_grads else None
        view = window_view(pad_nchw(x.astype(dtype, copy=False), pad), k, s, ho, wo)
        for n in range(n_images):
            for band in row_bands(ho, wo, cin * k * k):
                dy_band = dy[n, :, band, :].reshape(cout, -1)  # [Cout, rows·Wo], a view
                dcol = self._buffer("dcol", (cin * k * k, dy_band.shape[1]), dtype)
                np.matmul(wmat, dy_band, out=dcol)
                col2im(dcol, dxpad[n], k, s, band, wo)
                if param_grads:
                    dw += self._col(view[n], band) @ dy_band.T
        dx = np.ascontiguousarray(dxpad[:, :, pad : pad + h, pad : pad + wd])
        if not param_grads:
            return dx, None, None
        return dx, dw.reshape(w.shape), dy.sum(axis=(0, 2, 3))

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
