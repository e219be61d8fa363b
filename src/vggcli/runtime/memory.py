"""Memory a job will need, against what the machine has: refuse up front what cannot fit,
instead of allocating gigabytes and failing halfway."""

from __future__ import annotations

import math
import os
from pathlib import Path

from vggcli.errors import UsageError

MEMINFO = Path("/proc/meminfo")


def available_bytes() -> int | None:
    """Memory available to a new job: Linux's MemAvailable, else the physical memory; None
    where neither can be read."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def require(needed: int, what: str, size: tuple[int, int], hint: str, fixed: int = 0) -> None:
    """UsageError when ``needed`` bytes (for ``what`` at ``size`` (H, W): ``fixed`` bytes plus
    memory growing with the number of pixels) exceed what is available; the message names both
    and the largest size that would fit."""
    available = available_bytes()
    if available is None or needed <= available:
        return
    shrink = math.sqrt(max(available - fixed, 0) / max(needed - fixed, 1))
    fits = f"{int(size[0] * shrink)}x{int(size[1] * shrink)}"
    raise UsageError(
        f"{what} at {size[0]}x{size[1]} needs about {needed / 1e9:,.1f} GB of memory and "
        f"{available / 1e9:,.1f} GB are available: {hint} (about {fits} fits)"
    )
