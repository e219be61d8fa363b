"""Per-layer cost and time of a network pass (lab manual §3.1.7 question 3, §3.3.7 question 2).

For every layer: output shape, parameters, multiplications and additions (from the formulas,
:mod:`vggcli.engine.vgg19`), and the measured forward (and backward) milliseconds, median over repeats.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from vggcli.engine.network import Network


@dataclass(frozen=True)
class LayerProfile:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    mults: int
    adds: int
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

    def as_json(self) -> dict:
        return {
            "backend": self.backend,
            "input_shape": list(self.input_shape),
            "layers": [
                {
                    "name": la.name,
                    "output_shape": list(la.output_shape),
                    "params": la.params,
                    "mults": la.mults,
                    "adds": la.adds,
                    "forward_ms": la.forward_ms,
                    "backward_ms": la.backward_ms,
                }
                for la in self.layers
            ],
            "total_forward_ms": self.total_forward_ms,
            "total_backward_ms": self.total_backward_ms,
        }


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
    """Time every layer up to ``last`` on input x: median of ``repeat`` passes (after one
    warm-up pass). With ``backward``, also back-propagate a fixed random gradient from ``last``
    (dX only, as in style transfer; dW and db too with ``param_grads``)."""
    costs = network.plan(x.shape, [last])
    forward_runs: list[dict[str, float]] = []
    backward_runs: list[dict[str, float]] = []
    rng = np.random.default_rng(0)
    for i in range(repeat + 1):
        f_times: dict[str, float] = {}
        result = network.forward(x, [last], record=backward, timings=f_times)
        if backward:
            b_times: dict[str, float] = {}
            g = rng.standard_normal(result.outputs[last].shape).astype(np.float32)
            network.backward(result, {last: g}, param_grads=param_grads, timings=b_times)
        if i:  # the first pass warms caches and buffers up
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
                name, cost.layer.kind, cost.out_shape, cost.params, cost.mults, cost.adds, fwd, bwd
            )
        )
    return Profile(network.backend.name, tuple(x.shape), layers)
