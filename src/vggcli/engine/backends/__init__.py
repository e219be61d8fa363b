"""Backends: interchangeable implementations of convolution and max pooling.

``get_backend(name)`` returns a fresh instance; ``BACKENDS`` lists what can be chosen with
``--backend``. Every backend passes the same tests against the loops reference and PyTorch.
"""

from __future__ import annotations

from vggcli.engine.backends.base import Backend
from vggcli.engine.backends.img2col import Img2colBackend
from vggcli.engine.backends.loops import LoopsBackend
from vggcli.errors import UsageError

BACKENDS: dict[str, type[Backend]] = {
    LoopsBackend.name: LoopsBackend,
    Img2colBackend.name: Img2colBackend,
}
DEFAULT_BACKEND = Img2colBackend.name


def get_backend(name: str) -> Backend:
    """A new instance of the backend called ``name``; UsageError listing the known ones if none."""
    try:
        return BACKENDS[name]()
    except KeyError:
        known = ", ".join(BACKENDS)
        raise UsageError(f"unknown backend {name!r}; choose one of: {known}") from None


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Backend", "get_backend"]
