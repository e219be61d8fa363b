"""A numpy stand-in for ``pycnml`` (the course's Cambricon MLU270 library), same API.

When ``import pycnml`` fails, :mod:`vggcli.dlp.adapter` drives this module instead, with the
same calls. It reproduces what the device computes, as far as it is known:

Documented (pycnml 0.3 sources, Cambricon's host reference; see docs/dlp.md):
  * ``setInputShape`` inserts an fp32→fp16 cast; the first ``loadParams`` appends the fp16→fp32
    cast at the end; ``size()`` is the number of layers minus 2 (both casts counted even before
    the second exists: 43 for VGG19 before any ``loadParams``).
  * conv and fully connected layers compute with int8 inputs and int8 filters, each quantised
    per tensor with its (position, scale) pair: q = clamp(round(x·scale/2^position), −128, 127);
    conv filters are quantised on the host (FP32→INT8); fc filters are stored as fp16 and
    quantised on the device; biases are fp16.
  * ReLU, max pooling (no padding, floor), flatten (H, W, C order) and softmax run in fp16.

Inferred (not in any source found), and how this emulator does it:
  * the accumulator: exact integer sums (no int32 overflow is possible for VGG19: at most
    4608 · 128² ≈ 7.5·10⁷ for a conv, 25088 · 128² ≈ 4.1·10⁸ for fc6). They are computed as
    float32 GEMMs over chunks of at most 1024 products (every partial sum ≤ 2²⁴, so exact) and
    added in float64.
  * rounding of the casts to int8: half away from zero, as Cambricon's host reference; of the
    casts to fp16: to nearest even (IEEE).
  * the int8 result: acc · 2^(p_in + p_w)/(s_in · s_w) rounded to fp16, plus the fp16 bias,
    rounded to fp16 again.

The rest of pycnml's Python surface: ``QuantParam``, ``QuantTool().getQuantParam(data,
layer_name)`` (the course's calibration helper: a running absmax per layer name, then the
"common" formula), the SWIG vector types ``FloatVector``, ``IntVector``, ``DoubleVector``
(accepted wherever pycnml takes a vector, as are lists, tuples and numpy arrays), and the
``CNML_MLU*`` core versions. Calls in a wrong order or with wrong sizes raise ValueError or
RuntimeError naming the call; anything of pycnml that is not emulated (another core version, a
dilation other than 1, a method or name not listed here) raises :class:`NotEmulated`, a
NotImplementedError that names it.

Beyond the pycnml API: :meth:`CnmlNet.layer_outputs` exposes every layer's output of the last
forward and :meth:`CnmlNet.run_layer` runs one layer alone, so that ``vgg check`` can show
where the int8 error enters; :meth:`CnmlNet.loadQuantizedParams` takes filters already
quantised (int8, possibly memory-mapped), which is how ``--backend dlp`` loads VGG19 in a
fraction of the memory. Filters are kept as int8 and widened to float32 one chunk at a time.
"""

from __future__ import annotations

import numpy as np

from vggcli.dlp.quant import QuantPair, quantize
from vggcli.engine.backends.img2col import Img2colBackend

EXACT_CHUNK = 1024  # int8 products summed per float32 GEMM: 1024 · 128² = 2²⁴, exact
ROWS_PER_BLOCK = 256  # fc filter rows quantised at a time (fc6: 256 x 25088, 51 MB of float64)
CNML_MLU100, CNML_MLU220, CNML_MLU270 = 0, 1, 2  # cnmlCoreVersion_t; only the MLU270 is modelled
EMULATED = (
    "CnmlNet, QuantParam, QuantTool, FloatVector, IntVector, DoubleVector, CNML_MLU270; "
    "CnmlNet: setInputShape, create{Conv,Mlp,ReLu,Pooling,Flatten,Softmax}Layer, loadParams, "
    "size, getLayerName, needToBeQuantized, setInputData, forward, getOutputData"
)


class NotEmulated(NotImplementedError, AttributeError):
    """A part of pycnml that this emulator does not reproduce (an AttributeError too, so that
    ``hasattr`` answers False)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} is not emulated by vggcli's pycnml emulator (it has: {EMULATED}); run on a "
            "machine with the real pycnml"
        )


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotEmulated(f"pycnml.{name}")


class _Vector(list):
    """A SWIG ``std::vector`` proxy: a list of one element type, with the C++ methods."""

    @staticmethod
    def _element(value):
        raise NotImplementedError

    def __init__(self, values=()) -> None:
        if isinstance(values, int):  # std::vector<T>(n): n zeros
            values = [0] * values
        super().__init__(self._element(v) for v in np.asarray(values).reshape(-1).tolist())

    def push_back(self, value) -> None:
        self.append(self._element(value))

    def size(self) -> int:
        return len(self)

    def empty(self) -> bool:
        return not self


class FloatVector(_Vector):
    """pycnml.FloatVector: C floats (values are rounded to float32 when stored)."""

    @staticmethod
    def _element(value):
        return float(np.float32(value))


class DoubleVector(_Vector):
    """pycnml.DoubleVector: C doubles."""

    @staticmethod
    def _element(value):
        return float(value)


class IntVector(_Vector):
    """pycnml.IntVector: C ints (a float that is not a whole number is refused, as SWIG does)."""

    @staticmethod
    def _element(value):
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"IntVector takes integers, got {value!r}")
        return int(value)


def _values(data, what: str, count: int | None = None) -> np.ndarray:
    """A pycnml vector argument (vector, list, tuple or array) as a flat float32 array;
    ValueError naming the call when it does not hold ``count`` numbers."""
    try:
        values = np.asarray(data, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(
            f"{what}: expected a vector of numbers, got {type(data).__name__}"
        ) from None
    if count is not None and values.size != count:
        raise ValueError(f"{what}: {values.size} values where {count} are expected")
    return values


class QuantParam:
    """pycnml.QuantParam(position, scale); the default is (1, 1) as in pycnml."""

    def __init__(self, position: int = 1, scale: float = 1.0) -> None:
        self.position = int(position)
        self.scale = float(scale)

    @property
    def pair(self) -> QuantPair:
        return QuantPair(self.position, self.scale)

    def __repr__(self) -> str:
        return f"QuantParam({self.position}, {self.scale!r})"


class QuantTool:
    """pycnml.QuantTool: the course's calibration helper. ``getQuantParam(data, layer_name)``
    keeps the largest |value| seen so far under ``layer_name`` and returns the "common"
    (position, scale) pair for it (module docstring of :mod:`vggcli.dlp.quant`)."""

    def __init__(self) -> None:
        self._absmax: dict[str, float] = {}

    def getQuantParam(self, data, layer_name: str) -> QuantParam:
        values = _values(data, "QuantTool.getQuantParam")
        absmax = max(self._absmax.get(layer_name, 0.0), float(np.abs(values).max(initial=0.0)))
        self._absmax[layer_name] = absmax
        pair = QuantPair.for_absmax(absmax)
        return QuantParam(pair.position, pair.scale)


def _fp16(x) -> np.ndarray:
    return np.asarray(x).astype(np.float16)


def _int8_conv(xq: np.ndarray, wq: np.ndarray, stride: int, pad: int, gemm) -> np.ndarray:
    """Exact Σ xq·wq for integer-valued float32 xq [N, Cin, H, W] and int8 wq [Cin, K, K, Cout]:
    the input channels are split so that each float32 GEMM sums at most EXACT_CHUNK products
    (the filter chunk is widened to float32 only for its GEMM)."""
    cin, k = wq.shape[0], wq.shape[1]
    per_chunk = max(1, EXACT_CHUNK // (k * k))
    zeros = np.zeros(wq.shape[3], dtype=np.float32)
    total = None
    for c0 in range(0, cin, per_chunk):
        w = np.asarray(wq[c0 : c0 + per_chunk], dtype=np.float32)
        part, _ = gemm.conv2d_forward(xq[:, c0 : c0 + per_chunk], w, zeros, stride, pad)
        total = part.astype(np.float64) if total is None else total + part
    return total


def _int8_matmul(xq: np.ndarray, wq: np.ndarray) -> np.ndarray:
    """Exact xq [N, in] · wq [in, out] for integer-valued float32 xq and int8 wq (chunks of
    1024 rows, each widened to float32 for its GEMM)."""
    total = np.zeros((xq.shape[0], wq.shape[1]), dtype=np.float64)
    for i in range(0, xq.shape[1], EXACT_CHUNK):
        total += xq[:, i : i + EXACT_CHUNK] @ np.asarray(wq[i : i + EXACT_CHUNK], np.float32)
    return total


class _Layer:
    """One device layer: fp16 in, fp16 out."""

    quantized = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, x16: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _Cast(_Layer):
    def __call__(self, x):
        return x


class _Conv(_Layer):
    quantized = True

    def __init__(self, name, out_channels, kernel, stride, dilation, pad, input_qp, gemm):
        super().__init__(name)
        if dilation != 1:
            raise NotEmulated(f"createConvLayer with dilation {dilation} (only 1, all VGG19 needs)")
        self.out_channels, self.kernel, self.stride, self.pad = out_channels, kernel, stride, pad
        self.input_pair = input_qp.pair
        self.gemm = gemm
        self.wq = self.bias16 = self.filter_pair = None

    def quantize_filter(self, filter_values, bias, filter_qp):
        """filter [Cout, Cin, K, K] (flattened, or that array) → int8 [Cin, K, K, Cout],
        quantised on the host from float32; bias → fp16."""
        if isinstance(filter_values, np.ndarray) and filter_values.ndim == 4:
            w = filter_values
        else:
            w = _values(filter_values, f"loadParams({self.name}) filter")
            if w.size % (self.kernel * self.kernel * self.out_channels):
                raise ValueError(
                    f"loadParams({self.name}): {w.size} filter values are not "
                    f"{self.out_channels} x Cin x {self.kernel} x {self.kernel}"
                )
            w = w.reshape(self.out_channels, -1, self.kernel, self.kernel)
        if w.shape[0] != self.out_channels or w.shape[2:] != (self.kernel, self.kernel):
            raise ValueError(f"loadParams({self.name}): a filter of shape {w.shape}")
        w = np.asarray(w, dtype=np.float32)
        wq = quantize(w, filter_qp.pair).astype(np.int8).transpose(1, 2, 3, 0)
        bias = _values(bias, f"loadParams({self.name}) bias", self.out_channels)
        return np.ascontiguousarray(wq), _fp16(bias)

    def load_quantized(self, wq, bias16, filter_qp) -> None:
        if wq.shape[1:] != (self.kernel, self.kernel, self.out_channels):
            raise ValueError(f"{self.name}: int8 filter of shape {wq.shape}")
        self.wq, self.bias16, self.filter_pair = wq, bias16, filter_qp.pair

    def __call__(self, x16):
        if self.wq is None:
            raise RuntimeError(f"forward: {self.name} has no parameters (call loadParams)")
        if x16.shape[1] != self.wq.shape[0]:
            raise ValueError(
                f"{self.name}: {x16.shape[1]} input channels, its filter has {self.wq.shape[0]}"
            )
        xq = quantize(x16, self.input_pair).astype(np.float32)
        acc = _int8_conv(xq, self.wq, self.stride, self.pad, self.gemm)
        rescale = 1.0 / (self.input_pair.factor * self.filter_pair.factor)
        return _fp16(_fp16(acc * rescale).astype(np.float32) + self.bias16[:, None, None])


class _Mlp(_Layer):
    quantized = True

    def __init__(self, name, output_num, input_qp):
        super().__init__(name)
        self.output_num = output_num
        self.input_pair = input_qp.pair
        self.wq = self.bias16 = self.filter_pair = None

    def quantize_filter(self, filter_values, bias, filter_qp):
        """filter [out, in] (flattened, or that matrix) → stored as fp16, quantised (on the
        device) to int8 [in, out], a block of rows at a time; bias → fp16."""
        if isinstance(filter_values, np.ndarray) and filter_values.ndim == 2:
            w = filter_values
        else:
            w = _values(filter_values, f"loadParams({self.name}) filter")
            if w.size % self.output_num:
                raise ValueError(
                    f"loadParams({self.name}): {w.size} filter values are not "
                    f"{self.output_num} x inputs"
                )
            w = w.reshape(self.output_num, -1)
        if w.shape[0] != self.output_num:
            raise ValueError(f"loadParams({self.name}): a filter of shape {w.shape}")
        wq = np.empty((w.shape[1], self.output_num), dtype=np.int8)
        for r in range(0, self.output_num, ROWS_PER_BLOCK):
            w16 = _fp16(np.asarray(w[r : r + ROWS_PER_BLOCK], dtype=np.float32))
            wq[:, r : r + ROWS_PER_BLOCK] = quantize(w16, filter_qp.pair).astype(np.int8).T
        bias = _values(bias, f"loadParams({self.name}) bias", self.output_num)
        return wq, _fp16(bias)

    def load_quantized(self, wq, bias16, filter_qp) -> None:
        if wq.ndim != 2 or wq.shape[1] != self.output_num:
            raise ValueError(f"{self.name}: int8 filter of shape {wq.shape}")
        self.wq, self.bias16, self.filter_pair = wq, bias16, filter_qp.pair

    def __call__(self, x16):
        if self.wq is None:
            raise RuntimeError(f"forward: {self.name} has no parameters (call loadParams)")
        x = x16.reshape(x16.shape[0], -1)
        if x.shape[1] != self.wq.shape[0]:
            raise ValueError(f"{self.name}: {x.shape[1]} inputs, its filter has {self.wq.shape[0]}")
        xq = quantize(x, self.input_pair).astype(np.float32)
        acc = _int8_matmul(xq, self.wq)
        rescale = 1.0 / (self.input_pair.factor * self.filter_pair.factor)
        y = _fp16(_fp16(acc * rescale).astype(np.float32) + self.bias16)
        return y.reshape(y.shape[0], -1, 1, 1)  # pycnml's mlp output is [N, out, 1, 1]


class _ReLU(_Layer):
    def __call__(self, x16):
        return np.maximum(x16, np.float16(0))


class _Pool(_Layer):
    def __init__(self, name, kernel, stride, gemm):
        super().__init__(name)
        self.kernel, self.stride, self.gemm = kernel, stride, gemm

    def __call__(self, x16):  # the maximum of fp16 values is exact in fp16
        return self.gemm.maxpool2d_forward(x16, self.kernel, self.stride)[0]


class _Flatten(_Layer):
    def __init__(self, name, output_shape):
        super().__init__(name)
        self.output_shape = tuple(output_shape)

    def __call__(self, x16):  # NCHW → NHWC → [N, H·W·C, 1, 1], as pycnml's flatten
        return np.ascontiguousarray(x16.transpose(0, 2, 3, 1)).reshape(self.output_shape)


class _Softmax(_Layer):
    def __init__(self, name, axis):
        super().__init__(name)
        self.axis = axis

    def __call__(self, x16):
        z = x16.astype(np.float32)
        e = np.exp(z - z.max(axis=self.axis, keepdims=True))
        return _fp16(e / e.sum(axis=self.axis, keepdims=True))


class CnmlNet:
    """pycnml.CnmlNet: build the network layer by layer, load parameters, run forward."""

    def __init__(self, core_num: int = 1, core_version=CNML_MLU270) -> None:
        if core_version not in (None, CNML_MLU270):
            raise NotEmulated(f"CnmlNet with core version {core_version} (only CNML_MLU270)")
        self.core_num = core_num
        self.layers: list[_Layer] = []
        self._gemm = Img2colBackend()
        self._shape: tuple[int, ...] | None = None
        self._input: np.ndarray | None = None
        self._outputs: dict[str, np.ndarray] = {}
        self._output: np.ndarray | None = None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotEmulated(f"pycnml.CnmlNet.{name}")

    # building
    def setInputShape(self, n: int, c: int, h: int, w: int) -> None:
        if self._shape is not None:
            raise RuntimeError("setInputShape: the input shape is already set")
        self._shape = (int(n), int(c), int(h), int(w))
        self.layers.insert(0, _Cast("cast_in"))

    def _add(self, layer: _Layer) -> None:
        if any(la.name == "cast_out" for la in self.layers):
            raise RuntimeError(f"create {layer.name}: layers are created before any loadParams")
        self.layers.append(layer)

    def createConvLayer(self, name, out_channel, kernel_size, stride, dilation, pad, input_qp):
        self._add(
            _Conv(name, out_channel, kernel_size, stride, dilation, pad, input_qp, self._gemm)
        )

    def createMlpLayer(self, name, output_num, input_qp):
        self._add(_Mlp(name, output_num, input_qp))

    def createReLuLayer(self, name):
        self._add(_ReLU(name))

    def createPoolingLayer(self, name, kernel_size, stride):
        self._add(_Pool(name, kernel_size, stride, self._gemm))

    def createFlattenLayer(self, name, output_shape):
        self._add(_Flatten(name, [int(v) for v in output_shape]))

    def createSoftmaxLayer(self, name, axis):
        self._add(_Softmax(name, axis))

    def _layer(self, layer_id: int) -> _Layer:
        layer_id = int(layer_id)
        if not 0 <= layer_id < len(self.layers) - 1:
            raise IndexError(f"layer id {layer_id} out of range (0 … {len(self.layers) - 2})")
        return self.layers[layer_id + 1]  # layer ids do not count the input cast

    def _parametrised(self, layer_id) -> _Conv | _Mlp:
        if self._shape is None:
            raise RuntimeError("loadParams: call setInputShape and create the layers first")
        if not any(layer.name == "cast_out" for layer in self.layers):
            self.layers.append(_Cast("cast_out"))
        layer = self._layer(layer_id)
        if not isinstance(layer, _Conv | _Mlp):
            raise ValueError(f"loadParams: layer {layer_id} ({layer.name}) has no parameters")
        return layer

    def loadParams(self, layer_id, filter_values, bias, filter_qp):
        layer = self._parametrised(layer_id)
        layer.load_quantized(*layer.quantize_filter(filter_values, bias, filter_qp), filter_qp)

    def size(self) -> int:
        return len(self.layers) - 2

    def getLayerName(self, layer_id: int) -> str:
        return self._layer(layer_id).name

    def needToBeQuantized(self, layer_id: int) -> bool:
        return self._layer(layer_id).quantized

    # running
    def setInputData(self, data) -> None:
        if self._shape is None:
            raise RuntimeError("setInputData: call setInputShape first")
        count = int(np.prod(self._shape))
        self._input = _values(data, "setInputData", count).reshape(self._shape)

    def forward(self) -> None:
        if self._input is None:
            raise RuntimeError("forward: call setInputData first")
        x = _fp16(self._input)  # cast_in: fp32 → fp16
        self._outputs = {}
        for layer in self.layers:
            if layer.name in ("cast_in", "cast_out"):
                continue
            x = layer(x)
            self._outputs[layer.name] = x
        self._output = x.astype(np.float32)  # cast_out: fp16 → fp32

    def getOutputData(self) -> tuple[float, ...]:
        if self._output is None:
            raise RuntimeError("getOutputData: call forward first")
        return tuple(self._output.reshape(-1).tolist())

    # beyond pycnml: loading prepared int8 filters, and studying where the error enters
    def quantizeParams(self, layer_id, filter_values, bias, filter_qp):
        """What loadParams stores for a layer: (int8 filter, fp16 bias), without storing it."""
        return self._parametrised(layer_id).quantize_filter(filter_values, bias, filter_qp)

    def loadQuantizedParams(self, layer_id, wq: np.ndarray, bias16: np.ndarray, filter_qp):
        """loadParams with the filter already quantised by :meth:`quantizeParams` (int8, conv
        [Cin, K, K, Cout], fc [in, out]; may be memory-mapped) and the bias as fp16."""
        self._parametrised(layer_id).load_quantized(wq, bias16, filter_qp)

    def layer_outputs(self) -> dict[str, np.ndarray]:
        """Every layer's output of the last forward, as float32 (fp16 values)."""
        return {name: y.astype(np.float32) for name, y in self._outputs.items()}

    def run_layer(self, name: str, x: np.ndarray) -> np.ndarray:
        """One layer alone on the float input x (cast to fp16 first), as float32."""
        (layer,) = (la for la in self.layers if la.name == name)
        return layer(_fp16(x)).astype(np.float32)
