"""The timing harness of the benchmarks: timings, budgets and results, whatever is measured.

Every figure is a ratio measured in one run on one machine: speed-ups and errors are relative
to the first implementation listed. Nothing here asserts a speed.

A slow implementation (the loops reference) never hangs the user. Each one gets ``budget``
seconds: its first warm-up run is stopped as soon as it passes its share of the budget (the
loops backend reports progress after every output channel). If it does not fit, a single layer
is timed on as many output channels as fit and the times are scaled up to all of them (every
output channel costs the same); a whole network is estimated layer by layer from one output
channel each. The report says so whenever it extrapolated.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vggcli.engine.network import Network
from vggcli.measure.gradcheck import relative_error
from vggcli.measure.layercases import conv_case, pool_case
from vggcli.runtime import threads

ESTIMATED_NOTE = (
    "over budget: forward estimated layer by layer from one output channel of each conv and "
    "pool layer, the other layers left out; outputs not compared"
)


@dataclass(frozen=True)
class Timing:
    median_s: float
    min_s: float
    max_s: float
    runs: int

    def scaled(self, factor: float) -> Timing:
        return Timing(self.median_s * factor, self.min_s * factor, self.max_s * factor, self.runs)

    @staticmethod
    def of(seconds: Sequence[float]) -> Timing:
        return Timing(statistics.median(seconds), min(seconds), max(seconds), len(seconds))


@dataclass
class Result:
    """One implementation's figures. ``fraction`` < 1: only that share of the work was timed
    and the times were scaled up (``note`` says how)."""

    backend: str
    forward: Timing
    backward: Timing | None
    flops_forward: int
    max_rel_error: dict[str, float] = field(default_factory=dict)
    fraction: float = 1.0
    note: str = ""
    speedup_forward: float = 1.0
    speedup_backward: float | None = None
    mults_forward: int | None = None  # multiplications the implementation performs (conv)

    @property
    def gflops_forward(self) -> float:
        return self.flops_forward / self.forward.median_s / 1e9 if self.forward.median_s else 0.0


@dataclass
class BenchReport:
    """A benchmark's figures: its kind, its configuration and one result per implementation."""

    kind: str
    config: dict
    results: list[Result]


class BenchProgress:
    """What the library reports while it measures (no-op here; the CLI renders it)."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self) -> None: ...

    def finish(self) -> None: ...


# --- budget and timing -----------------------------------------------------------------------


class OverBudget(Exception):
    pass


class Deadline:
    """A progress callback that stops the run it watches once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    def tick(self, units: int = 0) -> None:
        if time.perf_counter() - self.start > self.seconds:
            raise OverBudget

    def progress(self, layer, units: int) -> None:  # the network's progress signature
        self.tick(units)


Run = Callable[..., tuple[float, "float | None", dict]]
"""run(deadline=None) → (forward seconds, backward seconds or None, outputs by name)."""


def fits(run: Run, allowed: float | None) -> bool:
    """One untimed run (the first warm-up), stopped once it passes ``allowed`` seconds."""
    if allowed is None:
        return True
    deadline = Deadline(allowed)
    try:
        forward, backward, _ = run(deadline)
    except OverBudget:
        return False
    return forward + (backward or 0.0) <= allowed


def timed(run: Run, label: str, warmup: int, repeat: int, progress: BenchProgress):
    """(forward Timing, backward Timing or None, outputs of the last run)."""
    progress.start(label, warmup + repeat)
    forward, backward = [], []
    for i in range(warmup + repeat):
        f, b, outputs = run()
        if i >= warmup:
            forward.append(f)
            if b is not None:
                backward.append(b)
        progress.advance()
    progress.finish()
    return Timing.of(forward), (Timing.of(backward) if backward else None), outputs


def with_errors_and_speedups(results: list[Result], outputs: dict[str, dict]) -> list[Result]:
    reference = outputs.get(results[0].backend)
    first = results[0]
    for r in results:
        if reference is not None and r.backend in outputs:
            ours = outputs[r.backend]
            r.max_rel_error = {
                k: relative_error(ours[k], v) for k, v in reference.items() if k in ours
            }
        r.speedup_forward = first.forward.median_s / r.forward.median_s
        if first.backward and r.backward:
            r.speedup_backward = first.backward.median_s / r.backward.median_s
    return results


def random_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A preprocessed image-like input: values like an RGB image minus the mean."""
    return np.random.default_rng(seed).uniform(-120, 130, shape).astype(np.float32)


def estimate_forward(network: Network, in_shape, taps) -> tuple[float, float]:
    """One forward pass, each conv and pool layer timed on one output channel and scaled up
    (slow backends only: their cost per channel is constant). (seconds, share timed)."""
    backend = network.backend
    costs = [c for c in network.plan(in_shape, taps) if c.layer.kind in ("conv", "pool")]
    total = timed = 0.0
    for cost in costs:
        layer = cost.layer
        if layer.kind == "conv":
            case = conv_case(cost.in_shape, layer.cout, layer.kernel, layer.stride, layer.pad)
            start = time.perf_counter()
            backend.conv2d_forward(case.x, case.w[..., :1], case.b[:1], layer.stride, layer.pad)
        else:
            case = pool_case(
                (*cost.in_shape[:1], 1, *cost.in_shape[2:]), layer.kernel, layer.stride
            )
            start = time.perf_counter()
            backend.maxpool2d_forward(case.x, layer.kernel, layer.stride)
        channels = layer.cout if layer.kind == "conv" else cost.in_shape[1]
        total += (time.perf_counter() - start) * channels
        timed += cost.work / channels
    return total, timed / sum(c.work for c in costs)


def network_results(
    runs: dict[str, Run],
    estimate: dict[str, Callable],
    flops: int,
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: BenchProgress,
) -> list[Result]:
    allowed = budget / (warmup + repeat) if budget else None
    results, outputs = [], {}
    for name, run in runs.items():
        budgeted = allowed is not None and name in estimate  # the others cannot be estimated
        if budgeted and not fits(run, allowed):
            seconds, fraction = estimate[name]()
            results.append(
                Result(
                    name,
                    Timing(seconds, seconds, seconds, 1),
                    None,
                    flops,
                    fraction=fraction,
                    note=ESTIMATED_NOTE,
                )
            )
            continue
        warm = max(warmup - 1, 0) if budgeted else warmup  # fits() ran the first warm-up
        fwd, bwd, outputs[name] = timed(run, name, warm, repeat, progress)
        results.append(Result(name, fwd, bwd, flops))
    return with_errors_and_speedups(results, outputs)


def progress_of(deadline: Deadline | None):
    """The network progress callback of a deadline (None: no deadline)."""
    return deadline.progress if deadline else None


def tick_of(deadline: Deadline | None):
    """The backend tick callback of a deadline (None: no deadline)."""
    return deadline.tick if deadline else None


def machine_info() -> dict:
    """What the figures depend on: CPU count, numpy and its BLAS, the OpenBLAS kernel choice."""
    info = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threads": threads.chosen(),
        "numpy": np.__version__,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except (TypeError, KeyError):  # numpy < 1.26 has no mode="dicts"
        pass
    return info
