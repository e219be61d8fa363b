"""Backends: interchangeable implementations of convolution and max pooling.

Each is one module with a :class:`~vggcli.engine.backends.base.Backend` subclass and one line in
:data:`BACKENDS`; that line makes it a ``--backend`` choice of every command
(:mod:`vggcli.models`). Every backend passes the same tests against the loops reference
and PyTorch.
"""

from __future__ import annotations

from vggcli.engine.backends.base import Backend
from vggcli.engine.backends.img2col import Img2colBackend
from vggcli.engine.backends.loops import LoopsBackend
from vggcli.engine.backends.winograd import WinogradBackend

BACKENDS: dict[str, type[Backend]] = {
    LoopsBackend.name: LoopsBackend,
    Img2colBackend.name: Img2colBackend,
    WinogradBackend.name: WinogradBackend,
}
DEFAULT_BACKEND = WinogradBackend.name

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Backend"]
