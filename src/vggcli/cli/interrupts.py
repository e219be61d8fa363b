"""Ctrl-C and SIGTERM: one interruption, which a long command cannot lose.

Python raises KeyboardInterrupt wherever the main thread is when it handles the signal. Raised
inside a destructor or a weakref callback (a temporary file closing, a zip file of the state
being collected), the exception is printed as "Exception ignored" and lost, and a long run would
go on as if nothing had happened. The handler therefore also records the request, and long
loops call :func:`check` at safe points (after each step, after each image), which raises it
again.
"""

from __future__ import annotations

import contextlib
import signal

_requested = False


def _interrupt(signum, frame) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGTERM as Ctrl-C, both recorded; a SIGINT the parent ignores (``nohup``, a
    background job of a script) stays ignored."""
    global _requested
    _requested = False
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)


def check() -> None:
    """Raise KeyboardInterrupt if an interruption was requested (and maybe lost on the way)."""
    if _requested:
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred():
    """Ignore Ctrl-C and SIGTERM while the files of an interrupted run are written."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
