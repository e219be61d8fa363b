"""The published VGG19 weights files vggcli knows: where each is and how to recognise it by
its checksums."""

from __future__ import annotations

from dataclasses import dataclass

from vggcli.weights.fetch import Checksums


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


def identify(sha256: str, md5: str) -> Release | None:
    """The published release a file is, by its checksums, or None."""
    for release in RELEASES.values():
        c = release.checksums
        if (c.sha256 and c.sha256 == sha256) or (c.md5 and c.md5 == md5):
            return release
    return None
