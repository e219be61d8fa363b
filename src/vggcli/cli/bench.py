"""``vgg bench`` and ``vgg profile``: timings, speed-ups, per-layer costs."""

from __future__ import annotations

from pathlib import Path

import click

from vggcli import ui
from vggcli._blas import avx512_unused
from vggcli.cli.options import (
    backend_option,
    emit_json,
    json_option,
    parse_hw,
    parse_shape,
    quant_params_option,
)
from vggcli.engine.backends import BACKENDS, get_backend
from vggcli.engine.models import DLP_NAMES, build_model, check_name
from vggcli.engine.network import Network
from vggcli.errors import UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.measure import benchmarks as bench
from vggcli.measure.profile import profile_network
from vggcli.measure.torch_reference import TORCH, load_torch
from vggcli.weights.store import resolve_weights


def timing_weights_option(f):
    """--weights for timings: random by default, as their values do not change the time."""
    return click.option(
        "--weights",
        "weights_spec",
        metavar="SOURCE",
        default="random",
        show_default=True,
        help="Weights to time with (timings do not depend on their values).",
    )(f)


BENCH_DEFAULTS = {  # kind: (--compare, --size, --layer)
    "conv": ("loops,img2col", "112", "conv3_1"),
    "pool": ("loops,img2col", "112", "pool1"),
    "vgg19": ("img2col", "224", None),
    "stylize": ("img2col", "192x320", None),
}


@click.command("bench")
@click.argument("kind", type=click.Choice(bench.KINDS))
@click.option(
    "--compare",
    metavar="A,B,…",
    help="Implementations to compare, the first is the reference for speed-ups and "
    f"errors: backends ({', '.join(BACKENDS)}) or torch. Default: loops,img2col "
    "for conv and pool, img2col otherwise.",
)
@click.option(
    "--layer",
    metavar="NAME",
    help="conv/pool: the geometry of this VGG19 layer (default conv3_1 / pool1).",
)
@click.option(
    "--size",
    "size_text",
    metavar="S|HxW",
    help="Image size the network (or --layer) sees: default 112 for conv/pool, 224 for "
    "vgg19, 192x320 for stylize.",
)
@click.option(
    "--shape", "shape_text", metavar="NxCxHxW", help="conv/pool: an explicit input shape."
)
@click.option("--cout", type=click.IntRange(1), help="conv with --shape: output channels.")
@click.option("--kernel", type=click.IntRange(1), default=3, show_default=True)
@click.option("--stride", type=click.IntRange(1), default=None, help="Default 1 (conv), 2 (pool).")
@click.option("--pad", type=click.IntRange(0), default=1, show_default=True, help="conv padding.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1))
@click.option("--warmup", default=1, show_default=True, type=click.IntRange(0))
@click.option(
    "--budget",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds each implementation may take; a slower one is timed on a share of "
    "its output channels and scaled up (said in the report). 0: no limit.",
)
@timing_weights_option
@quant_params_option
@json_option
def bench_command(
    kind,
    compare,
    layer,
    size_text,
    shape_text,
    cout,
    kernel,
    stride,
    pad,
    repeat,
    warmup,
    budget,
    weights_spec,
    quant_params,
    as_json,
):
    """Time implementations against each other: forward, backward, GFLOP/s, speed-up, error.

    \b
    Examples:
      vgg bench conv --compare loops,img2col
      vgg bench conv --layer conv3_1 --size 224 --compare img2col,torch
      vgg bench conv --shape 1x64x56x56 --cout 128 --kernel 3 --stride 1 --pad 1
      vgg bench pool --compare loops,img2col
      vgg bench vgg19 --compare img2col,torch --size 224
      vgg bench vgg19 --compare img2col,dlp
      vgg bench stylize --size 192x320 --compare img2col,torch
    """
    default_compare, default_size, default_layer = BENCH_DEFAULTS[kind]
    names = bench.parse_compare(compare or default_compare, whole_network=kind == "vgg19")
    if TORCH in names:
        load_torch()
    size = parse_hw(size_text or default_size)
    budget_s = budget or None
    progress = ui.BenchBar()
    config: dict = {"repeat": repeat, "warmup": warmup, "budget_s": budget_s, "dtype": "float32"}
    if kind in ("conv", "pool"):
        if shape_text:
            shape = parse_shape(shape_text)
            if kind == "conv" and cout is None:
                raise UsageError("--shape needs --cout for a conv")
            geometry = {"input_shape": list(shape)}
        else:
            cost = bench.layer_geometry(layer or default_layer, size)
            if cost.layer.kind != kind:
                raise UsageError(f"{cost.layer.name} is not a {kind} layer")
            shape, cout = cost.in_shape, cost.layer.cout
            kernel, pad = cost.layer.kernel, cost.layer.pad
            stride = cost.layer.stride
            geometry = {
                "layer": cost.layer.name,
                "image_size": list(size),
                "input_shape": list(shape),
            }
        if kind == "conv":
            stride = stride or 1
            case = bench.conv_case(shape, cout, kernel, stride, pad)
            geometry.update(cout=cout, kernel=kernel, stride=stride, pad=pad)
        else:
            stride = stride or 2
            case = bench.pool_case(shape, kernel, stride)
            geometry.update(kernel=kernel, stride=stride)
        results = bench.bench_layer(
            case, names, repeat=repeat, warmup=warmup, budget=budget_s, progress=progress
        )
    elif kind == "vgg19":
        weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
        runners = {}
        for name in names:
            if name in DLP_NAMES:
                model = build_model(name, weights, quant_params=quant_params, notify=ui.note)
                runners[name] = lambda x, taps, model=model: _dlp_outputs(model, x, taps)
                config["dlp"] = {"device": model.description, "quant_params": model.quant_source}
        results, geometry = bench.bench_vgg19(
            weights,
            names,
            size,
            repeat=repeat,
            warmup=warmup,
            budget=budget_s,
            progress=progress,
            runners=runners,
        )
    else:
        weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
        results, geometry = bench.bench_stylize(
            weights, names, size, repeat=repeat, warmup=warmup, budget=budget_s, progress=progress
        )
    report = bench.Report(kind, {**geometry, **config, "machine": bench.machine_info()}, results)
    if as_json:
        emit_json(report.as_json())
    else:
        ui.out.print(ui.bench_table(report))
        info = report.config["machine"]
        ui.note(
            f"{info['cpus']} CPUs · numpy {info['numpy']} · {info.get('blas', 'BLAS ?')}"
            f" · OPENBLAS_CORETYPE={info['openblas_coretype'] or 'auto'} · medians of "
            f"{repeat} runs after {warmup} warm-up"
        )
        pinned = avx512_unused()
        if TORCH in names and pinned:
            ui.note(
                f"OPENBLAS_CORETYPE={pinned} keeps numpy's GEMM on AVX2 kernels while this CPU "
                "has AVX-512, which PyTorch uses: expect it up to 2x faster on GEMM-bound work. "
                "Compare on equal terms with OPENBLAS_CORETYPE=SkylakeX (or ONEDNN_MAX_CPU_ISA="
                "AVX2 for torch)."
            )


def _dlp_outputs(model, x, taps) -> dict:
    """The taps the DLP path can give (all with the emulator, the softmax with pycnml)."""
    available = taps if model.emulated else [t for t in taps if t == "softmax"]
    return model.forward(x, available).outputs


@click.command("profile")
@click.argument("image", required=False, type=click.Path(path_type=Path))
@backend_option
@click.option(
    "--size",
    "size_text",
    default="224",
    show_default=True,
    metavar="S|HxW",
    help="Input size; 224 includes the classifier when the weights have one.",
)
@click.option(
    "--backward",
    is_flag=True,
    help="Also time the backward pass (input gradient, as in style transfer).",
)
@click.option("--param-grads", is_flag=True, help="With --backward: dW and db too.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1))
@click.option(
    "--top",
    default=3,
    show_default=True,
    type=click.IntRange(0),
    help="Highlight the N slowest layers.",
)
@timing_weights_option
@json_option
def profile_command(
    image, backend, size_text, backward, param_grads, repeat, top, weights_spec, as_json
):
    """Per-layer cost and time: output shape, parameters, multiplications, additions, ms.

    \b
    Examples:
      vgg profile examples/chelsea.png --backend img2col --backward
      vgg profile --size 192x320 --backward --json
    """
    if check_name(backend) == "dlp":
        raise UsageError(
            "vgg profile times the layers of loops or img2col; time the DLP path "
            "with `vgg bench vgg19 --compare img2col,dlp`"
        )
    engine = get_backend(backend)
    weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
    size = parse_hw(size_text)
    x = (
        to_input(resize(load_image(image), size), weights.preprocessing)
        if image is not None
        else bench.random_input((1, 3, *size))
    )
    last = "softmax" if weights.has_classifier and size == (224, 224) else "pool5"
    network = Network(weights, engine)
    bar = ui.step_bar(repeat + 1, 0, f"profile [{engine.name}]")
    result = profile_network(
        network,
        x,
        last,
        repeat=repeat,
        backward=backward,
        param_grads=param_grads,
        on_pass=lambda: bar.update(1),
    )
    bar.close()
    if as_json:
        emit_json(result.as_json())
        return
    ui.out.print(ui.profile_table(result, top))
    for what, key in (("forward", "forward_ms"), ("backward", "backward_ms")):
        if getattr(result.layers[0], key) is None:
            continue
        conv_share = sum(getattr(la, key) for la in result.layers if la.kind == "conv")
        total = sum(getattr(la, key) for la in result.layers)
        slowest = sorted(result.layers, key=lambda la: -getattr(la, key))[:top]
        ui.out.print(
            f"{what}: conv layers take {100 * conv_share / total:.0f}% of "
            f"{total:.1f} ms; slowest: "
            + ", ".join(f"{la.name} {getattr(la, key):.1f} ms" for la in slowest)
        )
