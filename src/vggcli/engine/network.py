"""VGG19 run layer by layer with a backend's primitives: forward with taps, backward from taps.

``forward`` stops at the deepest requested tap and returns the tapped outputs; with
``record=True`` it also keeps what each layer's backward needs. ``backward`` takes gradients at
any of the recorded taps (for example a content loss at relu4_2 and style losses at relu1_1 …
relu5_1), walks back to the input and returns the gradient with respect to the input image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vggcli.engine import ops
from vggcli.engine.backends.base import Backend
from vggcli.engine.vgg19 import Layer, LayerCost, plan
from vggcli.engine.weightset import WeightSet
from vggcli.errors import UsageError

LayerProgress = Callable[[Layer, int], None]
"""Layer progress: called with a layer and the work units of it just done (see
:attr:`LayerCost.work`)."""

POOLING = ("max", "avg")
FLOAT32_TOLERANCE = 1e-4  # relative error of a float32 layer against another float32 order of sums


@dataclass
class ForwardResult:
    """Tapped outputs by layer name, and (when recorded) each layer's cache, in order.
    ``seconds``: the time of the computation proper, when the runner measures it itself."""

    outputs: dict[str, np.ndarray]
    trace: list[tuple[Layer, Any]] | None = None
    seconds: float | None = None


@dataclass
class BackwardResult:
    """The gradient with respect to the network input, and (when asked) dW, db per layer."""

    input: np.ndarray
    params: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class _LayerMeter:
    """Forwards a backend's partial progress and tops the layer up to its full work at the end."""

    def __init__(self, progress: LayerProgress | None, layer: Layer, total: int) -> None:
        self.progress, self.layer, self.total, self.done = progress, layer, total, 0

    def tick(self, units: int) -> None:
        self.done += units
        if self.progress:
            self.progress(self.layer, units)

    def finish(self) -> None:
        if self.progress and self.done < self.total:
            self.progress(self.layer, self.total - self.done)


class Network:
    """The layers of ``weights`` (VGG19, or narrower with the same topology) on ``backend``:
    a :class:`vggcli.models.Model` that can also run backward."""

    inference_only = False
    tolerance = FLOAT32_TOLERANCE

    def __init__(self, weights: WeightSet, backend: Backend, pooling: str = "max") -> None:
        if pooling not in POOLING:
            raise UsageError(f"pooling is {' or '.join(POOLING)}, not {pooling!r}")
        self.weights = weights
        self.backend = backend
        self.pooling = pooling  # "avg": every max pooling layer averages instead
        self.layers: tuple[Layer, ...] = weights.layers
        self._index = {layer.name: i for i, layer in enumerate(self.layers)}

    @property
    def name(self) -> str:
        """The backend's name: what ``--backend`` chose."""
        return self.backend.name

    @property
    def description(self) -> str:
        return self.backend.description

    @property
    def label(self) -> str:
        return self.backend.name

    def details(self) -> dict:
        return {}

    def can_tap(self, name: str) -> bool:
        """Every layer's output can be tapped."""
        return name in self._index

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def check_taps(self, taps: Iterable[str]) -> list[str]:
        """The tap names, validated; UsageError naming the valid ones otherwise."""
        taps = list(taps)
        if not taps:
            raise UsageError("no layer to compute: give at least one tap")
        for name in taps:
            if name not in self._index:
                hint = ""
                if name in ("flatten", "fc6", "relu6", "fc7", "relu7", "fc8", "softmax"):
                    hint = f" ({self.weights.description} has no classifier, fc6-fc8)"
                raise UsageError(
                    f"unknown layer {name!r}{hint}; valid layers: {', '.join(self.layer_names)}"
                )
        return taps

    def layers_for(self, taps: Iterable[str]) -> tuple[Layer, ...]:
        """The layers that must run to produce ``taps``: up to the deepest one."""
        last = max(self._index[name] for name in self.check_taps(taps))
        return self.layers[: last + 1]

    def plan(self, in_shape: tuple[int, ...], taps: Iterable[str]) -> list[LayerCost]:
        """Shapes and costs of the layers that run for ``taps`` on an input of ``in_shape``."""
        return plan(self.layers_for(taps), tuple(in_shape))

    def forward(
        self,
        x: np.ndarray,
        taps: Iterable[str] = ("softmax",),
        *,
        record: bool = False,
        progress: LayerProgress | None = None,
        timings: dict[str, float] | None = None,
    ) -> ForwardResult:
        """Run x [N, 3, H, W] (preprocessed, see :mod:`vggcli.images`) up to the deepest tap.

        ``record`` keeps each layer's cache for :meth:`backward`; ``timings``, when given, is
        filled with each layer's seconds.
        """
        taps = set(self.check_taps(taps))
        costs = self.plan(x.shape, taps)
        outputs: dict[str, np.ndarray] = {}
        trace: list[tuple[Layer, Any]] | None = [] if record else None
        current = x
        current_is_held = True  # by the caller or as a tap: then ReLU must not overwrite it
        for cost in costs:
            layer = cost.layer
            forward = self._kind(layer).forward
            current, cache = self._measured(
                layer, cost.work, progress, timings, forward, current, not current_is_held
            )
            current_is_held = layer.name in taps
            if trace is not None:
                trace.append((layer, cache))
            if layer.name in taps:
                outputs[layer.name] = current
        return ForwardResult(outputs, trace)

    def run_layer(self, name: str, x: np.ndarray) -> np.ndarray:
        """The output of the single layer ``name`` for the input ``x`` (x is not modified)."""
        (layer,) = (la for la in self.layers if la.name == self.check_taps([name])[0])
        return self._kind(layer).forward(self, layer, x, False, None)[0]

    def backward(
        self,
        result: ForwardResult,
        grads: Mapping[str, np.ndarray],
        *,
        param_grads: bool = False,
        progress: LayerProgress | None = None,
        timings: dict[str, float] | None = None,
    ) -> BackwardResult:
        """Back-propagate ``grads`` (layer name → dL/d output of that layer) to the input.

        ``result`` must come from ``forward(..., record=True)`` and include every layer named in
        ``grads``. Gradients meeting at a layer are summed. With ``param_grads`` dW and db of
        every conv and fc layer on the way are returned too.
        """
        if result.trace is None:
            raise ValueError("backward needs a forward pass run with record=True")
        recorded = {layer.name for layer, _ in result.trace}
        for name in grads:
            if name not in recorded:
                raise UsageError(
                    f"no gradient path from {name!r}: the forward pass stopped earlier"
                )
        pending = dict(grads)
        params: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        grad: np.ndarray | None = None
        for layer, cache in reversed(result.trace):
            if layer.name in pending:
                g = pending.pop(layer.name)
                grad = g if grad is None else grad + g
            if grad is None:
                continue
            backward = self._kind(layer).backward
            grad, dparams = self._measured(
                layer, 0, progress, timings, backward, cache, grad, param_grads
            )
            if dparams is not None:
                params[layer.name] = dparams
        return BackwardResult(grad, params)

    def _kind(self, layer: Layer) -> LayerKind:
        """The forward/backward pair that runs ``layer`` (pooling as this network pools)."""
        kind = layer.kind
        if kind == "pool":
            kind = f"{self.pooling}pool"
        return LAYER_KINDS[kind]

    def _measured(self, layer: Layer, work: int, progress, timings, run: Callable, *args):
        """``run(self, layer, *args, tick)`` (a forward or a backward of :data:`LAYER_KINDS`),
        its progress reported (``work`` units) and its seconds kept in ``timings``."""
        meter = _LayerMeter(progress, layer, work)
        start = time.perf_counter()
        out = run(self, layer, *args, meter.tick)
        if timings is not None:
            timings[layer.name] = time.perf_counter() - start
        meter.finish()
        return out


# --- each kind of layer: forward and backward side by side -------------------------------------
# forward(net, layer, x, may_overwrite, tick) -> (y, cache)
#   may_overwrite: x belongs to nobody else (ReLU may write its output into it)
# backward(net, layer, cache, dy, param_grads, tick) -> (dx, (dW, db) or None)


def _conv_forward(net: Network, layer: Layer, x, may_overwrite, tick):
    w, b = net.weights.params[layer.name]
    return net.backend.conv2d_forward(x, w, b, layer.stride, layer.pad, tick=tick)


def _conv_backward(net: Network, layer: Layer, cache, dy, param_grads, tick):
    dx, dw, db = net.backend.conv2d_backward(dy, cache, param_grads=param_grads, tick=tick)
    return dx, ((dw, db) if param_grads else None)


def _maxpool_forward(net: Network, layer: Layer, x, may_overwrite, tick):
    return net.backend.maxpool2d_forward(x, layer.kernel, layer.stride, tick=tick)


def _maxpool_backward(net: Network, layer: Layer, cache, dy, param_grads, tick):
    return net.backend.maxpool2d_backward(dy, cache, tick=tick), None


def _avgpool_forward(net: Network, layer: Layer, x, may_overwrite, tick):
    return ops.avgpool_forward(x, layer.kernel, layer.stride), x.shape


def _avgpool_backward(net: Network, layer: Layer, x_shape, dy, param_grads, tick):
    return ops.avgpool_backward(dy, x_shape, layer.kernel, layer.stride), None


def _relu_forward(net: Network, layer: Layer, x, may_overwrite, tick):
    y = ops.relu_forward(x, inplace=may_overwrite)
    return y, y


def _relu_backward(net: Network, layer: Layer, y, dy, param_grads, tick):
    return ops.relu_backward(dy, y), None


def _flatten_forward(net: Network, layer: Layer, x, may_overwrite, tick):
    return ops.flatten_forward(x), x.shape


def _flatten_backward(net: Network, layer: Layer, x_shape, dy, param_grads, tick):
    return ops.flatten_backward(dy, x_shape), None


def _fc_forward(net: Network, layer: Layer, x, may_overwrite, tick):
    w, b = net.weights.params[layer.name]
    return ops.linear_forward(x, w, b), x


def _fc_backward(net: Network, layer: Layer, x, dy, param_grads, tick):
    w, _ = net.weights.params[layer.name]
    dx, dw, db = ops.linear_backward(dy, x, w, param_grads)
    return dx, ((dw, db) if param_grads else None)


def _softmax_forward(net: Network, layer: Layer, x, may_overwrite, tick):
    y = ops.softmax_forward(x)
    return y, y


def _softmax_backward(net: Network, layer: Layer, y, dy, param_grads, tick):
    return ops.softmax_backward(dy, y), None


@dataclass(frozen=True)
class LayerKind:
    """How a kind of layer runs: its forward and its backward (see the comment above)."""

    forward: Callable
    backward: Callable


LAYER_KINDS = {
    "conv": LayerKind(_conv_forward, _conv_backward),
    "maxpool": LayerKind(_maxpool_forward, _maxpool_backward),
    "avgpool": LayerKind(_avgpool_forward, _avgpool_backward),
    "relu": LayerKind(_relu_forward, _relu_backward),
    "flatten": LayerKind(_flatten_forward, _flatten_backward),
    "fc": LayerKind(_fc_forward, _fc_backward),
    "softmax": LayerKind(_softmax_forward, _softmax_backward),
}
