"""Folders replaced whole, as git writes objects: the cache's weights and int8 filters.

A folder is complete when its ``meta.json`` exists (written last). :func:`replace_folder`
writes the new copy in full beside the old one (``.<name>.tmp-<pid>``), swaps it in by two
renames under the folder's lock (:mod:`vggcli.storage.locks`; readers hold it shared), and only then
deletes the old copy (``.<name>.old-<pid>``). A kill at any moment leaves the old copy or the new
one: :func:`present` puts back an old copy whose swap was cut short, and later writers delete
what killed ones left behind. :func:`build` lets one process build a folder that several need.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from vggcli.errors import OutputError
from vggcli.storage.locks import locked

MARKER = "meta.json"


def is_complete(folder: Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def replace_folder(folder: Path, write: Callable[[Path], None]) -> Path:
    """Fill a new copy of ``folder`` with ``write(tmp)`` (which writes ``meta.json`` last) and
    swap it in. OSError or OutputError when it cannot be written (nothing is left behind)."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    try:
        tmp.mkdir()
        write(tmp)
        with locked(folder):
            _recover(folder)
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            if folder.exists():
                os.replace(folder, old)
            os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def build(
    folder: Path,
    write: Callable[[Path], None],
    *,
    force: bool = False,
    on_wait: Callable[[], None] | None = None,
) -> bool:
    """Make ``folder`` with ``write`` (see :func:`replace_folder`), one builder at a time: a
    second process waits (``on_wait`` says so first) and, unless ``force``, finds the folder
    present and builds nothing. True when this call built it."""
    folder = Path(folder)
    with locked(folder.with_name(folder.name + ".build"), on_wait=on_wait):
        if not force and present(folder):
            return False
        replace_folder(folder, write)
        return True


def present(folder: Path) -> bool:
    """Whether ``folder`` is complete, after putting back a copy whose swap a kill cut short."""
    folder = Path(folder)
    if is_complete(folder):
        return True
    if not _leftovers(folder, "old"):
        return False
    try:
        with locked(folder):
            _recover(folder)
    except (OSError, OutputError):
        return False
    return is_complete(folder)


def _leftovers(folder: Path, kind: str) -> list[tuple[Path, int]]:
    """The ``.<name>.<kind>-<pid>`` folders beside ``folder``, with their writers' pids."""
    found = []
    for path in sorted(folder.parent.glob(f".{folder.name}.{kind}-*")):
        pid = path.name.rsplit("-", 1)[1]
        if path.is_dir() and pid.isdigit():
            found.append((path, int(pid)))
    return found


def alive(pid: int) -> bool:
    """Whether the process ``pid`` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _recover(folder: Path) -> None:
    """Under the folder's lock: put back the old copy of a swap that a kill cut short."""
    if not is_complete(folder):
        for old, _ in _leftovers(folder, "old"):
            if is_complete(old):
                os.replace(old, folder)
                return


def _remove_leftovers(folder: Path) -> None:
    """Delete the partial new copies and the old copies that killed writers left behind."""
    for kind in ("tmp", "old"):
        for path, pid in _leftovers(folder, kind):
            if pid != os.getpid() and not alive(pid) and (kind == "tmp" or is_complete(folder)):
                shutil.rmtree(path, ignore_errors=True)
