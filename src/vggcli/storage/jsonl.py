"""A results file that survives any stop: a header line, then one JSON record per line,
appended as work finishes.

Each record is one ``write`` of a whole line on a file opened for appending, flushed and synced
before the next item starts, so after Ctrl-C, SIGTERM, kill -9 or a machine that went down the
file holds every finished record and at most a torn last line, which :meth:`JsonLines.resume`
cuts off. The header says what the records belong to; a file whose header differs is refused,
naming the difference, rather than mixed. One process writes a file at a time (its lock).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from vggcli.errors import OutputError, UsageError
from vggcli.storage.locks import locked


class JsonLines:
    """``path``'s records after ``header``; use as a context manager around :meth:`resume`
    and :meth:`append` (it holds the file's lock). ``remedy``: what to do when the file belongs
    to other options."""

    def __init__(
        self, path: Path, header: dict, remedy: str = "give another --results file"
    ) -> None:
        self.path = Path(path)
        self.header = json.loads(json.dumps(header))  # as it reads back: tuples are lists
        self.remedy = remedy
        self._lock = contextlib.ExitStack()
        self._fd: int | None = None

    def __enter__(self) -> JsonLines:
        def busy() -> None:
            raise OutputError(f"another process is writing {self.path} now: wait for it to end")

        self._lock.enter_context(locked(self.path, on_wait=busy))
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._lock.close()

    def resume(self) -> list[dict]:
        """The records already in the file (none for a new one), its torn last line cut off;
        UsageError when its header is not this run's."""
        records: list[dict] = []
        end = 0
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as e:
            raise OutputError(f"cannot read {self.path}: {e.strerror or e}") from None
        lines = data.split(b"\n")[:-1]  # the last piece has no newline: torn, or empty
        if data and not lines and not self._line(self.header).startswith(data):
            raise UsageError(f"{self.path} is not a vggcli results file (its first line)")
        for k, line in enumerate(lines):
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                if k == 0:
                    raise UsageError(
                        f"{self.path} is not a vggcli results file (its first line)"
                    ) from None
                break  # a torn or damaged line: everything from here is written again
            if k == 0:
                self._check_header(value)
            elif not isinstance(value, dict):
                break
            else:
                records.append(value)
            end += len(line) + 1
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o666)
            os.ftruncate(self._fd, end)
            os.lseek(self._fd, end, os.SEEK_SET)
            if end == 0:
                self._write(self.header)
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from None
        return records

    def append(self, record: dict) -> None:
        """Add ``record`` as one line, on disk before this returns."""
        try:
            self._write(record)
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from None

    @staticmethod
    def _line(value: dict) -> bytes:
        return (json.dumps(value, allow_nan=False) + "\n").encode()

    def _write(self, value: dict) -> None:
        os.write(self._fd, self._line(value))
        os.fsync(self._fd)

    def _check_header(self, saved) -> None:
        if not isinstance(saved, dict):
            raise UsageError(f"{self.path} is not a vggcli results file (its first line)")
        differences = [
            f"{key} {saved.get(key)!r} in the file, {self.header.get(key)!r} now"
            for key in sorted(set(saved) | set(self.header))
            if saved.get(key) != self.header.get(key)
        ]
        if differences:
            raise UsageError(
                f"{self.path} belongs to another run: {'; '.join(differences)}; "
                f"{self.remedy}, or the same options"
            )
