"""Terminal rendering: rich tables for results, tqdm bars for long work.

Only renders what the library returns; computes nothing. Results go to stdout, notes, warnings
and progress to stderr, so that ``--json`` output (stdout) is never mixed with them.
"""

from __future__ import annotations

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
