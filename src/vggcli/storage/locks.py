"""Advisory file locks between vggcli processes (``flock``): one writer of a download or a
weights cache at a time, readers never in the middle of a swap.

The lock lives in a small file next to what it protects (``.<name>.lock``); the lock is the
kernel's, so a killed process (even by kill -9) releases it at once. A process that has to wait
says so through ``on_wait`` before blocking.

The last holder removes the lock file as it lets go (an exclusive holder always; a shared one
when no other process holds it), so a finished run leaves nothing beside its picture. Removing
a lock file is safe because a process that gets a lock checks that the file it locked is still
the one at the path, and starts again on the new one if it was removed meanwhile. Only a
process killed while it holds a lock leaves the file behind, empty and harmless.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vggcli.errors import OutputError


def lock_path(path: Path) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextmanager
def locked(
    path: Path,
    *,
    shared: bool = False,
    on_wait: Callable[[], None] | None = None,
    optional: bool = False,
) -> Iterator[None]:
    """Hold the lock of ``path`` (exclusive, or ``shared`` among readers) for the block.

    ``on_wait`` is called when another process holds it, before waiting; raising there
    refuses instead of waiting. OutputError when the lock file cannot be created (an
    unwritable folder), unless ``optional``: then the block runs unlocked (a reader of a
    read-only folder, which no vggcli process can be writing)."""
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        if not optional:
            raise OutputError(f"cannot write in {lock.parent}: {e.strerror or e}") from None
        fd = None
    if fd is None:
        yield
        return
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fd = _acquire(lock, fd, kind, on_wait)
        yield
    finally:
        _release(lock, fd)


def _acquire(lock: Path, fd: int, kind: int, on_wait: Callable[[], None] | None) -> int:
    """Lock ``fd`` (the file ``lock`` was opened as) with ``kind``; if the holder before removed
    the file meanwhile, lock the one now at the path instead. Returns the descriptor locked."""
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
                on_wait = None  # said once
            fcntl.flock(fd, kind)
        if _is_at(lock, fd):
            return fd
        os.close(fd)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)


def _release(lock: Path, fd: int) -> None:
    """Remove the lock file if no other process holds it (held exclusively: nobody else can
    be inside), then let go. Closing the descriptor releases the lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a shared holder: alone?
        if _is_at(lock, fd):
            lock.unlink()
    except OSError:  # others hold it, or the folder is read-only: the file stays
        pass
    finally:
        os.close(fd)


def _is_at(lock: Path, fd: int) -> bool:
    """Whether the file open as ``fd`` is the one at the path ``lock`` (not removed or
    replaced)."""
    try:
        here, there = os.fstat(fd), os.stat(lock)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
