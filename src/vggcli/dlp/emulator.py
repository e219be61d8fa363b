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

Beyond the pycnml API, :meth:`CnmlNet.layer_outputs` exposes every layer's output of the last
forward and :meth:`CnmlNet.run_layer` runs one layer alone, so that ``vgg check`` can show
where the int8 error enters.
"""

from __future__ import annotations

import numpy as np

from vggcli.dlp.quant import QuantPair, quantize
from vggcli.engine.backends.img2col import Img2colBackend

EXACT_CHUNK = 1024  # int8 products summed per float32 GEMM: 1024 · 128² = 2²⁴, exact


class QuantParam:
    """pycnml.QuantParam(position, scale); the default is (1, 1) as in pycnml."""

    def __init__(self, position: int = 1, scale: float = 1.0) -> None:
        self.position = int(position)
        self.scale = float(scale)

    @property
    def pair(self) -> QuantPair:
        return QuantPair(self.position, self.scale)


def _fp16(x) -> np.ndarray:
    return np.asarray(x).astype(np.float16)


def _int8_conv(xq: np.ndarray, wq: np.ndarray, stride: int, pad: int, gemm) -> np.ndarray:
    """Exact Σ xq·wq for integer-valued float32 xq [N, Cin, H, W], wq [Cin, K, K, Cout]: the
    input channels are split so that each float32 GEMM sums at most EXACT_CHUNK products."""
    cin, k = wq.shape[0], wq.shape[1]
    per_chunk = max(1, EXACT_CHUNK // (k * k))
    zeros = np.zeros(wq.shape[3], dtype=np.float32)
    total = None
    for c0 in range(0, cin, per_chunk):
        part, _ = gemm.conv2d_forward(
            xq[:, c0 : c0 + per_chunk], wq[c0 : c0 + per_chunk], zeros, stride, pad
        )
        total = part.astype(np.float64) if total is None else total + part
    return total


def _int8_matmul(xq: np.ndarray, wq: np.ndarray) -> np.ndarray:
    """Exact xq [N, in] · wq [in, out] for integer-valued float32 arrays (chunks of 1024)."""
    total = np.zeros((xq.shape[0], wq.shape[1]), dtype=np.float64)
    for i in range(0, xq.shape[1], EXACT_CHUNK):
        total += xq[:, i : i + EXACT_CHUNK] @ wq[i : i + EXACT_CHUNK]
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
            raise ValueError("the emulator supports dilation 1 only (all VGG19 needs)")
        self.out_channels, self.kernel, self.stride, self.pad = out_channels, kernel, stride, pad
        self.input_pair = input_qp.pair
        self.gemm = gemm
        self.wq = self.bias16 = self.filter_pair = None

    def load(self, filter_values, bias, filter_qp) -> None:
        """filter: [Cout, Cin, K, K] flattened; quantised on the host from float32."""
        w = np.asarray(filter_values, dtype=np.float32).reshape(
            self.out_channels, -1, self.kernel, self.kernel
        )
        self.filter_pair = filter_qp.pair
        # [Cin, K, K, Cout], integer-valued float32, for the im2col GEMM
        self.wq = quantize(w, self.filter_pair).astype(np.float32).transpose(1, 2, 3, 0).copy()
        self.bias16 = _fp16(np.asarray(bias, dtype=np.float32))

    def __call__(self, x16):
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

    def load(self, filter_values, bias, filter_qp) -> None:
        """filter: [out, in] flattened; stored as fp16, quantised on the device."""
        w16 = _fp16(np.asarray(filter_values, dtype=np.float32).reshape(self.output_num, -1))
        self.filter_pair = filter_qp.pair
        self.wq = np.ascontiguousarray(quantize(w16, self.filter_pair).astype(np.float32).T)
        self.bias16 = _fp16(np.asarray(bias, dtype=np.float32))

    def __call__(self, x16):
        xq = quantize(x16.reshape(x16.shape[0], -1), self.input_pair).astype(np.float32)
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

    def __init__(self, core_num: int = 1, core_version=None) -> None:
        self.core_num = core_num
        self.layers: list[_Layer] = []
        self._gemm = Img2colBackend()
        self._shape: tuple[int, ...] | None = None
        self._input: np.ndarray | None = None
        self._outputs: dict[str, np.ndarray] = {}
        self._output: np.ndarray | None = None

    # building
    def setInputShape(self, n: int, c: int, h: int, w: int) -> None:
        self._shape = (n, c, h, w)
        self.layers.insert(0, _Cast("cast_in"))

    def createConvLayer(self, name, out_channel, kernel_size, stride, dilation, pad, input_qp):
        self.layers.append(
            _Conv(name, out_channel, kernel_size, stride, dilation, pad, input_qp, self._gemm)
        )

    def createMlpLayer(self, name, output_num, input_qp):
        self.layers.append(_Mlp(name, output_num, input_qp))

    def createReLuLayer(self, name):
        self.layers.append(_ReLU(name))

    def createPoolingLayer(self, name, kernel_size, stride):
        self.layers.append(_Pool(name, kernel_size, stride, self._gemm))

    def createFlattenLayer(self, name, output_shape):
        self.layers.append(_Flatten(name, output_shape))

    def createSoftmaxLayer(self, name, axis):
        self.layers.append(_Softmax(name, axis))

    def _layer(self, layer_id: int) -> _Layer:
        return self.layers[layer_id + 1]  # layer ids do not count the input cast

    def loadParams(self, layer_id, filter_values, bias, filter_qp):
        if not any(layer.name == "cast_out" for layer in self.layers):
            self.layers.append(_Cast("cast_out"))
        layer = self._layer(layer_id)
        if not isinstance(layer, _Conv | _Mlp):
            raise ValueError(f"layer {layer_id} ({layer.name}) has no parameters")
        layer.load(filter_values, bias, filter_qp)

    def size(self) -> int:
        return len(self.layers) - 2

    def getLayerName(self, layer_id: int) -> str:
        return self._layer(layer_id).name

    def needToBeQuantized(self, layer_id: int) -> bool:
        return self._layer(layer_id).quantized

    # running
    def setInputData(self, data) -> None:
        if self._shape is None:
            raise ValueError("setInputShape first")
        self._input = np.asarray(data, dtype=np.float32).reshape(self._shape)

    def forward(self) -> None:
        x = _fp16(self._input)  # cast_in: fp32 → fp16
        self._outputs = {}
        for layer in self.layers:
            if layer.name in ("cast_in", "cast_out"):
                continue
            x = layer(x)
            self._outputs[layer.name] = x
        self._output = x.astype(np.float32)  # cast_out: fp16 → fp32

    def getOutputData(self) -> tuple[float, ...]:
        return tuple(self._output.reshape(-1).tolist())

    # beyond pycnml: for studying where the error enters
    def layer_outputs(self) -> dict[str, np.ndarray]:
        """Every layer's output of the last forward, as float32 (fp16 values)."""
        return {name: y.astype(np.float32) for name, y in self._outputs.items()}

    def run_layer(self, name: str, x: np.ndarray) -> np.ndarray:
        """One layer alone on the float input x (cast to fp16 first), as float32."""
        (layer,) = (la for la in self.layers if la.name == name)
        return layer(_fp16(x)).astype(np.float32)
