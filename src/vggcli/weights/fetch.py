"""Download a file over HTTP(S): resumable, verified, atomic.

The bytes go to ``<dest>.part``; an interrupted download (network drop, Ctrl-C) leaves that file
and the next call resumes it with an HTTP ``Range`` request. Like pip: a lock keeps a second
process from writing the same ``.part`` at once, the file on disk is hashed and checked against
the expected size and checksums, and only then renamed to ``dest``. Only the standard library is
used (no requests).

Progress is reported through a callback ``report(done_bytes, total_bytes_or_None)``; the library
prints nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from vggcli._version import __version__
from vggcli.errors import FetchError
from vggcli.storage.locks import locked

ByteProgress = Callable[[int, "int | None"], None]
CHUNK = 1 << 20
USER_AGENT = f"vggcli/{__version__} (+https://pypi.org/project/vggcli)"


@dataclass(frozen=True)
class Checksums:
    """What a download must match; any field may be unknown (None)."""

    size: int | None = None
    sha256: str | None = None
    md5: str | None = None


class _Hasher:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.md5.update(data)
        self.size += len(data)

    def checksums(self) -> Checksums:
        return Checksums(self.size, self.sha256.hexdigest(), self.md5.hexdigest())


def file_checksums(path: Path, report: ByteProgress | None = None) -> Checksums:
    """Size, SHA-256 and MD5 of a file as it is on disk, read once."""
    hasher = _Hasher()
    total = Path(path).stat().st_size
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            hasher.update(block)
            if report:
                report(hasher.size, total)
    return hasher.checksums()


def hash_file(path: Path, report: ByteProgress | None = None) -> tuple[str, str]:
    """(sha256, md5) hex digests of a file, read once."""
    got = file_checksums(path, report)
    return got.sha256, got.md5


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _content_range_start(header: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header or "")
    return int(match.group(1)) if match else None


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _problems(got: Checksums, expected: Checksums) -> list[str]:
    problems = []
    if expected.size is not None and got.size != expected.size:
        problems.append(f"size {got.size:,} bytes instead of {expected.size:,}")
    if expected.sha256 and got.sha256 != expected.sha256:
        problems.append(f"SHA-256 {got.sha256} instead of {expected.sha256}")
    if expected.md5 and got.md5 != expected.md5:
        problems.append(f"MD5 {got.md5} instead of {expected.md5}")
    return problems


def _verifiable(expected: Checksums) -> bool:
    return bool(expected.sha256 or expected.md5)


def download(
    url: str,
    dest: Path,
    expected: Checksums = Checksums(),
    *,
    report: ByteProgress | None = None,
    on_wait: Callable[[], None] | None = None,
    timeout: float = 30.0,
) -> Checksums:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, return what it is.

    As pip does: one process at a time per destination (a lock; ``on_wait`` is called if this
    one has to wait for another), the checksums are those of the file on disk, and only a
    verified file is renamed to ``dest``. A verified ``dest`` already there (another process
    finished it) is not downloaded again. Raises FetchError with a one-line reason; on a network
    failure the partial file is kept so that calling again resumes.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create {dest.parent}: {e.strerror or e}") from None
    with locked(dest, on_wait=on_wait):
        if _verifiable(expected) and dest.is_file():
            got = file_checksums(dest)
            if not _problems(got, expected):
                return got
        start = part.stat().st_size if part.exists() else 0
        if expected.size is not None and start > expected.size:
            part.unlink()
            start = 0
        if expected.size is None or start < expected.size:
            _stream(url, part, start, expected.size, report, timeout)
        got = file_checksums(part)
        problems = _problems(got, expected)
        if problems:
            part.unlink(missing_ok=True)
            raise FetchError(
                f"the file from {url} is not the expected one ({'; '.join(problems)}); "
                "it was deleted, run the command again or use another source"
            )
        os.replace(part, dest)
        return got


def _stream(url, part: Path, start: int, size: int | None, report, timeout) -> None:
    """Append the rest of ``url`` from byte ``start`` to ``part`` (or rewrite it when the
    server cannot resume)."""
    try:
        try:
            response = _open(url, start, timeout)
        except urllib.error.HTTPError as e:
            if e.code != 416 or not start:
                raise
            # "Range not satisfiable": the file changed under the kept part; start over.
            start = 0
            response = _open(url, 0, timeout)
        with response:
            if response.headers.get("Content-Type", "").startswith("text/html"):
                raise FetchError(
                    f"{url} answered with an HTML page instead of the file "
                    "(a login page, a captive portal or a moved address?)"
                )
            resumed = response.status == 206
            if resumed and _content_range_start(response.headers.get("Content-Range")) != start:
                raise FetchError(f"{url} resumed at the wrong offset; delete {part} and retry")
            if not resumed:  # the whole file is coming: start over
                start = 0
            length = response.headers.get("Content-Length")
            total = size
            if total is None and length is not None:
                total = start + int(length)
            done = start
            with open(part, "ab" if resumed else "wb") as out:
                if report:
                    report(done, total)
                while block := response.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    if report:
                        report(done, total)
            if length is not None and done - start < int(length):
                raise HTTPException(f"the connection closed after {_mb(done)}")
    except FetchError:
        raise
    except urllib.error.HTTPError as e:
        raise FetchError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        raise FetchError(f"cannot reach {url} ({reason})") from None
    except ValueError as e:  # urllib's "unknown url type"
        raise FetchError(f"{url!r} is not a download address ({e}); give an http(s) URL") from None
    except (HTTPException, OSError) as e:
        kept = ""
        if part.exists() and part.stat().st_size:
            kept = f"; {_mb(part.stat().st_size)} kept in {part}: run the command again to resume"
        raise FetchError(
            f"the download from {url} broke off ({e or type(e).__name__}){kept}"
        ) from None
