"""Terminal rendering: rich tables for results, tqdm bars for long work.

Only renders what the library returns; computes nothing. Results go to stdout, notes, warnings
and progress to stderr, so that ``--json`` output (stdout) is never mixed with them.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from tqdm import tqdm

from vggcli.classify import ImageResult, Summary
from vggcli.engine.vgg19 import Layer

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    err.print(Text(message, style="dim"))


def warn(message: str) -> None:
    err.print(Text("warning: ", style="bold yellow") + Text(message))


def _bar(fraction: float, width: int = 20) -> Text:
    cells = fraction * width
    full = int(cells)
    partial = " ▏▎▍▌▋▊▉"[int((cells - full) * 8)] if full < width else ""
    return Text("█" * full + partial.strip(), style="cyan")


def topk_table(result: ImageResult) -> Table:
    table = Table(
        title=f"{result.image}  ·  forward {result.forward_seconds:.3f} s",
        title_justify="left",
        title_style="bold",
    )
    table.add_column("rank", justify="right")
    table.add_column("id", justify="right")
    table.add_column("label")
    table.add_column("probability", justify="right")
    table.add_column("")
    for p in result.top:
        marker = " ✓" if result.label_id == p.class_id else ""
        table.add_row(
            str(p.rank),
            str(p.class_id),
            p.label + marker,
            f"{p.probability:.4f}",
            _bar(p.probability),
        )
    return table


def short_names(paths: list[str]) -> tuple[str, list[str]]:
    """(the folder all ``paths`` share, each path relative to it): a narrow table shows the
    file names instead of the same long prefix on every row. ("", paths) when they share none."""
    if len(paths) < 2:
        return "", paths
    common = os.path.commonpath(paths) if len({os.path.isabs(p) for p in paths}) == 1 else ""
    if common in paths:  # one of them is the common path itself: keep its folder
        common = os.path.dirname(common)
    if not common or common in (".", os.sep):
        return "", paths
    return common, [os.path.relpath(p, common) for p in paths]


def file_list_table(results: Iterable[ImageResult]) -> Table:
    results = list(results)
    folder, names = short_names([r.image for r in results])
    title = "per image" + (f" (in {folder})" if folder else "")
    table = Table(title=title, title_justify="left", title_style="bold")
    for name, justify in (
        ("image", "left"),
        ("label", "right"),
        ("top-1", "left"),
        ("probability", "right"),
        ("true rank", "right"),
        ("forward s", "right"),
    ):
        table.add_column(name, justify=justify)
    for r, name in zip(results, names, strict=True):
        if r.error is not None:
            table.add_row(name, str(r.label_id), Text(r.error, style="red"), "", "", "")
            continue
        best = r.top[0]
        style = "green" if r.top1 else ("yellow" if r.top5 else "red")
        table.add_row(
            name,
            str(r.label_id),
            f"{best.class_id} {best.label}",
            f"{best.probability:.4f}",
            Text(str(r.true_rank), style=style),
            f"{r.forward_seconds:.3f}",
        )
    return table


def summary_table(summary: Summary, results: list[ImageResult], interrupted: bool) -> Table:
    title = "accuracy" + (" (interrupted: images so far)" if interrupted else "")
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    n = summary.count
    table.add_row("images", str(n))
    if summary.failed:
        table.add_row(Text("unreadable", style="red"), f"{summary.failed} (counted as misses)")
    table.add_row(
        "top-1 accuracy", f"{summary.top1_accuracy:.4f} ({sum(r.top1 for r in results)}/{n})"
    )
    table.add_row(
        "top-5 accuracy", f"{summary.top5_accuracy:.4f} ({sum(r.top5 for r in results)}/{n})"
    )
    forward = sum(r.forward_seconds for r in results)
    table.add_row("forward time", f"{forward:.3f} s ({forward / max(n, 1):.3f} s per image)")
    table.add_row("total time", f"{summary.seconds:.3f} s")
    return table


class LayerBar:
    """A tqdm bar over a network pass, in work units, showing the current layer.

    Appears only when the pass takes longer than ``delay`` seconds (the loops backend).
    """

    def __init__(self, total: int, description: str, delay: float = 1.0) -> None:
        self.bar = tqdm(
            total=total,
            desc=description,
            unit="MAC",
            unit_scale=True,
            delay=delay,
            leave=False,
            dynamic_ncols=True,
            disable=None,
        )
        self.layer: str | None = None

    def __call__(self, layer: Layer, units: int) -> None:
        if layer.name != self.layer:
            self.layer = layer.name
            self.bar.set_postfix_str(layer.name, refresh=False)
        self.bar.update(units)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> LayerBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ByteBar:
    """A tqdm bar for a download or a checksum, fed with (done, total) byte counts."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total,
                initial=done,
                desc=self.description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                dynamic_ncols=True,
                disable=None,
                leave=False,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ByteBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def loss_curve(steps: list[float], totals: list[float], width: int = 60, height: int = 8) -> Text:
    """The total loss against the step as a block chart (log scale) for the terminal."""
    pairs = [(s, v) for s, v in zip(steps, totals, strict=True) if v > 0]
    if len(pairs) < 2:
        return Text("(not enough steps for a curve)", style="dim")
    logs = [math.log10(v) for _, v in pairs]
    lo, hi = min(logs), max(logs)
    span = (hi - lo) or 1.0
    columns = min(width, len(pairs))
    heights = []
    for c in range(columns):
        chunk = logs[c * len(logs) // columns : (c + 1) * len(logs) // columns]
        heights.append((sum(chunk) / len(chunk) - lo) / span * height)
    lines = []
    for row in range(height, 0, -1):
        cells = ""
        for h in heights:
            fill = h - (row - 1)
            cells += "█" if fill >= 1 else (" ▁▂▃▄▅▆▇"[int(fill * 8)] if fill > 0 else " ")
        label = (
            f"{10**hi:9.3g} ┤"
            if row == height
            else (f"{10**lo:9.3g} ┤" if row == 1 else "          │")
        )
        lines.append(f"{label}{cells}")
    first, last = pairs[0][0], pairs[-1][0]
    lines.append("          └" + "─" * columns)
    lines.append(f"           step {first:.0f}{' ' * max(1, columns - 14)}{last:.0f}")
    return Text("\n".join(lines), style="cyan")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def stylize_plan(stages, optimizer: str, start_step: int, seconds: float) -> str:
    """The line said before the first step: sizes, stages, steps and the estimated time."""
    parts = " → ".join(f"{st.label} ({st.steps})" for st in stages)
    what = "1 stage" if len(stages) == 1 else f"{len(stages)} stages"
    total = sum(st.steps for st in stages)
    start = f"from step {start_step} of {total}" if start_step else f"{total} steps"
    return f"{what}: {parts} · {optimizer} · {start} · about {_duration(seconds)}"


LOG_COLUMNS = ("step", "stage", "size", "total", "content", "style", "elapsed", "left")
LOG_ROW = "{:>9} {:>5} {:>9}  {:>9} {:>9} {:>9} {:>8} {:>8}"  # 75 characters


class StylizeProgress:
    """Progress of a style transfer, called as ``on_step(step, losses, stage)``: a tqdm bar
    on a terminal (fits 80 columns), else a table of one row every :attr:`every` seconds (a log
    file, nohup, ``make demo``; 75 columns, :data:`LOG_COLUMNS`); nothing with ``quiet``."""

    every = 5.0

    def __init__(self, prepared, start_step: int, quiet: bool = False) -> None:
        self.prepared = prepared
        self.total = prepared.total_steps
        self.quiet = quiet
        self.started = time.perf_counter()
        self.last_line = self.started
        self.start_step = start_step
        self.stage_start: tuple[int, int, float] | None = None  # (stage, step, time) it began
        self.bar = None
        self.logged = False  # whether the log's header row is out
        if not quiet and err.is_terminal:
            self.bar = tqdm(
                total=self.total, initial=start_step, desc="stylize", unit="step", ncols=80
            )

    def time_left(self, step: int, stage: int, now: float) -> float:
        """Seconds left: the stages' estimated rates scaled by how fast the steps really went,
        those of the current stage once it has made a few (stages differ in speed)."""
        prepared = self.prepared
        if self.stage_start is None or self.stage_start[0] != stage:
            self.stage_start = (stage, step, now)
        _, first_step, first_time = self.stage_start
        if step - first_step >= 3:
            scale = (now - first_time) / (step - first_step) / prepared.seconds_per_step[stage]
        elif step - self.start_step >= 3:
            predicted = prepared.estimate(self.start_step) - prepared.estimate(step)
            scale = (now - self.started) / predicted if predicted > 0 else 1.0
        else:  # too few steps to time (the clock also counts the targets): the estimate as is
            scale = 1.0
        return prepared.estimate(step) * scale

    def __call__(self, step: int, losses, stage: int) -> None:
        if self.quiet:
            return
        stages = self.prepared.stages
        where = f"{stage + 1}/{len(stages)} {stages[stage].label}"
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix_str(f"{where} loss {losses.total:.3g}", refresh=True)
            return
        now = time.perf_counter()
        if now - self.last_line < self.every and step < self.total:
            return
        self.last_line = now
        elapsed = now - self.started
        done = step - self.start_step
        left = self.time_left(step, stage, now)
        if not self.logged:
            err.print(LOG_ROW.format(*LOG_COLUMNS), soft_wrap=True)
            self.logged = True
        row = LOG_ROW.format(
            f"{step}/{self.total}",
            f"{stage + 1}/{len(stages)}",
            stages[stage].label,
            f"{losses.total:.2e}",
            f"{losses.content:.2e}",
            f"{losses.style:.2e}",
            _duration(elapsed),
            _duration(left) if done else "",
        )
        err.print(row, soft_wrap=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def stylize_summary(
    history,
    start_step: int,
    seconds: float,
    optimizer: str,
    files,
    stop_reason: str | None,
    saved=None,
) -> Table:
    """The end-of-run report of ``vgg stylize``: steps, time, losses (also of the saved
    picture), files written."""
    table = Table(
        title="style transfer", title_justify="left", title_style="bold", show_header=False
    )
    table.add_column(justify="left")
    table.add_column(justify="left")
    end = int(history[-1][0]) if history else start_step
    done = end - start_step
    table.add_row("steps", f"{start_step} → {end} ({optimizer})")
    sizes = list(dict.fromkeys(f"{int(r[5])}x{int(r[6])}" for r in history))
    if len(sizes) > 1:
        table.add_row("stages", " → ".join(sizes))
    per_step = f" ({seconds / done:.3f} s per step)" if done else ""
    table.add_row("time", f"{seconds:.1f} s{per_step}")
    if history:
        first, last = history[0], history[-1]
        factor = first[4] / last[4] if last[4] > 0 else float("inf")
        table.add_row("total loss", f"{first[4]:.4g} → {last[4]:.4g} (÷{factor:.3g})")
        table.add_row("content · style · tv", f"{last[1]:.4g} · {last[2]:.4g} · {last[3]:.4g}")
    if saved is not None:
        table.add_row(
            "saved picture",
            f"total {saved.total:.4g} · content {saved.content:.4g} · style {saved.style:.4g}",
        )
    if stop_reason:
        table.add_row("L-BFGS", stop_reason)
    table.add_row("image", str(files.output))
    table.add_row("history", f"{files.history} · {files.chart}")
    table.add_row("state", f"{files.state} (--resume to continue)")
    if files.checkpoint_every:
        table.add_row("checkpoints", f"{files.checkpoint_dir} (every {files.checkpoint_every})")
    return table


def step_bar(total: int, initial: int, description: str) -> tqdm:
    """A tqdm bar over optimisation steps (hidden when stderr is not a terminal)."""
    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit="step",
        dynamic_ncols=True,
        disable=None,
    )


class BenchBar:
    """Renders :class:`vggcli.measure.harness.BenchProgress` events, one tqdm bar each."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def start(self, label: str, total: int) -> None:
        self.finish()
        self.bar = tqdm(
            total=total, desc=label, unit="run", leave=False, dynamic_ncols=True, disable=None
        )

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _ms(t) -> Text:
    if t is None:
        return Text("—")
    return Text(f"{t.median_s * 1e3:,.1f}\n") + Text(
        f"{t.min_s * 1e3:,.1f}–{t.max_s * 1e3:,.1f}", style="dim"
    )


def _ratio(x: float) -> str:
    return f"{x:,.1f}x" if x >= 0.1 else f"{x:.2g}x"


def bench_table(report) -> Table:
    """One row per implementation: times, GFLOP/s, speed-ups and the largest error vs the first
    (``--json`` has every output's error)."""
    first = report.results[0].backend
    table = Table(
        title=f"vgg bench {report.kind} · speed-ups and errors relative to {first}",
        title_justify="left",
        title_style="bold",
    )
    counted = any(r.mults_forward is not None for r in report.results)
    for name, justify in (
        ("", "left"),
        ("forward ms", "right"),
        ("backward ms", "right"),
        *((("mults", "right"),) if counted else ()),
        ("GFLOP/s", "right"),
        ("speed-up", "right"),
        ("max rel. error", "left"),
    ):
        table.add_column(name, justify=justify)
    for r in report.results:
        speedup = _ratio(r.speedup_forward)
        if r.speedup_backward:
            speedup += f" / {_ratio(r.speedup_backward)}"
        worst = max(r.max_rel_error.items(), key=lambda kv: kv[1], default=None)
        error = f"{worst[1]:.1e} ({worst[0]})" if worst else "—"
        mults = [] if not counted else ["—" if r.mults_forward is None else _si(r.mults_forward)]
        table.add_row(
            r.backend + (" *" if r.note else ""),
            _ms(r.forward),
            _ms(r.backward),
            *mults,
            f"{r.gflops_forward:.2f}",
            speedup,
            error,
        )
    notes = [f"* {r.backend}: {r.note}" for r in report.results if r.note]
    caption = "times: median over the runs, min–max below; speed-up: forward / backward"
    if counted:
        caption += "\nmults: multiplications of the forward pass as performed; GFLOP/s counts "
        caption += "the formula's operations"
    table.caption = "\n".join([caption, *notes])
    table.caption_justify = "left"
    return table


def bench_geometry(report) -> str:
    """What was timed: the layer and its shapes, or the network's input."""
    c = report.config
    shape = "x".join(map(str, c["input_shape"]))
    if report.kind in ("conv", "pool"):
        where = (
            f"{c['layer']} of VGG19 at {'x'.join(map(str, c['image_size']))}: "
            if "layer" in c
            else ""
        )
        if report.kind == "conv":
            return (
                f"{where}input {shape} → {c['cout']} channels, {c['kernel']}x{c['kernel']} "
                f"stride {c['stride']} pad {c['pad']}"
            )
        return f"{where}input {shape}, {c['kernel']}x{c['kernel']} max pooling stride {c['stride']}"
    if report.kind == "stylize":
        layers = ", ".join(c["content_layers"] + c["style_layers"])
        return f"one style step on input {shape}, losses at {layers} · {c['weights']}"
    return f"VGG19 on input {shape} to {', '.join(c['taps'])} · {c['weights']}"


def _si(n: float) -> str:
    """12_345_678 → '12.3M' (the exact numbers are in --json)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}"


def profile_table(profile, top: int = 3) -> Table:
    """One row per layer; the ``top`` slowest layers of each pass highlighted."""
    backward = profile.total_backward_ms is not None
    slow_f = {la.name for la in sorted(profile.layers, key=lambda la: -la.forward_ms)[:top]}
    slow_b = (
        {la.name for la in sorted(profile.layers, key=lambda la: -la.backward_ms)[:top]}
        if backward
        else set()
    )
    table = Table(
        title=f"vgg profile · backend {profile.backend} · input "
        f"{'x'.join(map(str, profile.input_shape))}",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    # GFLOP/s only without the backward columns: the table must fit 80 columns
    columns = ["layer", "output", "params", "mults", "adds", "fwd ms", "%"]
    columns += ["bwd ms", "%"] if backward else ["GFLOP/s"]
    for c in columns:
        table.add_column(c, justify="left" if c in ("layer", "output") else "right")
    total_f, total_b = profile.total_forward_ms, profile.total_backward_ms
    for la in profile.layers:
        row = [
            la.name,
            "x".join(map(str, la.output_shape[1:])),
            _si(la.params),
            _si(la.mults_performed) + ("*" if la.mults_performed != la.mults else ""),
            _si(la.adds),
            Text(f"{la.forward_ms:.2f}", style="bold red" if la.name in slow_f else ""),
            f"{100 * la.forward_ms / total_f:.1f}",
        ]
        if backward:
            row += [
                Text(f"{la.backward_ms:.2f}", style="bold red" if la.name in slow_b else ""),
                f"{100 * la.backward_ms / total_b:.1f}",
            ]
        else:
            row.append(f"{la.gflops_forward:.0f}")
        table.add_row(*row)
    totals = [
        "total",
        "",
        _si(sum(la.params for la in profile.layers)),
        _si(sum(la.mults_performed for la in profile.layers)),
        _si(sum(la.adds for la in profile.layers)),
        f"{total_f:.1f}",
        "100",
    ]
    totals += [f"{total_b:.1f}", "100"] if backward else [""]
    table.add_row(*totals, style="bold")
    if any(la.mults_performed != la.mults for la in profile.layers):
        table.caption = "* multiplications as the backend performs them (Winograd F(4x4,3x3)); "
        table.caption += f"the formulas': {_si(sum(la.mults for la in profile.layers))}"
        table.caption_justify = "left"
    return table


def checks_table(checks) -> Table:
    table = Table(
        title="vgg check · float32 layers against references, float64 gradients "
        "against central differences",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for c, justify in (
        ("check", "left"),
        ("max rel. error", "right"),
        ("tolerance", "right"),
        ("", "left"),
    ):
        table.add_column(c, justify=justify)
    for c in checks:
        mark = Text("pass", style="green") if c.passed else Text("FAIL", style="bold red")
        table.add_row(c.name, f"{c.max_rel_error:.2e}", f"{c.tolerance:.0e}", mark)
    return table


def divergence_table(rows, a: str, b: str) -> Table:
    """Per layer: B on A's input to that layer (isolates the faulty layer) and B end to end."""
    table = Table(
        title=f"vgg check · {b} against {a}, layer by layer",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for c, justify in (
        ("layer", "left"),
        (f"{b} on {a}'s input", "right"),
        (f"{b} end to end", "right"),
        ("", "left"),
    ):
        table.add_column(c, justify=justify)
    first_bad = next((r for r in rows if not r.passed), None)
    for r in rows:
        mark = Text("ok", style="green") if r.passed else Text("FAIL", style="bold red")
        if r is first_bad:
            mark += Text(" ←", style="bold red")
        table.add_row(r.name, f"{r.isolated:.2e}", f"{r.propagated:.2e}", mark)
    tolerance = f"{rows[0].tolerance:.0e}"
    if first_bad is None:
        table.caption = (
            f"ok: each layer, on {a}'s input, is within {tolerance} (relative) of {a}\n"
            "(the end to end column adds up the earlier layers' errors: shown, not checked)"
        )
    else:
        table.caption = (
            f"first layer that goes wrong: {first_bad.name} (relative error "
            f"{first_bad.isolated:.2e} on {a}'s input, tolerance {tolerance})"
        )
    table.caption_justify = "left"
    return table


def agreement_line(agreement, a: str, b: str) -> str:
    """The two predictions of ``vgg check IMAGE --compare A,B`` in one line."""
    verdict = "the same class" if agreement.same_class else "DIFFERENT classes"
    return (
        f"prediction: {a} top-1 {agreement.top1_a}, {b} top-1 {agreement.top1_b} ({verdict}); "
        f"largest |Δp| {agreement.max_abs_dp:.2e}"
    )


def calibration_table(rows: list[dict]) -> Table:
    table = Table(
        title="int8 quantisation pairs (position, scale): q = round(x·scale/2^position)",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for c in ("layer", "input |max|", "input pair", "filter |max|", "filter pair"):
        table.add_column(c, justify="left" if c == "layer" else "right")
    for r in rows:
        table.add_row(
            r["layer"],
            f"{r['input_absmax']:.5g}",
            f"({r['input_position']}, {r['input_scale']:.7f})",
            f"{r['filter_absmax']:.5g}",
            f"({r['filter_position']}, {r['filter_scale']:.7f})",
        )
    return table
