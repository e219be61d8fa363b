"""Winograd's minimal filtering F(4x4, 3x3) for VGG19's 3x3 stride-1 convolutions.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016). For one channel
pair, a 6x6 input tile d and a 3x3 filter g give the 4x4 output tile

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

Summed over input channels, the elementwise product becomes, for each of the 36 positions (ξ, ν)
of the 6x6 transformed tile, one matrix product M[ξν] = V[ξν] · U[ξν] with V [tiles, Cin] the
transformed input and U [Cin, Cout] the transformed filters: 36 multiplications per output tile
and channel pair where the direct formula needs 16·9 = 144, 4x fewer.

Layouts: arrays keep the engine's logical NCHW shape and, like :mod:`.img2col` (which this
backend extends), channels-last memory. Output tiles of 4x4 start every 4 pixels; input tiles of
6x6 overlap by 2. The padded input holds ⌈Ho/4⌉·4 + 2 rows (zeros beyond the image), the output
is cropped to Ho x Wo. Work goes in bands of tile rows sized for the cache; the input transform
runs along rows then along columns on strided views of the padded image (no 6x6 tiles are copied
out first), the 36 GEMMs are one batched ``matmul``, and the output transform writes straight
into the output's strided rows.

The input gradient of a 3x3 stride-1 convolution is a 3x3 stride-1 correlation of dY (padded by
2 − pad) with the kernel turned by 180° and its channel axes swapped, so it runs through the
same code. dW, db, every other geometry and the layers with few channels on one side (conv1_1
and its input gradient, :func:`winograd_pays`) go through the img2col code it inherits.

The filter transforms U of a weight array are kept from its second use on while it lives, when
the array is read-only (every :class:`~vggcli.engine.weightset.WeightSet` array is): one pass
through the network holds no transforms (VGG19's are 320 MB), style transfer reuses them at
every step. A writable array may change between calls: its transform is recomputed each time.

Measured float32 error (``docs/winograd.md``): about 1e-6 to 1e-5 of the output's largest value
against float64, within the 1e-4 every backend is held to.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from numpy.lib.stride_tricks import as_strided

from vggcli.engine.backends.base import ConvCache, Tick, check_conv_args
from vggcli.engine.backends.img2col import Img2colBackend, channels_last, logical_nchw

M = 4  # output tile side: F(4x4, 3x3)
T = M + 2  # input tile side
G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ]
)
GG = np.kron(G, G)  # [(ξ, ν), (a, b)]: G g Gᵀ of a flattened 3x3 kernel g
BT = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ]
)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])
BAND_ELEMENTS = 1 << 20  # numbers of V per band of tile rows (4 MB in float32) …
MIN_BAND_TILES = 128  # … but at least this many tiles, so that the 36 GEMMs stay efficient
MIN_CHANNELS = 16  # fewer input or output channels: the transforms cost more than they save


def applies(w_shape: tuple[int, ...], stride: int, pad: int) -> bool:
    """Whether F(4x4, 3x3) computes this convolution (3x3 kernel, stride 1, pad 0–2)."""
    return w_shape[1] == 3 and stride == 1 and 0 <= pad <= 2


def tiles(ho: int, wo: int) -> tuple[int, int]:
    """Tile rows and columns that cover an ho x wo output."""
    return math.ceil(ho / M), math.ceil(wo / M)


def winograd_pays(cin: int, cout: int) -> bool:
    """Winograd when both channel counts are at least :data:`MIN_CHANNELS`. With 3 input
    channels (conv1_1) or 3 output channels (its input gradient) the GEMMs are tiny and the
    transforms of the wide side cost 2-3x what im2col does (``make bench``'s layer table)."""
    return min(cin, cout) >= MIN_CHANNELS


def filter_transform(w: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """U [36, Cin, Cout] = G g Gᵀ for every channel pair of w [Cin, 3, 3, Cout], rows ordered
    (ξ, ν): one product of G ⊗ G [36, 9] with the kernels laid out [9, Cin·Cout], which writes
    U in its final layout, in ``dtype`` (float32 adds about 3e-8 of relative error, far below
    the algorithm's own)."""
    cin, _, _, cout = w.shape
    kernels = np.asarray(w).astype(dtype, copy=False).transpose(1, 2, 0, 3).reshape(9, -1)
    return (GG.astype(dtype) @ kernels).reshape(T * T, cin, cout)


def _bt_rows(d, out, tmp):
    """out[k] = Σ_a Bᵀ[k, a]·d[a] for the six slices d[0..5] (Bᵀ of F(4x4, 3x3)), with the
    shared terms p = d4 − 4·d2, q = d3 − 4·d1, r = d4 − d2, s = 2·(d3 − d1)."""
    p, q = tmp[0], tmp[1]
    np.multiply(d[2], -4, out=p)
    p += d[4]
    np.multiply(d[1], -4, out=q)
    q += d[3]
    np.add(p, q, out=out[1])
    np.subtract(p, q, out=out[2])
    np.subtract(d[3], d[1], out=q)
    q *= 2
    np.subtract(d[4], d[2], out=p)
    np.add(p, q, out=out[3])
    np.subtract(p, q, out=out[4])
    np.multiply(d[2], -5, out=p)  # out[0] = 4·d0 − 5·d2 + d4
    p += d[4]
    np.multiply(d[0], 4, out=out[0])
    out[0] += p
    np.multiply(d[3], -5, out=p)  # out[5] = 4·d1 − 5·d3 + d5
    p += d[5]
    np.multiply(d[1], 4, out=out[5])
    out[5] += p


def _at_rows(m, out, tmp):
    """out[k] = Σ_ξ Aᵀ[k, ξ]·m[ξ] for the six slices m[0..5] (Aᵀ of F(4x4, 3x3)):
    o0 = m0 + a + b, o1 = c + 2e, o2 = a + 4b, o3 = c + 8e + m5 with a = m1 + m2, b = m3 + m4,
    c = m1 − m2, e = m3 − m4. ``out`` may be strided views (the output's rows)."""
    a, b = tmp[0], tmp[1]
    np.add(m[1], m[2], out=a)
    np.add(m[3], m[4], out=b)
    np.add(a, b, out=out[0])
    out[0] += m[0]
    np.multiply(b, 4, out=out[2])
    out[2] += a
    np.subtract(m[1], m[2], out=a)
    np.subtract(m[3], m[4], out=b)
    np.multiply(b, 2, out=out[1])
    out[1] += a
    np.multiply(b, 8, out=out[3])
    out[3] += a
    out[3] += m[5]


class WinogradBackend(Img2colBackend):
    name = "winograd"
    description = (
        "Winograd F(4x4,3x3) for 3x3 stride-1 convolutions, forward and input gradient "
        "(4x fewer multiplications); im2col for the rest"
    )

    def __init__(self) -> None:
        super().__init__()
        self._transforms: dict[tuple[int, bool, str], tuple[weakref.ref, np.ndarray | None]] = {}

    # --- the public interface ------------------------------------------------------------------

    def conv_multiplications(self, x_shape, w_shape, stride, pad) -> int:
        cin, k, _, cout = w_shape
        ho, wo = x_shape[2] + 2 * pad - k + 1, x_shape[3] + 2 * pad - k + 1
        if not (applies(w_shape, stride, pad) and winograd_pays(cin, cout)):
            return super().conv_multiplications(x_shape, w_shape, stride, pad)
        th, tw = tiles(ho, wo)
        return x_shape[0] * th * tw * T * T * cin * cout

    def conv2d_forward(self, x, w, b, stride=1, pad=0, tick: Tick | None = None):
        check_conv_args(x, w, b, stride, pad)
        if not (applies(w.shape, stride, pad) and winograd_pays(w.shape[0], w.shape[3])):
            return super().conv2d_forward(x, w, b, stride, pad, tick)
        dtype = np.result_type(x, w)
        u = self._transform(w, dtype, turned=False)
        y = self._winograd(channels_last(x), u, pad, dtype, b.astype(dtype, copy=False))
        return logical_nchw(y), ConvCache(x, w, stride, pad)

    def conv2d_backward(self, dy, cache: ConvCache, *, param_grads=True, tick: Tick | None = None):
        x, w, s, pad = cache.x, cache.w, cache.stride, cache.pad
        if not (applies(w.shape, s, pad) and winograd_pays(w.shape[3], w.shape[0])):
            return super().conv2d_backward(dy, cache, param_grads=param_grads, tick=tick)
        dtype = np.result_type(dy, w, x)
        dy_nhwc = np.ascontiguousarray(channels_last(dy), dtype=dtype)
        u = self._transform(w, dtype, turned=True)
        dx = logical_nchw(self._winograd(dy_nhwc, u, 2 - pad, dtype))
        if not param_grads:
            return dx, None, None
        return dx, self._weight_gradient(dy_nhwc, x, w.shape, s, pad), dy_nhwc.sum((0, 1, 2))

    # --- filters ---------------------------------------------------------------------------------

    def _transform(self, w: np.ndarray, dtype: np.dtype, *, turned: bool) -> np.ndarray:
        """U of w (``turned``: of the kernel turned by 180° with its channel axes swapped, for
        dX). A read-only array's U is kept from its second use on, while the array lives: a
        single pass (classifying one image) holds none, style transfer computes each twice."""

        def compute():
            g = w[:, ::-1, ::-1, :].transpose(3, 1, 2, 0) if turned else w
            return filter_transform(g, dtype)

        if w.flags.writeable:  # it may change between calls
            return compute()
        key = (id(w), turned, np.dtype(dtype).str)
        ref, u = self._transforms.get(key, (None, None))
        if ref is not None and ref() is w:
            if u is None:  # second use: keep it
                u = compute()
                self._transforms[key] = (ref, u)
            return u
        self._transforms[key] = (weakref.ref(w, lambda _, key=key: self._forget(key)), None)
        return compute()

    @staticmethod
    def _bt(dtype) -> np.ndarray:
        return BT.astype(dtype)

    @staticmethod
    def _at(dtype) -> np.ndarray:
        return AT.astype(dtype)

    def _forget(self, key) -> None:
        self._transforms.pop(key, None)

    # --- the algorithm ---------------------------------------------------------------------------

    def _winograd(
        self,
        x: np.ndarray,
        u: np.ndarray,
        pad: int,
        dtype: np.dtype,
        bias: np.ndarray | None = None,
    ) -> np.ndarray:
        """y [N, Ho, Wo, Cout] (contiguous) = the 3x3 stride-1 correlation of x [N, H, W, C]
        padded by ``pad``, with the filters whose transforms are u [36, C, Cout] (+ bias)."""
        n, h, w, c = x.shape
        cout = u.shape[2]
        ho, wo = h + 2 * pad - 2, w + 2 * pad - 2
        th, tw = tiles(ho, wo)
        hp, wp = M * th + 2, M * tw + 2
        xp = self._buffer("wpad", (n, hp, wp, c), dtype)
        xp[:, :pad] = 0
        xp[:, pad + h :] = 0
        xp[:, pad : pad + h, :pad] = 0
        xp[:, pad : pad + h, pad + w :] = 0
        xp[:, pad : pad + h, pad : pad + w] = x
        exact = ho == M * th and wo == M * tw
        y = np.empty((n, ho, wo, cout), dtype=dtype)
        full = y if exact else self._buffer("wout", (n, M * th, M * tw, cout), dtype)
        rows = max(1, min(th, max(MIN_BAND_TILES, BAND_ELEMENTS // (T * T * c)) // tw))
        for i in range(n):
            for i0 in range(0, th, rows):
                i1 = min(th, i0 + rows)
                self._band(xp[i], u, full[i], i0, i1, tw, dtype)
        if not exact:
            np.copyto(y, full[:, :ho, :wo])
        if bias is not None:
            y += bias
        return y

    def _band(self, xp, u, out, i0: int, i1: int, tw: int, dtype) -> None:
        """Tile rows i0 … i1−1 of one image: xp [Hp, Wp, C] → out [4·th, 4·tw, Cout]."""
        nb = i1 - i0
        wp, c = xp.shape[1], xp.shape[2]
        cout = u.shape[2]
        # input transform along rows, one small GEMM per tile row i (its 6 image rows are one
        # contiguous block): R[i, ξ] = Σ_a Bᵀ[ξ, a]·xp[4i + a]
        sr = xp.strides[0]
        rows = as_strided(xp[M * i0 :], (nb, T, wp * c), (M * sr, sr, xp.strides[2]))
        r = self._buffer("R", (nb, T, wp, c), dtype)
        np.matmul(self._bt(dtype), rows, out=r.reshape(nb, T, wp * c))
        # along columns: V[ξ, ν] = Σ_b R[ξ][.., 4j + b, ..]·B[b, ν], written as [36, tiles, C]
        v = self._buffer("V", (T, T, nb, tw, c), dtype)
        tmp = self._buffer("tmpV", (2, T, nb, tw, c), dtype)
        s0, s1, s2, s3 = r.strides
        cols_of = [
            as_strided(r[:, :, b:], (T, nb, tw, c), (s1, s0, M * s2, s3), writeable=False)
            for b in range(T)
        ]
        _bt_rows(cols_of, [v[:, k] for k in range(T)], tmp)
        # the 36 GEMMs
        mm = self._buffer("Mm", (T * T, nb * tw, cout), dtype)
        np.matmul(v.reshape(T * T, nb * tw, c), u, out=mm)
        mm = mm.reshape(T, T, nb, tw, cout)
        # output transform along ξ (one GEMM: the 6 rows of ξ are contiguous blocks), then along
        # ν into the output's strided rows and columns
        s = self._buffer("S", (M, T, nb, tw, cout), dtype)
        np.matmul(self._at(dtype), mm.reshape(T, -1), out=s.reshape(M, -1))
        band = out[M * i0 : M * i1]  # [4·nb, 4·tw, Cout]
        tmp = self._buffer("tmpO", (2, nb, tw, cout), dtype)
        for rr in range(M):
            targets = [band[rr::M, cc::M] for cc in range(M)]
            _at_rows([s[rr, k] for k in range(T)], targets, tmp)
