"""``vgg bench``: timings, speed-ups and errors of implementations against each other."""

from __future__ import annotations

import click

from vggcli import models
from vggcli.cli.options import (
    Finite,
    emit_json,
    json_option,
    parse_hw,
    parse_shape,
    quant_params_option,
    refuse_unused,
    threads_option,
    timing_weights_option,
)
from vggcli.cli.progress import BenchBar
from vggcli.cli.render.bench import bench_document, bench_geometry, bench_table, machine_line
from vggcli.cli.render.console import note, out
from vggcli.errors import VggError
from vggcli.measure.benchmarks import KINDS, BenchRequest, run_bench
from vggcli.measure.torch_reference import TORCH
from vggcli.runtime.blas import avx512_unused


@click.command("bench")
@threads_option
@click.argument("kind", type=click.Choice(KINDS))
@click.option(
    "--compare",
    metavar="A,B,…",
    help="Implementations to compare, the first is the reference for speed-ups and "
    f"errors: backends ({', '.join(models.choices())}) or torch. Default: loops,img2col "
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
@click.option("--cout", type=click.IntRange(1, 4096), help="conv with --shape: output channels.")
@click.option("--kernel", type=click.IntRange(1, 11), default=3, show_default=True)
@click.option(
    "--stride", type=click.IntRange(1, 8), default=None, help="Default 1 (conv), 2 (pool)."
)
@click.option(
    "--pad", type=click.IntRange(0, 5), default=1, show_default=True, help="conv padding."
)
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 1000))
@click.option("--warmup", default=1, show_default=True, type=click.IntRange(0, 100))
@click.option(
    "--budget",
    default=20.0,
    show_default=True,
    type=Finite(0),
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
    layer_kind = kind in ("conv", "pool")
    names = [n.strip() for n in (compare or "").split(",")]
    refuse_unused(
        click.get_current_context(),
        {
            "layer": None if layer_kind and not shape_text else _needs(kind, shape_text),
            "shape_text": None if layer_kind else f"is for bench conv or pool, not {kind}",
            "size_text": None if not shape_text else "is not used with --shape (it gives H, W)",
            "cout": None if kind == "conv" and shape_text else "needs bench conv --shape",
            "kernel": None if layer_kind and shape_text else "needs bench conv or pool --shape",
            "stride": None if layer_kind and shape_text else "needs bench conv or pool --shape",
            "pad": None if kind == "conv" and shape_text else "needs bench conv --shape",
            "weights_spec": None
            if not layer_kind
            else "is for bench vgg19 or stylize: a layer is timed on random filters",
            "quant_params": None
            if any(_is_dlp(n) for n in names)
            else "is for the dlp backend: give it in --compare",
        },
    )
    request = BenchRequest(
        kind,
        compare=compare,
        size=parse_hw(size_text) if size_text else None,
        layer=layer,
        shape=parse_shape(shape_text) if shape_text else None,
        cout=cout,
        kernel=kernel,
        stride=stride,
        pad=pad,
        repeat=repeat,
        warmup=warmup,
        budget=budget,
        weights=weights_spec,
        quant_params=quant_params,
    )
    report = run_bench(request, progress=BenchBar(), notify=note)
    if as_json:
        emit_json(bench_document(report))
        return
    out.print(bench_geometry(report))
    out.print(bench_table(report))
    out.print(machine_line(report))
    pinned = avx512_unused()
    if TORCH in [r.backend for r in report.results] and pinned:
        note(
            f"OPENBLAS_CORETYPE={pinned} keeps numpy's GEMM on AVX2 kernels while this CPU "
            "has AVX-512, which PyTorch uses: expect it up to 2x faster on GEMM-bound work. "
            "Compare on equal terms with OPENBLAS_CORETYPE=SkylakeX (or ONEDNN_MAX_CPU_ISA="
            "AVX2 for torch)."
        )


def _needs(kind: str, shape_text: str | None) -> str:
    if shape_text:
        return "and --shape both give the geometry: give one"
    return f"is for bench conv or pool, not {kind}"


def _is_dlp(name: str) -> bool:
    try:
        return models.choice(name).name == "dlp"
    except VggError:
        return False
