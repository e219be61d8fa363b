"""Per-layer cost and time of a network pass (lab manual §3.1.7 question 3, §3.3.7 question 2).

For every layer: output shape, parameters, multiplications and additions (from the formulas,
:mod:`vggcli.engine.vgg19`), the multiplications the backend really performs, and the measured
forward (and backward) milliseconds, median over repeats.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vggcli import models
from vggcli.engine.network import Network
from vggcli.engine.vgg19 import LayerCost
from vggcli.errors import UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.measure.harness import random_input
from vggcli.weights.resolve import resolve_weights


@dataclass(frozen=True)
class LayerProfile:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    mults: int
    adds: int
    mults_performed: int  # what the backend really multiplies (fewer with Winograd)
    forward_ms: float
    backward_ms: float | None

    @property
    def gflops_forward(self) -> float:
        return (self.mults + self.adds) / self.forward_ms / 1e6 if self.forward_ms else 0.0


@dataclass(frozen=True)
class Profile:
    backend: str
    input_shape: tuple[int, ...]
    layers: list[LayerProfile]

    @property
    def total_forward_ms(self) -> float:
        return sum(layer.forward_ms for layer in self.layers)

    @property
    def total_backward_ms(self) -> float | None:
        if any(layer.backward_ms is None for layer in self.layers):
            return None
        return sum(layer.backward_ms for layer in self.layers)


def profile_network(
    network: Network,
    x: np.ndarray,
    last: str,
    *,
    repeat: int = 3,
    backward: bool = False,
    param_grads: bool = False,
    on_pass=None,
) -> Profile:
    """Time every layer up to ``last`` on input x: median of ``repeat`` passes (after two
    warm-up passes). With ``backward``, also back-propagate a fixed random gradient from ``last``
    (dX only, as in style transfer; dW and db too with ``param_grads``)."""
    costs = network.plan(x.shape, [last])
    forward_runs: list[dict[str, float]] = []
    backward_runs: list[dict[str, float]] = []
    rng = np.random.default_rng(0)
    warmup = 2  # caches, buffers and the filter transforms a backend keeps from a second use
    for i in range(repeat + warmup):
        f_times: dict[str, float] = {}
        result = network.forward(x, [last], record=backward, timings=f_times)
        if backward:
            b_times: dict[str, float] = {}
            g = rng.standard_normal(result.outputs[last].shape).astype(np.float32)
            network.backward(result, {last: g}, param_grads=param_grads, timings=b_times)
        if i >= warmup:
            forward_runs.append(f_times)
            if backward:
                backward_runs.append(b_times)
        if on_pass:
            on_pass()
    layers = []
    for cost in costs:
        name = cost.layer.name
        fwd = statistics.median(run[name] for run in forward_runs) * 1e3
        bwd = statistics.median(run[name] for run in backward_runs) * 1e3 if backward else None
        layers.append(
            LayerProfile(
                name,
                cost.layer.kind,
                cost.out_shape,
                cost.params,
                cost.mults,
                cost.adds,
                _performed(network, cost),
                fwd,
                bwd,
            )
        )
    return Profile(network.backend.name, tuple(x.shape), layers)


def _performed(network: Network, cost: LayerCost) -> int:
    """The multiplications the backend performs for a layer (conv: its own count)."""
    layer = cost.layer
    if layer.kind != "conv":
        return cost.mults
    w_shape = (layer.cin, layer.kernel, layer.kernel, layer.cout)
    return network.backend.conv_multiplications(cost.in_shape, w_shape, layer.stride, layer.pad)


def run_profile(
    backend: str,
    weights_spec: str | None,
    size: tuple[int, int],
    image: Path | None = None,
    *,
    repeat: int = 3,
    backward: bool = False,
    param_grads: bool = False,
    on_pass=None,
    notify=None,
) -> Profile:
    """``vgg profile``: the network of ``--backend`` on ``image`` (or a random image) at
    ``size``, to the softmax when the weights have a classifier and the size is 224x224."""
    entry = models.require(backend)
    if entry.layer_backend is None:
        raise UsageError(
            f"vgg profile times the layers of a float backend; time the {entry.name} path "
            f"with `vgg bench vgg19 --compare img2col,{entry.name}`"
        )
    weights = resolve_weights(weights_spec, need_classifier=False, notify=notify)
    network = models.build_model(backend, weights, need_gradients=True)
    if image is not None:
        x = to_input(resize(load_image(image), size), weights.preprocessing)
    else:
        x = random_input((1, 3, *size))
    last = "softmax" if weights.has_classifier and size == (224, 224) else "pool5"
    return profile_network(
        network,
        x,
        last,
        repeat=repeat,
        backward=backward,
        param_grads=param_grads,
        on_pass=on_pass,
    )
