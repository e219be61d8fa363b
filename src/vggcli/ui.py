"""Terminal rendering: rich tables for results, tqdm bars for long work.

Only renders what the library returns; computes nothing. Results go to stdout, notes, warnings
and progress to stderr, so that ``--json`` output (stdout) is never mixed with them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text
from tqdm import tqdm

from vggcli.classify import ImageResult, Summary
from vggcli.vgg19 import Layer

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


def file_list_table(results: Iterable[ImageResult]) -> Table:
    table = Table(title="per image", title_justify="left", title_style="bold")
    for name, justify in (
        ("image", "left"),
        ("label", "right"),
        ("top-1", "left"),
        ("probability", "right"),
        ("true rank", "right"),
        ("forward s", "right"),
    ):
        table.add_column(name, justify=justify)
    for r in results:
        best = r.top[0]
        style = "green" if r.top1 else ("yellow" if r.top5 else "red")
        table.add_row(
            r.image,
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


def stylize_summary(
    history, start_step: int, seconds: float, optimizer: str, files, lbfgs_message: str | None
) -> Table:
    """The end-of-run report of ``vgg stylize``: steps, time, losses, files written."""
    table = Table(
        title="style transfer", title_justify="left", title_style="bold", show_header=False
    )
    table.add_column(justify="left")
    table.add_column(justify="left")
    end = int(history[-1][0]) if history else start_step
    done = end - start_step
    table.add_row("steps", f"{start_step} → {end} ({optimizer})")
    per_step = f" ({seconds / done:.3f} s per step)" if done else ""
    table.add_row("time", f"{seconds:.1f} s{per_step}")
    if history:
        first, last = history[0], history[-1]
        factor = first[4] / last[4] if last[4] > 0 else float("inf")
        table.add_row("total loss", f"{first[4]:.4g} → {last[4]:.4g} (÷{factor:.3g})")
        table.add_row("content · style · tv", f"{last[1]:.4g} · {last[2]:.4g} · {last[3]:.4g}")
    if lbfgs_message:
        table.add_row("L-BFGS", lbfgs_message)
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
