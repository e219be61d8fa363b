"""VGG19 on the DLP through the pycnml API (lab manual §3.2), real or emulated.

Written once against the pycnml 0.3 API: when ``import pycnml`` works it drives the real
library (a Cambricon MLU270), otherwise :mod:`vggcli.dlp.emulator`, which implements the same
calls in numpy. The sequence is the course's: ``CnmlNet(16)``, ``setInputShape``, one
``create*Layer`` per layer with the input quantisation pair of each conv/fc layer, then
``loadParams`` for each conv/fc layer (conv weights [Cout, Cin, H, W], fc weights [out, in],
flattened float64, with the filter quantisation pair), and per image ``setInputData`` (the
NCHW image flattened, float64), ``forward``, ``getOutputData``. Inference only.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from vggcli.dlp import emulator
from vggcli.dlp.calibrate import default_params, quantized_layers
from vggcli.dlp.quant import QuantParams
from vggcli.engine.network import ForwardResult
from vggcli.engine.vgg19 import CLASSIFIER_INPUT, Layer, LayerCost, plan
from vggcli.engine.weightset import WeightSet
from vggcli.errors import NotFinite, OutputError, UsageError
from vggcli.storage.folders import build
from vggcli.storage.locks import locked
from vggcli.storage.paths import cache_dir

INT8_FORMAT = 1  # the layout of the int8 filter cache: <layer>.int8.npy, <layer>.bias.npy
CORES = 16  # an MLU270 has 16 cores; the course's code asks for all of them
DLP_TOLERANCE = 0.05  # per layer, on the float network's input: int8 steps plus fp16 rounding


def load_pycnml():
    """The real pycnml module, or None when it is not installed."""
    try:
        return importlib.import_module("pycnml")
    except ImportError:
        return None


class DlpNetwork:
    """The classifier of ``weights`` on a DLP: ``forward(x)`` gives the softmax output.

    ``module`` is pycnml or the emulator (default: pycnml when importable). ``description``
    says which ran; with the emulator every layer's output is available as a tap. A
    :class:`vggcli.models.Model`, inference only; ``quant_source`` names the file of its
    int8 parameters.
    """

    name = "dlp"
    inference_only = True
    tolerance = DLP_TOLERANCE

    def __init__(
        self,
        weights: WeightSet,
        quant: QuantParams,
        module=None,
        quant_source: str = "given",
        notify: Callable[[str], None] | None = None,
    ) -> None:
        if not weights.has_classifier:
            raise UsageError(
                "the DLP path runs the whole classifier: it needs the full "
                "MatConvNet weights (run `vgg fetch-weights`)"
            )
        if module is None:
            module = load_pycnml() or emulator
        self.module = module
        self.emulated = module is emulator
        self.description = (
            "emulated int8 (pycnml not found)" if self.emulated else "pycnml on a Cambricon DLP"
        )
        self.weights = weights
        self.layers: tuple[Layer, ...] = weights.layers
        self.quant = quant
        self.quant_source = quant_source
        self.notify = notify
        self.net = self._build()

    @property
    def label(self) -> str:
        return f"{self.name}: {self.description}"

    def details(self) -> dict:
        return {"device": self.description, "quant_params": self.quant_source}

    def can_tap(self, name: str) -> bool:
        """The emulator gives every layer's output, the real pycnml only the softmax."""
        return name == "softmax" or (self.emulated and name in {la.name for la in self.layers})

    def _build(self):
        m, size = self.module, CLASSIFIER_INPUT
        net = m.CnmlNet(CORES)
        net.setInputShape(1, 3, size, size)
        for layer in self.layers:
            if layer.kind == "conv":
                qp = self.quant.input(layer.name)
                net.createConvLayer(
                    layer.name,
                    layer.cout,
                    layer.kernel,
                    layer.stride,
                    1,
                    layer.pad,
                    m.QuantParam(qp.position, qp.scale),
                )
            elif layer.kind == "relu":
                net.createReLuLayer(layer.name)
            elif layer.kind == "pool":
                net.createPoolingLayer(layer.name, layer.kernel, layer.stride)
            elif layer.kind == "flatten":
                pool5 = plan(self.layers, (1, 3, size, size))[self.layers.index(layer)]
                net.createFlattenLayer(layer.name, [1, pool5.out_shape[1], 1, 1])
            elif layer.kind == "fc":
                qp = self.quant.input(layer.name)
                net.createMlpLayer(layer.name, layer.cout, m.QuantParam(qp.position, qp.scale))
            elif layer.kind == "softmax":
                net.createSoftmaxLayer(layer.name, 1)
        if self.emulated:
            self._load_int8_filters(net)
        else:
            self._load_filters(net)
        return net

    def _parametrised(self) -> list[tuple[int, Layer, np.ndarray, np.ndarray]]:
        """(layer id, layer, filter, bias) of each conv/fc layer, the filter as pycnml takes it:
        conv [Cin, K, K, Cout] → [Cout, Cin, K, K], fc [in, out] → [out, in] (views)."""
        found = []
        for index, layer in enumerate(self.layers):
            if layer.kind in ("conv", "fc"):
                w, b = self.weights.params[layer.name]
                w = w.transpose(3, 0, 1, 2) if layer.kind == "conv" else w.T
                found.append((index, layer, w, b))
        return found

    def _filter_qp(self, layer: Layer):
        qp = self.quant.filter(layer.name)
        return self.module.QuantParam(qp.position, qp.scale)

    def _load_filters(self, net) -> None:
        """The course's loadParams calls (flattened float64), one layer at a time."""
        for index, layer, w, b in self._parametrised():
            net.loadParams(
                index,
                np.ascontiguousarray(w, dtype=np.float64).reshape(-1),
                np.asarray(b, dtype=np.float64).reshape(-1),
                self._filter_qp(layer),
            )

    def _load_int8_filters(self, net) -> None:
        """The emulator's filters from the int8 cache (memory-mapped), made on first use: the
        same int8 values loadParams would store, in a quarter of float32's memory."""
        folder = int8_folder(self.weights, self.quant)
        note = self.notify or (lambda message: None)

        def write(tmp: Path) -> None:
            note(f"preparing the int8 filters once, cached in {folder}")
            self._write_int8_filters(net, tmp)

        try:
            build(
                folder, write, on_wait=lambda: note(f"waiting for another process writing {folder}")
            )
        except (OSError, OutputError) as e:
            reason = getattr(e, "strerror", None) or e
            note(f"cannot cache the int8 filters ({reason}): kept in memory")
            for index, layer, w, b in self._parametrised():
                net.loadParams(index, w, b, self._filter_qp(layer))
            return
        with locked(folder, shared=True, optional=True):
            for index, layer, _, _ in self._parametrised():
                wq = np.load(folder / f"{layer.name}.int8.npy", mmap_mode="r", allow_pickle=False)
                b16 = np.load(folder / f"{layer.name}.bias.npy", allow_pickle=False)
                net.loadQuantizedParams(index, wq, b16, self._filter_qp(layer))

    def _write_int8_filters(self, net, folder: Path) -> None:
        for index, layer, w, b in self._parametrised():
            wq, b16 = net.quantizeParams(index, w, b, self._filter_qp(layer))
            np.save(folder / f"{layer.name}.int8.npy", wq)
            np.save(folder / f"{layer.name}.bias.npy", b16)
        meta = {
            "format": INT8_FORMAT,
            "description": f"int8 filters of {self.weights.description} for the dlp emulator",
        }
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

    def plan(self, in_shape, taps=("softmax",)) -> list[LayerCost]:
        return plan(self.layers, tuple(in_shape))

    def forward(
        self, x: np.ndarray, taps: Iterable[str] = ("softmax",), *, progress=None, **unused
    ) -> ForwardResult:
        """x [1, 3, 224, 224] preprocessed → the tapped outputs (any layer with the emulator,
        only the softmax with real pycnml). ``seconds`` is the time of ``net.forward()``,
        the lab manual's performance figure."""
        taps = list(taps)
        self.plan(x.shape)  # UsageError for a wrong input size
        if x.shape[0] != 1:
            raise UsageError("the DLP network takes one image at a time")
        for tap in taps:
            if not self.can_tap(tap):
                what = "any layer" if self.emulated else "the softmax output only"
                raise UsageError(f"cannot tap {tap!r}: the DLP path gives {what}")
        self.net.setInputData(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        start = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite output is checked
            self.net.forward()
        seconds = time.perf_counter() - start
        outputs = {"softmax": np.asarray(self.net.getOutputData(), np.float32).reshape(1, -1)}
        every = self.net.layer_outputs() if self.emulated else {}
        if not np.isfinite(outputs["softmax"]).all():
            raise NotFinite(self._where_not_finite(every))
        outputs.update({t: _as_engine_shape(t, every[t]) for t in taps if t != "softmax"})
        if progress:
            progress(self.layers[-1], sum(c.work for c in self.plan(x.shape)))
        return ForwardResult({t: outputs[t] for t in taps}, seconds=seconds)

    def _where_not_finite(self, every: dict[str, np.ndarray]) -> str:
        """The error of an output that is not finite, naming the first layer that made it
        (the emulator keeps every layer's output; a real DLP only the softmax's)."""
        first = next((name for name, y in every.items() if not np.isfinite(y).all()), None)
        if first is None:
            return "the DLP's softmax output is not finite (its layers cannot be inspected)"
        return (
            f"the int8 network's output is not finite: it first appears at {first} (its "
            "float16 activations overflow 65504, or the weights are not finite); try other "
            "--quant-params or weights"
        )

    def run_layer(self, name: str, x: np.ndarray) -> np.ndarray:
        """One emulated layer alone, on a float input (for ``vgg check``)."""
        if not self.emulated:
            raise UsageError("single layers can only be run on the emulator")
        if name.startswith(("fc", "relu6", "relu7", "softmax")):
            x = x.reshape(*x.shape, 1, 1)  # pycnml's layers after flatten are [N, F, 1, 1]
        return _as_engine_shape(name, self.net.run_layer(name, x))


def _as_engine_shape(name: str, y: np.ndarray) -> np.ndarray:
    """pycnml keeps [N, F, 1, 1] after flatten where the engine has [N, F]."""
    return y.reshape(y.shape[0], -1) if y.ndim == 4 and y.shape[2:] == (1, 1) else y


def build_dlp_network(
    weights: WeightSet,
    quant_params: Path | None = None,
    notify: Callable[[str], None] | None = None,
) -> DlpNetwork:
    """The DLP model of ``--backend dlp``: int8 parameters from ``quant_params`` (the course's
    .npz), or calibrated once on the packaged images and cached per weights file."""
    if not weights.has_classifier:
        raise UsageError(
            "the dlp backend runs the whole classifier and needs the full "
            "MatConvNet weights (run `vgg fetch-weights`)"
        )
    if quant_params is not None:
        quant = QuantParams.load(quant_params, quantized_layers(weights))
        source = str(quant_params)
    else:
        quant, path = default_params(weights, notify)
        source = str(path)
    return DlpNetwork(weights, quant, quant_source=source, notify=notify)


def int8_folder(weights: WeightSet, quant: QuantParams) -> Path:
    """Where the emulator's int8 filters of these weights and parameters are cached."""
    identity = json.dumps(
        [
            INT8_FORMAT,
            weights.sha256 or weights.path or weights.description,
            [(p.position, p.scale) for p in quant.filters],
        ]
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return cache_dir() / "dlp" / f"int8-{weights.source}-{key}"
