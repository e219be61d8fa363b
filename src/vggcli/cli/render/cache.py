"""``vgg cache list``'s JSON document."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from vggcli.storage.cachedir import Entry


def cache_document(root: Path, entries: Iterable[Entry]) -> dict:
    """``vgg cache list --json``."""
    return {
        "cache": str(root),
        "entries": [
            {"name": e.name, "path": str(e.path), "bytes": e.size, "what": e.what} for e in entries
        ],
    }
