"""The benchmark kinds of ``vgg bench``: what is timed, on which inputs, against what.

``conv`` and ``pool``: one layer, forward and backward (dX, and dW/db for conv), on VGG19's
geometry of ``--layer`` or an explicit shape. ``vgg19``: the whole network's forward. ``stylize``:
one style-transfer step (forward to the deepest loss layer with the manual's losses, then
backward to the image). Implementations are ``--backend`` names or ``torch``; the timing,
budgets and ratios are :mod:`vggcli.measure.harness`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vggcli import models
from vggcli.engine.network import Network
from vggcli.engine.vgg19 import LayerCost, plan, vgg19_layers
from vggcli.engine.weightset import WeightSet
from vggcli.errors import UsageError
from vggcli.measure import torch_reference
from vggcli.measure.harness import (
    BenchProgress,
    BenchReport,
    Result,
    estimate_forward,
    fits,
    machine_info,
    network_results,
    progress_of,
    random_input,
    tick_of,
    timed,
    with_errors_and_speedups,
)
from vggcli.measure.layercases import ConvCase, PoolCase, conv_case, pool_case
from vggcli.measure.torch_reference import TORCH
from vggcli.style.objective import Objective, StyleOptions
from vggcli.weights.resolve import resolve_weights

KINDS = ("conv", "pool", "vgg19", "stylize")
DEFAULTS = {  # kind: (--compare, --size, --layer)
    "conv": ("loops,img2col", (112, 112), "conv3_1"),
    "pool": ("loops,img2col", (112, 112), "pool1"),
    "vgg19": ("img2col", (224, 224), None),
    "stylize": ("img2col", (192, 320), None),
}


@dataclass(frozen=True)
class BenchRequest:
    """What ``vgg bench`` was asked; None means the kind's default (:data:`DEFAULTS`)."""

    kind: str
    compare: str | None = None
    size: tuple[int, int] | None = None
    layer: str | None = None
    shape: tuple[int, int, int, int] | None = None  # conv/pool: explicit input NCHW
    cout: int | None = None
    kernel: int = 3
    stride: int | None = None
    pad: int = 1
    repeat: int = 3
    warmup: int = 1
    budget: float | None = 20.0  # seconds per implementation; None: no limit
    weights: str = "random"
    quant_params: object = None  # dlp: a Path


def run_bench(
    request: BenchRequest,
    progress: BenchProgress | None = None,
    notify: Callable[[str], None] | None = None,
) -> BenchReport:
    """Set up and run the benchmark ``request`` describes; the report of its figures."""
    if request.kind not in KINDS:
        raise UsageError(f"unknown benchmark {request.kind!r}; choose one of: {', '.join(KINDS)}")
    if request.budget is not None and not (math.isfinite(request.budget) and request.budget >= 0):
        raise UsageError(f"--budget is a number of seconds, got {request.budget}")
    default_compare, default_size, _ = DEFAULTS[request.kind]
    names = parse_compare(request.compare or default_compare, whole_network=request.kind == "vgg19")
    if TORCH in names:
        torch_reference.load_torch()
    size = request.size or default_size
    budget = request.budget or None
    progress = progress or BenchProgress()
    options = {"repeat": request.repeat, "warmup": request.warmup, "budget": budget}
    config: dict = {
        "repeat": request.repeat,
        "warmup": request.warmup,
        "budget_s": budget,
        "dtype": "float32",
    }
    if request.kind in ("conv", "pool"):
        case, geometry = layer_case(request, size)
        results = bench_layer(case, names, progress=progress, **options)
    else:
        weights = resolve_weights(request.weights, need_classifier=False, notify=notify)
        models_ = {
            name: models.build_model(
                name, weights, quant_params=request.quant_params, notify=notify
            )
            for name in names
            if name != TORCH
        }
        for model in models_.values():
            if model.details():
                config[model.name] = model.details()
        bench = bench_vgg19 if request.kind == "vgg19" else bench_stylize
        results, geometry = bench(weights, models_, names, size, progress=progress, **options)
    return BenchReport(request.kind, {**geometry, **config, "machine": machine_info()}, results)


def parse_compare(text: str, whole_network: bool = False) -> list[str]:
    """'loops,img2col' → names, checked against the backends and ``torch``; inference-only
    backends (dlp) run whole networks only, so they are allowed with ``whole_network``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise UsageError("--compare takes distinct names separated by commas")
    for name in names:
        if name == TORCH:
            continue
        known_choices = models.choices()
        if name not in known_choices and not any(name in c.aliases for c in known_choices.values()):
            known = ", ".join([*known_choices, TORCH])
            raise UsageError(f"unknown implementation {name!r}; choose from: {known}")
        entry = models.choice(name)
        if entry.layer_backend is None and not whole_network:
            raise UsageError(
                f"{entry.name} runs whole networks only: use "
                f"`vgg bench vgg19 --compare img2col,{entry.name}`"
            )
    return names


# --- single layers -------------------------------------------------------------------------


def layer_geometry(name: str, size: tuple[int, int]) -> LayerCost:
    """The shape and cost of VGG19's layer ``name`` for an input image of ``size``."""
    layers = vgg19_layers(fc=None)
    names = [layer.name for layer in layers]
    if name not in names or layers[names.index(name)].kind not in ("conv", "pool"):
        choices = [layer.name for layer in layers if layer.kind in ("conv", "pool")]
        raise UsageError(f"--layer takes a conv or pool layer of VGG19: {', '.join(choices)}")
    return plan(layers, (1, 3, *size))[names.index(name)]


def layer_case(request: BenchRequest, size: tuple[int, int]) -> tuple[ConvCase | PoolCase, dict]:
    """The conv or pool problem of ``request`` and its geometry (for the report)."""
    kind, kernel, pad, stride, cout = (
        request.kind,
        request.kernel,
        request.pad,
        request.stride,
        request.cout,
    )
    if request.shape:
        shape = request.shape
        if kind == "conv" and cout is None:
            raise UsageError("--shape needs --cout for a conv")
        geometry: dict = {"input_shape": list(shape)}
    else:
        cost = layer_geometry(request.layer or DEFAULTS[kind][2], size)
        if cost.layer.kind != kind:
            raise UsageError(f"{cost.layer.name} is not a {kind} layer")
        shape, cout = cost.in_shape, cost.layer.cout
        kernel, pad, stride = cost.layer.kernel, cost.layer.pad, cost.layer.stride
        geometry = {"layer": cost.layer.name, "image_size": list(size), "input_shape": list(shape)}
    if kind == "conv":
        stride = stride or 1
        geometry.update(cout=cout, kernel=kernel, stride=stride, pad=pad)
        return conv_case(shape, cout, kernel, stride, pad), geometry
    stride = stride or 2
    geometry.update(kernel=kernel, stride=stride)
    return pool_case(shape, kernel, stride), geometry


def _implementation(name: str):
    """The conv/pool primitives of a backend name, or torch's."""
    if name == TORCH:
        return torch_reference.TorchOps()
    return models.layer_backend(name, "time it with `vgg bench vgg19`")


def bench_layer(
    case,
    names: Sequence[str],
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: BenchProgress | None = None,
) -> list[Result]:
    """Every implementation on one conv or pool case; errors on the output channels that all
    of them computed."""
    progress = progress or BenchProgress()
    allowed = budget / (warmup + repeat) if budget else None
    results, outputs, channels = [], {}, {}
    for name in names:
        impl = _implementation(name)
        k = case.channels
        if not fits(lambda deadline=None, impl=impl: case.run(impl, tick_of(deadline)), allowed):
            one = sum(case.sliced(1).run(impl)[:2])  # the cost of one output channel
            k = max(1, min(case.channels, math.floor(allowed / one)))
        sub = case.sliced(k)
        label = f"{name}: forward + backward" + (
            f" ({k}/{case.channels} channels)" if k < case.channels else ""
        )
        warm = max(warmup - 1, 0) if allowed and k == case.channels else 0
        fwd, bwd, out = timed(
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
                mults_forward=case.multiplications(impl),
            )
        )
        outputs[name], channels[name] = out, k
    common = min(channels.values())
    for name in names:  # the same channels for everyone, so the errors compare like with like
        if channels[name] != common:
            outputs[name] = case.sliced(common).run(_implementation(name))[2]
    return with_errors_and_speedups(results, outputs)


# --- whole networks ------------------------------------------------------------------------


def bench_vgg19(
    weights: WeightSet,
    built: dict[str, models.Model],
    names: Sequence[str],
    size: tuple[int, int],
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: BenchProgress | None = None,
) -> tuple[list[Result], dict]:
    """The whole network's forward at ``size``: to the softmax when the weights have a
    classifier and the size is 224x224, else to pool5. ``built``: the models by name (every
    name but torch)."""
    in_shape = (1, 3, *size)
    taps = ("pool5", "softmax") if weights.has_classifier and size == (224, 224) else ("pool5",)
    x = random_input(in_shape)
    flops = sum(c.flops for c in plan(weights.layers[: _depth(weights, taps)], in_shape))
    runs, estimate = {}, {}
    for name in names:
        if name == TORCH:
            forward = torch_reference.TorchVGG(weights).forward
        else:
            model = built[name]
            its_taps = [t for t in taps if model.can_tap(t)]

            def forward(x, _taps, model=model, its_taps=its_taps, deadline=None):
                return model.forward(x, its_taps, progress=progress_of(deadline)).outputs

            if isinstance(model, Network):
                estimate[name] = lambda model=model: estimate_forward(model, in_shape, taps)

        def run(deadline=None, forward=forward, name=name):
            start = time.perf_counter()
            out = forward(x, taps) if name == TORCH else forward(x, taps, deadline=deadline)
            return time.perf_counter() - start, None, out

        runs[name] = run
    results = network_results(
        runs,
        estimate,
        flops,
        repeat=repeat,
        warmup=warmup,
        budget=budget,
        progress=progress or BenchProgress(),
    )
    return results, {
        "input_shape": list(in_shape),
        "taps": list(taps),
        "weights": weights.description,
    }


def _depth(weights: WeightSet, taps) -> int:
    """How many layers run to produce ``taps``."""
    names = [layer.name for layer in weights.layers]
    return max(names.index(t) for t in taps) + 1


def bench_stylize(
    weights: WeightSet,
    built: dict[str, models.Model],
    names: Sequence[str],
    size: tuple[int, int],
    *,
    repeat: int,
    warmup: int,
    budget: float | None,
    progress: BenchProgress | None = None,
) -> tuple[list[Result], dict]:
    """One style-transfer step with the manual's losses: forward (to the deepest loss layer,
    losses included), then backward to the image."""
    in_shape = (1, 3, *size)
    content, style, x = (random_input(in_shape, seed) for seed in (1, 2, 3))
    options = StyleOptions()
    reference = next((m for m in built.values() if not m.inference_only), None)
    if reference is None:
        reference = models.build_model(models.DEFAULT, weights)
    base = Objective(reference, content, [(style, 1.0)], options)
    flops = sum(c.flops for c in base.network.plan(in_shape, base.taps))
    runs, estimate = {}, {}
    for name in names:
        if name == TORCH:
            runs[name] = torch_reference.torch_style_step(weights, base, x)
            continue
        if built[name].inference_only:
            raise UsageError(f"the {name} backend is inference-only: a style step needs gradients")
        objective = base.on(built[name])

        def run(deadline=None, objective=objective):
            start = time.perf_counter()
            losses, result, grads = objective.forward(x, progress=progress_of(deadline))
            middle = time.perf_counter()
            dx = objective.backward(x, result, grads, progress=progress_of(deadline))
            return (
                middle - start,
                time.perf_counter() - middle,
                {"total": np.array(losses.total), "dx": dx},
            )

        runs[name] = run
        estimate[name] = lambda objective=objective: estimate_forward(
            objective.network, in_shape, objective.taps
        )
    results = network_results(
        runs,
        estimate,
        flops,
        repeat=repeat,
        warmup=warmup,
        budget=budget,
        progress=progress or BenchProgress(),
    )
    return results, {
        "input_shape": list(in_shape),
        "content_layers": list(options.content_layers),
        "style_layers": [name for name, _ in options.style_layers],
        "weights": weights.description,
    }
