"""The two consoles of every command and the small pieces of text they share.

Results go to :data:`out` (stdout), notes, warnings and progress to :data:`err` (stderr), so that
``--json`` output on stdout is never mixed with them. Nothing here computes a result.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    err.print(Text(message, style="dim"))


def warn(message: str) -> None:
    err.print(Text("warning: ", style="bold yellow") + Text(message))


def bar(fraction: float, width: int = 20) -> Text:
    cells = fraction * width
    full = int(cells)
    partial = " ▏▎▍▌▋▊▉"[int((cells - full) * 8)] if full < width else ""
    return Text("█" * full + partial.strip(), style="cyan")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def si(n: float) -> str:
    """12_345_678 → '12.3M' (the exact numbers are in --json)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}"
