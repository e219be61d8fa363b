"""A MatConvNet file read in a child process.

scipy's MAT-file reader is C code that a damaged file can crash: the fuzz tests found a ``.mat``
with three bits flipped that ends ``scipy.io.loadmat`` in a segmentation fault. A damaged
weights file must end in a one-line error, not kill vggcli with the conversion half done, so
the file is read in a forked child, which writes the arrays into the folder being built; the
parent learns only whether that worked (and why not). The conversion happens once per file, so
the fork costs nothing that matters.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from vggcli.errors import WeightsError
from vggcli.weights.matconvnet import read_matconvnet
from vggcli.weights.stored import write_arrays


def convert_in_child(source: Path, folder: Path, sha256: str | None, origin: str) -> int:
    """Read ``source`` and write its arrays into ``folder`` (the cache's format), in a child
    process; the number of parameters. WeightsError for a damaged file, the reader's crash
    included; OSError as the writing raised it; KeyboardInterrupt stops the child too."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_convert, args=(source, folder, sha256, origin, send))
    child.start()
    send.close()
    try:
        try:
            outcome = receive.recv()
        except EOFError:  # the child died without a word: killed, or crashed in C code
            outcome = None
        child.join()
    except KeyboardInterrupt:
        child.terminate()
        child.join()
        raise
    if outcome is None:
        raise WeightsError(
            f"{source} is damaged: reading it crashed scipy's MAT-file reader (exit status "
            f"{child.exitcode}); download or copy it again"
        )
    kind, *details = outcome
    if kind == "os":
        raise OSError(*details)
    if kind == "error":
        raise WeightsError(details[0])
    return details[0]


def _convert(source: Path, folder: Path, sha256, origin, send) -> None:
    """In the child: convert, then say how it went, then leave at once (no clean-up of the
    parent's objects)."""
    try:
        weights = read_matconvnet(source)
        weights.sha256 = sha256
        weights.origin = origin
        write_arrays(weights, folder)
        send.send(("ok", weights.num_params))
    except OSError as e:
        send.send(("os", e.errno, e.strerror or str(e)))
    except BaseException as e:
        send.send(("error", str(e) if isinstance(e, WeightsError) else f"{source}: {e}"))
    finally:
        send.close()
        os._exit(0)
