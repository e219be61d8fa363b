"""Advisory file locks between vggcli processes (``flock``): one writer of a download or a
weights cache at a time, readers never in the middle of a swap.

The lock lives in a small file next to what it protects (``.<name>.lock``); the lock is the
kernel's, so a killed process (even by kill -9) releases it at once. A process that has to wait
says so through ``on_wait`` before blocking.
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
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
            fcntl.flock(fd, kind)
        yield
    finally:
        os.close(fd)  # closing releases the lock
