"""``vgg stylize``'s output: the plan said before the first step, the end-of-run summary and the
loss curve drawn in the terminal."""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text

from vggcli.cli.render.console import duration


def stylize_plan(stages, optimizer: str, start_step: int, seconds: float, memory: int) -> str:
    """The line said before the first step: sizes, stages, steps, the estimated time (with a
    stop rule, the most steps and the longest time) and the estimated peak memory (bytes)."""
    parts = " → ".join(f"{st.label} ({'≤' if st.stop else ''}{st.steps})" for st in stages)
    what = "1 stage" if len(stages) == 1 else f"{len(stages)} stages"
    total = sum(st.steps for st in stages)
    bound = "at most " if stages[-1].stop else ""
    start = f"from step {start_step} of {bound}{total}" if start_step else f"{bound}{total} steps"
    ending = f" · the last stage {stages[-1].stop.description}" if stages[-1].stop else ""
    about = "up to about" if stages[-1].stop else "about"  # an estimate, not a bound
    cost = f"{about} {duration(seconds)} and {memory / 1e9:.1f} GB of memory"
    return f"{what}: {parts} · {optimizer} · {start} · {cost}{ending}"


def stylize_summary(
    history,
    start_step: int,
    seconds: float,
    optimizer: str,
    files,
    stop_reason: str | None,
    saved=None,
    preserve_colors: bool = False,
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
            f"total {saved.total:.4g} · content {saved.content:.4g} · style {saved.style:.4g}"
            + (
                " (scored after --preserve-colors put the content's colours back: its style "
                "term is above the optimised picture's)"
                if preserve_colors
                else ""
            ),
        )
    if stop_reason:
        table.add_row("stopped", stop_reason)
    table.add_row("image", str(files.output))
    table.add_row("history", f"{files.history} · {files.chart}")
    table.add_row("state", f"{files.state} (--resume to continue)")
    if files.checkpoint_every:
        table.add_row("checkpoints", f"{files.checkpoint_dir} (every {files.checkpoint_every})")
    return table


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


def album_table(records: list[dict], folder, seconds: float) -> Table:
    """The end of a many-picture run: one row per picture (its output, steps, time, the saved
    picture's loss, why it stopped or what went wrong)."""
    table = Table(title=f"stylized into {folder}", title_justify="left", title_style="bold")
    for name, justify in (("output", "left"), ("steps", "right"), ("time", "right"),
                          ("loss", "right"), ("stopped", "left")):  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")
    for record in records:
        failed = record.get("error")
        table.add_row(
            record["output"],
            "" if failed else str(record["steps"]),
            duration(record["seconds"]),
            "" if failed else f"{record['loss']:.3g}",
            Text(failed, style="red") if failed else _short(record.get("stop_reason")),
        )
    done = sum(1 for r in records if not r.get("error"))
    table.caption = f"{done} of {len(records)} pictures · {duration(seconds)} in this run"
    return table


def _short(reason: str | None) -> str:
    """A stop reason's first clause: 'made the 2 steps asked for (5 evaluations)' → 'made the 2
    steps asked for'."""
    return (reason or "").split(" (")[0]
