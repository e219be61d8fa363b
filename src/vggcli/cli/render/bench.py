"""``vgg bench``'s output: one row per implementation, what was timed, and the JSON document."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from vggcli.cli.render.console import si
from vggcli.measure.harness import BenchReport, Result, Timing


def _milliseconds(seconds: float) -> str:
    """Three significant figures at most, no thousands separator: 2.35, 13.7, 1193."""
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def _ms(t) -> Text:
    """The median, and the range of the runs below it (dim)."""
    if t is None:
        return Text("—")
    return Text(f"{_milliseconds(t.median_s)}\n") + Text(
        f"{_milliseconds(t.min_s)}–{_milliseconds(t.max_s)}", style="dim"
    )


def _ratio(x: float) -> str:
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 0.1 else f"{x:.2g}x"


def bench_table(report) -> Table:
    """One row per implementation: times, GFLOP/s, speed-ups and the largest error vs the first
    (``--json`` has every output's error)."""
    first = report.results[0].backend
    table = Table(
        title=f"vgg bench {report.kind} · speed-ups and errors relative to {first}",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    counted = any(r.mults_forward is not None for r in report.results)
    for name, justify in (
        ("", "left"),
        ("fwd ms", "right"),
        ("bwd ms", "right"),
        *((("mults", "right"),) if counted else ()),
        ("GFLOP/s", "right"),
        ("speed-up", "right"),
        ("max error", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # ranges are never cut
    for r in report.results:
        speedup = _ratio(r.speedup_forward)
        if r.speedup_backward:
            speedup += f" / {_ratio(r.speedup_backward)}"
        worst = max(r.max_rel_error.items(), key=lambda kv: kv[1], default=None)
        error = f"{worst[1]:.1e}\n({worst[0]})" if worst else "—"
        mults = [] if not counted else ["—" if r.mults_forward is None else si(r.mults_forward)]
        table.add_row(
            r.backend + (" *" if r.note else ""),
            _ms(r.forward),
            _ms(r.backward),
            *mults,
            f"{r.gflops_forward:.1f}",
            speedup,
            error,
        )
    notes = [f"* {r.backend}: {r.note}" for r in report.results if r.note]
    caption = "times: median over the runs, min–max below; speed-up: forward / backward"
    if counted:
        caption += "\nmults: multiplications of the forward pass as performed (GFLOP/s counts"
        caption += "\nthe formula's operations); max error: relative, of the worst output"
    table.caption = "\n".join([caption, *notes])
    table.caption_justify = "left"
    return table


def bench_geometry(report) -> str:
    """What was timed: the layer and its input (NCHW), or the network's input."""
    c = report.config
    shape = "x".join(map(str, c["input_shape"]))
    if report.kind in ("conv", "pool"):
        where = (
            f"{c['layer']} as VGG19 runs it on a {'x'.join(map(str, c['image_size']))} image\n"
            if "layer" in c
            else ""
        )
        if report.kind == "conv":
            return (
                f"{where}layer input {shape} (NCHW) → {c['cout']} channels, "
                f"{c['kernel']}x{c['kernel']} stride {c['stride']} pad {c['pad']}"
            )
        return (
            f"{where}layer input {shape} (NCHW), {c['kernel']}x{c['kernel']} max pooling "
            f"stride {c['stride']}"
        )
    if report.kind == "stylize":
        layers = ", ".join(c["content_layers"] + c["style_layers"])
        return f"one style step on input {shape}, losses at {layers} · {c['weights']}"
    return f"VGG19 on input {shape} to {', '.join(c['taps'])} · {c['weights']}"


def bench_document(report: BenchReport) -> dict:
    """{"kind", "config", "results": [...]}; speed-ups and errors relative to the first result."""
    return {
        "kind": report.kind,
        "config": report.config,
        "results": [_bench_result(r) for r in report.results],
    }


def _timing(t: Timing | None) -> dict | None:
    return None if t is None else {"median_s": t.median_s, "min_s": t.min_s, "max_s": t.max_s}


def _bench_result(r: Result) -> dict:
    return {
        "backend": r.backend,
        "forward": _timing(r.forward),
        "backward": _timing(r.backward),
        "gflops_forward": r.gflops_forward,
        "speedup_forward": r.speedup_forward,
        "speedup_backward": r.speedup_backward,
        "max_rel_error": r.max_rel_error,
        "extrapolated": r.fraction < 1,
        "fraction_timed": r.fraction,
        "note": r.note,
        "mults_forward": r.mults_forward,
    }


def machine_line(report) -> str:
    """Where the figures come from: CPUs, numpy, its BLAS and kernel, runs."""
    c = report.config
    info = c["machine"]
    return (
        f"measured on {info['cpus']} CPUs, {info['threads']} threads · numpy {info['numpy']}"
        f" · {info.get('blas', 'BLAS ?')}"
        f"\nOPENBLAS_CORETYPE={info['openblas_coretype'] or 'auto'}"
        f" · medians of {c['repeat']} runs after {c['warmup']} warm-up"
    )
