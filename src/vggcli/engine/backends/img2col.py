"""im2col + GEMM on channels-last memory: the loops backend's arithmetic as matrix products.

Arrays keep the engine's logical NCHW shape, but this backend stores its outputs channels-last
(memory order N, H, W, C, as PyTorch's ``channels_last`` format): ``y`` is a [N, C, H, W] view
of an [N, H, W, C] array. Every numpy operation reads such a view correctly; the point is that
``x.transpose(0, 2, 3, 1)`` is then free, and in that order the K x K x Cin window of an output
position is K·K runs of Cin contiguous numbers.

Forward (eq. 3.3): copy the windows of a band of output rows into ``col``
[positions, K·K·Cin] (im2col, columns ordered kh, kw, ci), then one GEMM
``col · Wmat`` with Wmat = [K·K·Cin, Cout] writes [positions, Cout] straight into the
channels-last output; the bias is added while the band is still in cache. Bands hold about
:data:`BAND_ELEMENTS` numbers of ``col``, sized for the cache; the padded input lives in a
reusable workspace, so a layer allocates nothing but its output.

Backward (eqs. 3.5, 3.6). For stride 1, dX is itself a convolution: the correlation of dY, padded
by K−1−pad, with the kernel turned by 180° and its channel axes swapped. Turning the window
view instead of the weights makes the weight matrix ``w.reshape(Cin, K·K·Cout)ᵀ``, a free view,
so dX costs what the forward costs. That copies K·K·Cout numbers per position; the adjoint of
im2col (col2im: dcol = dY · Wmatᵀ, K·K·Cin numbers per position, added back onto the padded
input) moves fewer when Cin is well below Cout (conv1_1: 27 against 576), and serves every
other stride (:func:`turned_kernel_is_cheaper` chooses).
dW = colᵀ · dY and db = Σ dY are computed only when asked for.

Max pooling slices the same windows without copying: the maximum over the K·K window offsets is
K·K vectorised ``maximum`` calls, and backward routes each gradient to the first offset
(row-major, as numpy's argmax) that holds the maximum.

Everything stays in the input dtype (float32 in the engine, float64 in gradient checks).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vggcli.engine.backends.base import (
    Backend,
    ConvCache,
    PoolCache,
    Tick,
    check_conv_args,
    check_window,
    window_slice,
)

BAND_ELEMENTS = 1 << 21  # numbers of col per band (8 MB in float32) …
MIN_BAND_POSITIONS = 1024  # … but never fewer output positions than this: GEMMs stay efficient


def channels_last(x: np.ndarray) -> np.ndarray:
    """The [N, H, W, C] view of an [N, C, H, W] array (free when x is channels-last in memory)."""
    return x.transpose(0, 2, 3, 1)


def logical_nchw(x: np.ndarray) -> np.ndarray:
    """The [N, C, H, W] view of an [N, H, W, C] array: the engine's shape, channels-last memory."""
    return x.transpose(0, 3, 1, 2)


def window_view(
    xpad: np.ndarray, kernel: int, stride: int, ho: int, wo: int, *, turned: bool = False
) -> np.ndarray:
    """A read-only view [Ho, Wo, K, K, C] of one padded image xpad [Hp, Wp, C]: element
    (h, w, kh, kw, c) is xpad[h·stride + kh, w·stride + kw, c]. With ``turned`` the window is
    rotated by 180°: element (h, w, kh, kw, c) is xpad[h + K−1−kh, w + K−1−kw, c]."""
    sh, sw, sc = xpad.strides
    view = as_strided(
        xpad,
        shape=(ho, wo, kernel, kernel, xpad.shape[2]),
        strides=(sh * stride, sw * stride, sh, sw, sc),
        writeable=False,
    )
    return view[:, :, ::-1, ::-1, :] if turned else view


def row_bands(ho: int, wo: int, window_size: int) -> list[slice]:
    """Output rows in bands whose col matrix [rows·Wo, window_size] holds about
    :data:`BAND_ELEMENTS` numbers and at least :data:`MIN_BAND_POSITIONS` rows."""
    positions = max(MIN_BAND_POSITIONS, BAND_ELEMENTS // window_size)
    rows = max(1, min(ho, positions // wo))
    return [slice(r, min(ho, r + rows)) for r in range(0, ho, rows)]


def turned_kernel_is_cheaper(cin: int, cout: int, positions: int) -> bool:
    """How to compute a stride-1 dX. The turned-kernel convolution copies Cout numbers per
    input position and window offset; col2im writes Cin per position and offset, adds them back
    (about half a copy more) and first reorders the Cin·Cout weights of each offset. Measured on
    VGG19 at 224: col2im is faster for conv1_1 to conv3_1, the turned kernel from conv4_1 on."""
    return cout * positions <= 1.5 * cin * positions + cin * cout


class Img2colBackend(Backend):
    name = "img2col"
    description = "im2col + GEMM (BLAS) on channels-last memory, in cache-sized bands of rows"

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

    def _padded(self, x_nhwc: np.ndarray, pad: int, dtype: np.dtype) -> np.ndarray:
        """x [N, H, W, C] with ``pad`` zeros around H and W (eq. 3.1), channels-last, in the
        workspace (valid until the next call). Without padding, x itself in ``dtype``."""
        if pad == 0:
            return x_nhwc.astype(dtype, copy=False)
        n, h, w, c = x_nhwc.shape
        xpad = self._buffer("pad", (n, h + 2 * pad, w + 2 * pad, c), dtype)
        xpad[:, :pad] = 0
        xpad[:, pad + h :] = 0
        xpad[:, pad : pad + h, :pad] = 0
        xpad[:, pad : pad + h, pad + w :] = 0
        xpad[:, pad : pad + h, pad : pad + w] = x_nhwc
        return xpad

    def _col(self, windows: np.ndarray, band: slice) -> np.ndarray:
        """im2col of a band of output rows: windows [Ho, Wo, K, K, C] → col [rows·Wo, K·K·C],
        in the workspace until the next call."""
        part = windows[band]
        col = self._buffer("col", part.shape, part.dtype)
        np.copyto(col, part)
        rows, wo, k, _, c = part.shape
        return col.reshape(rows * wo, k * k * c)

    def _correlate(
        self,
        xpad: np.ndarray,
        wmat: np.ndarray,
        kernel: int,
        stride: int,
        out: np.ndarray,
        bias: np.ndarray | None = None,
        *,
        turned: bool = False,
    ) -> np.ndarray:
        """out[n, h, w, :] = window(n, h, w) · wmat (+ bias), band by band.

        xpad [N, Hp, Wp, C]; wmat [K·K·C, Cout] with rows ordered (kh, kw, c); out
        [N, Ho, Wo, Cout], contiguous, filled in place and returned.
        """
        ho, wo, cout = out.shape[1:]
        for n in range(xpad.shape[0]):
            windows = window_view(xpad[n], kernel, stride, ho, wo, turned=turned)
            for band in row_bands(ho, wo, wmat.shape[0]):
                target = out[n, band].reshape(-1, cout)  # a view: out is contiguous
                np.matmul(self._col(windows, band), wmat, out=target)
                if bias is not None:
                    target += bias
        return out

    def conv2d_forward(self, x, w, b, stride=1, pad=0, tick: Tick | None = None):
        check_conv_args(x, w, b, stride, pad)
        cin, k, _, cout = w.shape
        ho, wo = check_window(x.shape, k, stride, pad)
        dtype = np.result_type(x, w)
        wmat = w.astype(dtype, copy=False).transpose(1, 2, 0, 3).reshape(k * k * cin, cout)
        y = np.empty((x.shape[0], ho, wo, cout), dtype=dtype)
        xpad = self._padded(channels_last(x), pad, dtype)
        self._correlate(xpad, wmat, k, stride, y, b.astype(dtype, copy=False))
        return logical_nchw(y), ConvCache(x, w, stride, pad)

    def conv2d_backward(self, dy, cache: ConvCache, *, param_grads=True, tick: Tick | None = None):
        x, w, s, pad = cache.x, cache.w, cache.stride, cache.pad
        cin, k, _, cout = w.shape
        dtype = np.result_type(dy, w, x)
        dy = np.ascontiguousarray(channels_last(dy), dtype=dtype)  # free when channels-last
        positions = x.shape[0] * x.shape[2] * x.shape[3]
        if s == 1 and pad <= k - 1 and turned_kernel_is_cheaper(cin, cout, positions):
            w_turned = w.astype(dtype, copy=False).reshape(cin, k * k * cout).T
            dx = np.empty(x.shape[:1] + x.shape[2:] + (cin,), dtype=dtype)
            self._correlate(self._padded(dy, k - 1 - pad, dtype), w_turned, k, 1, dx, turned=True)
        else:
            dx = self._col2im_backward(dy, w.astype(dtype, copy=False), x.shape, s, pad)
        if not param_grads:
            return logical_nchw(dx), None, None
        return logical_nchw(dx), self._weight_gradient(dy, x, w.shape, s, pad), dy.sum((0, 1, 2))

    def _col2im_backward(self, dy, w, x_shape, stride, pad) -> np.ndarray:
        """dX for any stride: dcol = dY · Wmatᵀ added back onto the windows it came from.
        dy [N, Ho, Wo, Cout] contiguous → dx [N, H, W, Cin] contiguous."""
        cin, k, _, cout = w.shape
        n_images, _, h, wd = x_shape
        ho, wo = dy.shape[1:3]
        wmat_t = w.transpose(3, 1, 2, 0).reshape(cout, k * k * cin)  # Wmatᵀ, rows (kh, kw, ci)
        dxpad = np.zeros((n_images, h + 2 * pad, wd + 2 * pad, cin), dtype=dy.dtype)
        for n in range(n_images):
            for band in row_bands(ho, wo, k * k * cin):
                rows = band.stop - band.start
                dcol = self._buffer("dcol", (rows * wo, k * k * cin), dy.dtype)
                np.matmul(dy[n, band].reshape(-1, cout), wmat_t, out=dcol)
                dcol = dcol.reshape(rows, wo, k, k, cin)
                for kh in range(k):
                    for kw in range(k):
                        dxpad[
                            n,
                            window_slice(band.start * stride + kh, stride, rows),
                            window_slice(kw, stride, wo),
                        ] += dcol[:, :, kh, kw]
        return np.ascontiguousarray(dxpad[:, pad : pad + h, pad : pad + wd])

    def _weight_gradient(self, dy, x, w_shape, stride, pad) -> np.ndarray:
        """dW[ci, kh, kw, co] = Σ window(n, h, w)[kh, kw, ci] · dY[n, h, w, co] (eq. 3.5)."""
        cin, k, _, cout = w_shape
        ho, wo = dy.shape[1:3]
        xpad = self._padded(channels_last(x), pad, dy.dtype)
        dw = np.zeros((k * k * cin, cout), dtype=dy.dtype)
        for n in range(x.shape[0]):
            windows = window_view(xpad[n], k, stride, ho, wo)
            for band in row_bands(ho, wo, k * k * cin):
                dw += self._col(windows, band).T @ dy[n, band].reshape(-1, cout)
        return np.ascontiguousarray(dw.reshape(k, k, cin, cout).transpose(2, 0, 1, 3))

    def maxpool2d_forward(self, x, kernel=2, stride=2, tick: Tick | None = None):
        ho, wo = check_window(x.shape, kernel, stride)
        y = None
        for kh in range(kernel):
            for kw in range(kernel):
                part = x[:, :, window_slice(kh, stride, ho), window_slice(kw, stride, wo)]
                if y is None:
                    y = part.copy(order="K")  # keeps x's memory order (channels-last here)
                else:
                    np.maximum(y, part, out=y)
        return y, PoolCache(x, y, kernel, stride)

    def maxpool2d_backward(self, dy, cache: PoolCache, tick: Tick | None = None):
        x, y, k, s = cache.x, cache.y, cache.kernel, cache.stride
        ho, wo = y.shape[2:]
        if k == s:  # the windows tile the input: every covered position is written once below
            dx = np.empty_like(x, dtype=dy.dtype)
            dx[:, :, ho * s :] = 0  # rows and columns that floor() left out
            dx[:, :, :, wo * s :] = 0
        else:
            dx = np.zeros_like(x, dtype=dy.dtype)
        routed = np.zeros_like(y, dtype=bool)  # windows whose maximum was already found
        first_max = np.empty_like(y, dtype=bool)
        for kh in range(k):
            for kw in range(k):
                rows, cols = window_slice(kh, s, ho), window_slice(kw, s, wo)
                np.equal(x[:, :, rows, cols], y, out=first_max)
                np.greater(first_max, routed, out=first_max)  # equal here, not before
                routed |= first_max
                if k <= s:  # windows do not overlap: each position is written at most once
                    np.multiply(dy, first_max, out=dx[:, :, rows, cols])
                else:
                    dx[:, :, rows, cols] += dy * first_max
        return dx
