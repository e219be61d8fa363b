"""Where vggcli keeps its cache: downloads and converted weights.

``$VGGCLI_CACHE_DIR`` wins; otherwise the platform's user cache folder (``$XDG_CACHE_HOME`` or
``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) + ``vggcli``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_ENV = "VGGCLI_CACHE_DIR"


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vggcli"


def weights_dir(name: str) -> Path:
    """The converted weights called ``name`` (see :mod:`vggcli.engine.weightset`)."""
    return cache_dir() / "weights" / name


def downloads_dir() -> Path:
    return cache_dir() / "downloads"
