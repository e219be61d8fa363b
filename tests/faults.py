"""Fault injection for the tests: a misbehaving local HTTP server, a process killed at a chosen
point, several processes running the same thing at once.

* :class:`FileServer` serves bytes on 127.0.0.1 with HTTP Range support and scripted faults:
  drop the connection after N bytes, stall, ignore Range, send other bytes, stream slowly.
* :func:`kill_at` runs Python code in a child process that SIGKILLs itself when a chosen
  function (``"module:attribute.path"``) is called for the n-th time: "kill -9 at this moment",
  repeatable, without a hook in the code under test.
* :func:`run_together` runs the same code in several processes released at the same instant.
* :func:`read_only` makes a folder unwritable for this process, as chmod 555 does for a user
  who is not root (the tests run as root too, who writes anywhere).

Child processes run with the test's environment (its isolated ``VGGCLI_CACHE_DIR`` included).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Faults:
    """What the server does wrong; lists are consumed one entry per request."""

    ranges: bool = True  # honour Range requests
    drop_after: list[int] = field(default_factory=list)  # close after N body bytes
    stall: float = 0.0  # seconds of silence before the body
    chunk_delay: float = 0.0  # seconds between 64 KiB chunks of the body
    wrong_bytes: bool = False  # send bytes that are not the file's (same length)
    content_type: str = "application/octet-stream"


class FileServer:
    """Serves ``data`` at ``/file`` on 127.0.0.1 with the :class:`Faults` in ``faults``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.faults = Faults()
        self.requests: list[str | None] = []  # the Range header of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                # a client that goes away (as the tests make it do) is not an error
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        f = self.faults
        if handler.path != "/file":
            handler.send_error(404, "Not Found")
            return
        data = bytes(b ^ 0xFF for b in self.data) if f.wrong_bytes else self.data
        start = 0
        range_header = handler.headers.get("Range")
        if f.ranges and range_header:
            start = int(range_header.split("=")[1].split("-")[0])
            if start >= len(data):
                handler.send_error(416, "Range Not Satisfiable")
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        body = data[start:]
        handler.send_header("Content-Type", f.content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if f.drop_after:
            body = body[: f.drop_after.pop(0)]
        time.sleep(f.stall)
        for i in range(0, len(body), 1 << 16):
            handler.wfile.write(body[i : i + (1 << 16)])
            handler.wfile.flush()
            time.sleep(f.chunk_delay)
        handler.close_connection = True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def python(code: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the repository on its path); capture its output."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=os.environ.copy(),
    )


KILL_PRELUDE = """
import importlib, os, signal
_module, _path = {target!r}.split(":")
_owner = importlib.import_module(_module)
*_parents, _name = _path.split(".")
for _p in _parents:
    _owner = getattr(_owner, _p)
_original = getattr(_owner, _name)
_calls = [0]
def _killer(*args, **kwargs):
    _calls[0] += 1
    if _calls[0] == {nth}:
        if {after!r}:
            _original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    return _original(*args, **kwargs)
setattr(_owner, _name, _killer)
"""


def kill_at(
    target: str, code: str, *, nth: int = 1, after: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``code`` in a child that kill -9s itself at the ``nth`` call of ``target``
    (``"package.module:attr"`` or ``"package.module:Class.method"``), before the call or, with
    ``after``, once it returned. The result's ``returncode`` is −9 when the kill happened."""
    prelude = KILL_PRELUDE.format(target=target, nth=nth, after=after)
    return python(prelude + textwrap.dedent(code), timeout=timeout)


def run_together(code: str, count: int = 2, *, timeout: float = 120) -> list:
    """Run ``code`` in ``count`` processes; where ``code`` calls ``start_together()`` (after
    its imports) each waits for a shared start time. Their CompletedProcess results, in order."""
    start = time.time() + 2.0  # time for every interpreter to start and import
    prelude = (
        f"import time\ndef start_together():\n    time.sleep(max(0.0, {start!r} - time.time()))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=os.environ.copy(),
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def read_only(monkeypatch, folder: Path) -> None:
    """Nothing can be created in ``folder`` or below it (PermissionError, as for a folder of
    mode 555 and a user who is not root); what exists stays readable and writable."""
    folder = str(Path(folder).resolve())
    real_open, real_mkdir = os.open, os.mkdir

    def inside(path) -> bool:
        return os.path.abspath(os.fspath(path)).startswith(folder)

    def fake_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and inside(path) and not os.path.exists(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if inside(path) and not os.path.exists(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
