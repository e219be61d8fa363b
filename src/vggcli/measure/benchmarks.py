"""Benchmarks: forward/backward timings, GFLOP/s, speed-ups and errors between implementations.

Every figure is a ratio measured in one run on one machine: speed-ups and errors are relative
to the first implementation listed. Nothing here asserts a speed.

Kinds: ``conv`` and ``pool`` (one layer, forward and backward: dX, and dW/db for conv),
``vgg19`` (the whole network's forward) and ``stylize`` (one style-transfer step: forward to
the deepest loss layer with the manual's losses, then backward to the image).

A slow implementation (the loops reference) never hangs the user. Each one gets ``budget``
seconds: its first warm-up run is stopped as soon as it passes its share of the budget (the
loops backend reports progress after every output channel). If it does not fit, a single layer
is timed on as many output channels as fit and the times are scaled up to all of them (every
output channel costs the same); a whole network is estimated layer by layer from one output
channel each. The report says so whenever it extrapolated.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vggcli.engine.backends import BACKENDS, get_backend
from vggcli.engine.backends.base import Backend
from vggcli.engine.network import Network
from vggcli.engine.vgg19 import LayerCost, plan, vgg19_layers
from vggcli.errors import UsageError
from vggcli.measure.gradcheck import relative_error
from vggcli.measure.layercases import conv_case, pool_case
from vggcli.weights.weightset import WeightSet

KINDS = ("conv", "pool", "vgg19", "stylize")
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

    def as_dict(self) -> dict:
        return {"median_s": self.median_s, "min_s": self.min_s, "max_s": self.max_s}

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

    @property
    def gflops_forward(self) -> float:
        return self.flops_forward / self.forward.median_s / 1e9 if self.forward.median_s else 0.0

    def as_json(self) -> dict:
        return {
            "backend": self.backend,
            "forward": self.forward.as_dict(),
            "backward": self.backward.as_dict() if self.backward else None,
            "gflops_forward": self.gflops_forward,
            "speedup_forward": self.speedup_forward,
            "speedup_backward": self.speedup_backward,
            "max_rel_error": self.max_rel_error,
            "extrapolated": self.fraction < 1,
            "fraction_timed": self.fraction,
            "note": self.note,
        }


@dataclass
class Report:
    kind: str
    config: dict
    results: list[Result]

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "config": self.config,
            "results": [r.as_json() for r in self.results],
        }


class Progress:
    """What the library reports while it measures (no-op here; the CLI renders it)."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self) -> None: ...

    def finish(self) -> None: ...


# --- budget and timing -----------------------------------------------------------------------


class _OverBudget(Exception):
    pass


class _Deadline:
    """A progress callback that stops the run it watches once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    def tick(self, units: int = 0) -> None:
        if time.perf_counter() - self.start > self.seconds:
            raise _OverBudget

    def progress(self, layer, units: int) -> None:  # the network's progress signature
        self.tick(units)


Run = Callable[..., tuple[float, "float | None", dict]]
"""run(deadline=None) → (forward seconds, backward seconds or None, outputs by name)."""


def _fits(run: Run, allowed: float | None) -> bool:
    """One untimed run (the first warm-up), stopped once it passes ``allowed`` seconds."""
    if allowed is None:
        return True
    deadline = _Deadline(allowed)
    try:
        forward, backward, _ = run(deadline)
    except _OverBudget:
        return False
    return forward + (backward or 0.0) <= allowed


def _timed(run: Run, label: str, warmup: int, repeat: int, progress: Progress):
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


def _with_errors_and_speedups(results: list[Result], outputs: dict[str, dict]) -> list[Result]:
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


def parse_compare(text: str, whole_network: bool = False) -> list[str]:
    """'loops,img2col' → names, checked against the backends and ``torch`` (and ``dlp``,
    which runs whole networks only, when ``whole_network``)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = [*BACKENDS, "torch", *(("dlp", "dlp-pycnml") if whole_network else ())]
    for name in names:
        if name in ("dlp", "dlp-pycnml") and not whole_network:
            raise UsageError(
                "dlp runs whole networks only: use `vgg bench vgg19 --compare img2col,dlp`"
            )
        if name not in known:
            raise UsageError(f"unknown implementation {name!r}; choose from: {', '.join(known)}")
    if not names or len(set(names)) != len(names):
        raise UsageError("--compare takes distinct names separated by commas")
    return names


def _implementation(name: str):
    from vggcli.measure.torch_reference import TORCH, TorchOps

    return TorchOps() if name == TORCH else get_backend(name)


# --- single layers -------------------------------------------------------------------------


def layer_geometry(name: str, size: tuple[int, int]) -> LayerCost:
    """The shape and cost of VGG19's layer ``name`` for an input image of ``size``."""
    layers = vgg19_layers(fc=None)
    names = [layer.name for layer in layers]
    if name not in names or layers[names.index(name)].kind not in ("conv", "pool"):
        choices = [layer.name for layer in layers if layer.kind in ("conv", "pool")]
        raise UsageError(f"--layer takes a conv or pool layer of VGG19: {', '.join(choices)}")
    return plan(layers, (1, 3, *size))[names.index(name)]


def bench_layer(
    case,
    names: Sequence[str],
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: Progress | None = None,
) -> list[Result]:
    """Every implementation on one conv or pool case; errors on the output channels that all
    of them computed."""
    progress = progress or Progress()
    allowed = budget / (warmup + repeat) if budget else None
    results, outputs, channels = [], {}, {}
    for name in names:
        impl = _implementation(name)
        k = case.channels
        if not _fits(lambda deadline=None, impl=impl: case.run(impl, _tick_of(deadline)), allowed):
            one = sum(case.sliced(1).run(impl)[:2])  # the cost of one output channel
            k = max(1, min(case.channels, math.floor(allowed / one)))
        sub = case.sliced(k)
        label = f"{name}: forward + backward" + (
            f" ({k}/{case.channels} channels)" if k < case.channels else ""
        )
        warm = max(warmup - 1, 0) if allowed and k == case.channels else 0
        fwd, bwd, out = _timed(
            lambda impl=impl, sub=sub: sub.run(impl), label, warm, repeat, progress
        )
        scale = case.channels / k
        note = f"timed on {k} of {case.channels} output channels, scaled up" if scale > 1 else ""
        results.append(
            Result(
                name,
                fwd.scaled(scale),
                bwd.scaled(scale),
                case.flops,
                fraction=k / case.channels,
                note=note,
            )
        )
        outputs[name], channels[name] = out, k
    common = min(channels.values())
    for name in names:  # the same channels for everyone, so the errors compare like with like
        if channels[name] != common:
            outputs[name] = case.sliced(common).run(_implementation(name))[2]
    return _with_errors_and_speedups(results, outputs)


# --- whole networks ------------------------------------------------------------------------


def random_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A preprocessed image-like input: values like an RGB image minus the mean."""
    return np.random.default_rng(seed).uniform(-120, 130, shape).astype(np.float32)


def estimate_forward(backend: Backend, network: Network, in_shape, taps) -> tuple[float, float]:
    """One forward pass, each conv and pool layer timed on one output channel and scaled up
    (slow backends only: their cost per channel is constant). (seconds, share timed)."""
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


def _network_results(
    runs: dict[str, Run],
    estimate: dict[str, Callable],
    flops: int,
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: Progress,
) -> list[Result]:
    allowed = budget / (warmup + repeat) if budget else None
    results, outputs = [], {}
    for name, run in runs.items():
        if not _fits(run, allowed):
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
        warm = max(warmup - 1, 0) if allowed else warmup
        fwd, bwd, outputs[name] = _timed(run, f"{name}", warm, repeat, progress)
        results.append(Result(name, fwd, bwd, flops))
    return _with_errors_and_speedups(results, outputs)


def _progress_of(deadline: _Deadline | None):
    """The network progress callback of a deadline (None: no deadline)."""
    return deadline.progress if deadline else None


def _tick_of(deadline: _Deadline | None):
    """The backend tick callback of a deadline (None: no deadline)."""
    return deadline.tick if deadline else None


def bench_vgg19(
    weights: WeightSet,
    names: Sequence[str],
    size: tuple[int, int],
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: Progress | None = None,
    runners: dict[str, Callable] | None = None,
) -> tuple[list[Result], dict]:
    """The whole network's forward at ``size``: to the softmax when the weights have a
    classifier and the size is 224x224, else to pool5. ``runners`` adds name → forward(x, taps)
    for implementations that are not backends."""
    from vggcli.measure.torch_reference import TORCH, TorchVGG

    in_shape = (1, 3, *size)
    taps = ("pool5", "softmax") if weights.has_classifier and size == (224, 224) else ("pool5",)
    x = random_input(in_shape)
    flops = sum(c.flops for c in Network(weights, get_backend("img2col")).plan(in_shape, taps))
    runs, estimate = {}, {}
    for name in names:
        if (runners and name in runners) or name == TORCH:
            forward = runners[name] if runners and name in runners else TorchVGG(weights).forward

            def run(deadline=None, forward=forward):
                start = time.perf_counter()
                out = forward(x, taps)
                return time.perf_counter() - start, None, out
        else:
            network = Network(weights, get_backend(name))

            def run(deadline=None, network=network):
                start = time.perf_counter()
                out = network.forward(x, taps, progress=_progress_of(deadline)).outputs
                return time.perf_counter() - start, None, out

            estimate[name] = lambda network=network: estimate_forward(
                network.backend, network, in_shape, taps
            )
        runs[name] = run
    results = _network_results(
        runs,
        estimate,
        flops,
        repeat=repeat,
        warmup=warmup,
        budget=budget,
        progress=progress or Progress(),
    )
    return results, {
        "input_shape": list(in_shape),
        "taps": list(taps),
        "weights": weights.description,
    }


def bench_stylize(
    weights: WeightSet,
    names: Sequence[str],
    size: tuple[int, int],
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: Progress | None = None,
) -> tuple[list[Result], dict]:
    """One style-transfer step with the manual's losses: forward (to the deepest loss layer,
    losses included), then backward to the image."""
    from vggcli.measure.torch_reference import TORCH
    from vggcli.style.transfer import Objective, StyleOptions

    in_shape = (1, 3, *size)
    content, style, x = (random_input(in_shape, seed) for seed in (1, 2, 3))
    options = StyleOptions()
    base = Objective(Network(weights, get_backend("img2col")), content, [(style, 1.0)], options)
    flops = sum(c.flops for c in base.network.plan(in_shape, base.taps))
    runs, estimate = {}, {}
    for name in names:
        if name == TORCH:
            runs[name] = _torch_style_step(weights, base, x)
            continue
        objective = base.on(Network(weights, get_backend(name)))

        def run(deadline=None, objective=objective):
            start = time.perf_counter()
            losses, result, grads = objective.forward(x, progress=_progress_of(deadline))
            middle = time.perf_counter()
            dx = objective.backward(x, result, grads, progress=_progress_of(deadline))
            return (
                middle - start,
                time.perf_counter() - middle,
                {"total": np.array(losses.total), "dx": dx},
            )

        runs[name] = run
        estimate[name] = lambda objective=objective: estimate_forward(
            objective.network.backend, objective.network, in_shape, objective.taps
        )
    results = _network_results(
        runs,
        estimate,
        flops,
        repeat=repeat,
        warmup=warmup,
        budget=budget,
        progress=progress or Progress(),
    )
    return results, {
        "input_shape": list(in_shape),
        "content_layers": list(options.content_layers),
        "style_layers": [name for name, _ in options.style_layers],
        "weights": weights.description,
    }


def _torch_style_step(weights: WeightSet, objective, x: np.ndarray) -> Run:
    """The same step in torch: TorchVGG to the loss layers, the manual's losses, autograd."""
    from vggcli.measure.torch_reference import TorchStyleLoss

    loss = TorchStyleLoss(weights, objective)

    def run(deadline=None):
        start = time.perf_counter()
        xt = loss.torch.from_numpy(np.array(x)).requires_grad_(True)
        total = loss(xt)
        middle = time.perf_counter()
        total.backward()
        return (
            middle - start,
            time.perf_counter() - middle,
            {"total": np.array(total.item()), "dx": xt.grad.numpy()},
        )

    return run


def machine_info() -> dict:
    """What the figures depend on: CPU count, numpy and its BLAS, the OpenBLAS kernel choice."""
    info = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except (TypeError, KeyError):  # numpy < 1.26 has no mode="dicts"
        pass
    return info
