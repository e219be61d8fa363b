"""``vgg classify``: top-k classes of images, accuracy over a file list."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from vggcli import models
from vggcli.classify import (
    Classifier,
    ImageResult,
    Job,
    Setup,
    agreement,
    open_classifier,
    results_header,
    resumed,
    summarize,
)
from vggcli.cli import interrupts
from vggcli.cli.exits import Exit
from vggcli.cli.options import (
    PATH,
    SEED,
    backend_option,
    emit_json,
    given,
    json_option,
    quant_params_option,
    refuse_unused,
    resize_option,
    threads_option,
    weights_option,
)
from vggcli.cli.progress import ImageBar, LayerBar
from vggcli.cli.render.classify import (
    classify_document,
    compare_document,
    compare_table,
    file_list_table,
    summary_table,
    topk_table,
)
from vggcli.cli.render.console import note, out, warn
from vggcli.cluster.connect import ClusterSpec, for_workers
from vggcli.errors import ImageError, UsageError
from vggcli.runtime import threads
from vggcli.storage.jsonl import JsonLines


@click.command()
@threads_option
@click.argument("images", nargs=-1, type=PATH)
@click.option(
    "--file-list",
    "-f",
    type=PATH,
    metavar="FILE|DIR",
    help="Lines 'IMAGE LABEL' (label = class number; paths relative to FILE), or a folder "
    "with one sub-folder per class named by its WordNet id (n02123045) or number "
    "(ImageFolder): report top-1/top-5 accuracy and time, like the manual's evaluate().",
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
@resize_option
@weights_option
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of --weights random.")
@quant_params_option
@click.option(
    "--batch-size",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    metavar="N",
    help="Images per forward pass of a --file-list (decoded ahead in background threads).",
)
@click.option(
    "--results",
    "results_path",
    type=PATH,
    metavar="FILE.jsonl",
    help="Write one JSON line per image as it finishes (in list order); the same command "
    "again continues where a stop left it, classifying no image twice.",
)
@click.option(
    "--compare",
    metavar="A,B,…",
    help="Run the --file-list on two or more backends (e.g. winograd,dlp): the accuracy of "
    "each, how often their top-1 agree, and how far apart the true class's probabilities are.",
)
@click.option(
    "--cluster",
    "cluster_text",
    metavar="tcp://HOST:PORT|local:N",
    help="Send the --file-list in chunks to a Dask cluster's workers (a scheduler's address), "
    "or to N worker processes started here; needs pip install 'vggcli[cluster]' "
    "(docs/cluster.md).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 100_000),
    default=16,
    show_default=True,
    metavar="N",
    help="Images per task sent to a --cluster worker: a worker that dies costs one chunk.",
)
@json_option
@click.pass_context
def classify(
    ctx, images, file_list, backend, top, resize_mode, weights_spec, seed, quant_params,
    batch_size, results_path, compare, cluster_text, chunk_size, as_json,
):  # fmt: skip
    """Classify IMAGE(s) with VGG19 and show the top classes.

    \b
    Examples:
      vgg classify examples/chelsea.png
      vgg classify examples/chelsea.png examples/coffee.png --top 10
      vgg classify examples/chelsea.png --backend loops
      vgg classify --file-list examples/val.txt
      vgg classify examples/chelsea.png --json --top 1000
      vgg classify examples/chelsea.png --backend dlp --quant-params quant.npz
      vgg classify --file-list examples/val.txt --compare winograd,dlp
      vgg classify --file-list imagenet/val --results val.jsonl --cluster local:2
    """
    names = [n.strip() for n in compare.split(",")] if compare else [backend]
    refuse_unused(
        ctx,
        {
            "seed": None
            if weights_spec == "random"
            else "seeds --weights random; these weights are not random",
            "quant_params": None
            if "dlp" in names
            else "is for the dlp backend: give --backend dlp",
            "compare": None
            if file_list is not None and not images
            else "measures accuracy on labelled images: give --file-list and no IMAGE",
            "backend": None
            if not compare
            else "is one backend: with --compare A,B name them all there",
            "results_path": None
            if not compare
            else "keeps one backend's results: run each backend with its own --results",
            "batch_size": None
            if file_list is not None and (batch_size == 1 or "dlp" not in names)
            else "is for --file-list on a backend that takes batches (dlp takes one image)",
            "cluster_text": None
            if file_list is not None and not images
            else "sends a --file-list to workers: give --file-list and no IMAGE",
            "chunk_size": None
            if cluster_text is not None
            else "is the work of a --cluster task: give one",
        },
    )
    runner = Runner(
        top,
        batch_size,
        ClusterSpec.parse(cluster_text) if cluster_text is not None else None,
        chunk_size,
        threads.chosen() if given(ctx, "threads") else None,
    )
    if compare:
        compare_backends(names, file_list, runner, weights_spec, seed, quant_params,
                         resize_mode, as_json)  # fmt: skip
        return
    setup = Setup(backend, weights_spec, seed, quant_params, resize_mode)
    classifier, todo = open_classifier(images, file_list, setup, notify=note)
    model, weights = classifier.model, classifier.weights
    top = min(top, len(classifier.names))
    if not as_json:
        note(
            f"backend {model.label} · weights {weights.description}"
            f"{f' ({weights.path})' if weights.path else ''} · resize {resize_mode} 224x224"
        )
    if not weights.meaningful:
        warn(
            f"{weights.description}: the predictions below are meaningless; "
            "run `vgg fetch-weights` for the trained weights"
        )

    results: list[ImageResult] = []
    started = time.perf_counter()
    interrupted = False
    work = sum(c.work for c in model.plan((1, 3, 224, 224), ("softmax",)))
    saved = contextlib.ExitStack()
    if results_path is not None:
        written = saved.enter_context(
            JsonLines(results_path, results_header(classifier, todo, top))
        )
        results = resumed(written.resume(), todo)
        if results:
            note(f"{results_path}: {len(results)} of {len(todo)} images done, continuing")

    if file_list is None:  # images named on the command line: one unreadable one is an error
        finished = (
            classifier.classify(
                path, top, label_id, progress=LayerBar(work, f"{path.name} [{model.name}]")
            )
            for path, label_id in todo[len(results) :]
        )
    else:
        saved.enter_context(counted := ImageBar(len(todo), len(results)))
        finished = runner.run(classifier, setup, todo[len(results) :], counted)
    try:
        with saved:
            for result in finished:
                if results_path is not None:
                    written.append(result.to_dict())
                results.append(result)
                if not as_json and file_list is None:
                    out.print(topk_table(result))
                interrupts.check()
    except KeyboardInterrupt:
        if file_list is None or not results:
            raise
        interrupted = True
    elapsed = time.perf_counter() - started
    labelled = [r for r in results if r.label_id is not None]
    summary = summarize(labelled, elapsed) if file_list is not None else None
    if as_json:
        emit_json(classify_document(model, weights, results, summary))
    elif summary is not None:
        out.print(file_list_table(results))
        out.print(summary_table(summary, labelled, interrupted))
    if interrupted:
        sys.exit(Exit.INTERRUPTED)
    failed = [r for r in results if r.error]
    if failed:
        raise ImageError(
            f"{len(failed)} of {len(results)} images could not be classified "
            f"(first: {failed[0].error})"
        )


def compare_backends(names, file_list, runner, weights_spec, seed, quant_params, resize_mode,
                     as_json) -> None:  # fmt: skip
    """``--compare A,B,…``: the file list on every backend, then the table of the lab report."""
    if len(names) < 2 or len({models.choice(n).name for n in names}) != len(names):
        raise UsageError("--compare takes two or more different backends, A,B")
    runs = {}
    for name in names:
        setup = Setup(name, weights_spec, seed, quant_params, resize_mode)
        classifier, todo = open_classifier((), file_list, setup, notify=note)
        started = time.perf_counter()
        with ImageBar(len(todo), description=classifier.model.name) as counted:
            results = list(runner.run(classifier, setup, todo, counted))
        elapsed = time.perf_counter() - started
        runs[classifier.model.name] = (classifier, results, summarize(results, elapsed))
    first, *others = runs
    agreements = [agreement(first, runs[first][1], o, runs[o][1]) for o in others]
    if as_json:
        emit_json(compare_document(runs, agreements))
    else:
        out.print(compare_table(runs, agreements))
    failed = [r for _, results, _ in runs.values() for r in results if r.error]
    if failed:
        raise ImageError(f"{len(failed)} images could not be classified (first: {failed[0].error})")


@dataclasses.dataclass(frozen=True)
class Runner:
    """How a file list runs: ``top`` classes kept, ``batch_size`` images per forward pass, here
    or on a ``cluster`` in chunks of ``chunk_size``, with ``threads`` per worker (None: their
    cores)."""

    top: int
    batch_size: int
    cluster: ClusterSpec | None
    chunk_size: int
    threads: int | None

    def run(
        self, classifier: Classifier, setup: Setup, todo: list[Job], counted: ImageBar
    ) -> Iterator[ImageResult]:
        """The results of ``todo`` in list order, as they come; ``counted`` advanced."""
        batch = 1 if classifier.model.name == "dlp" else self.batch_size
        if self.cluster is None:
            work = sum(c.work for c in classifier.model.plan((1, 3, 224, 224), ("softmax",)))

            def bar(images: int, label: str) -> LayerBar:
                return LayerBar(work * images, f"{label} [{classifier.model.name}]")

            for result in classifier.classify_many(todo, self.top, batch, bar):
                counted.advance()
                yield result
            return
        from vggcli.cluster.ordered import on_cluster
        from vggcli.cluster.tasks import classify_chunk

        size = -(-self.chunk_size // batch) * batch  # whole batches, as in a local run
        everywhere = dataclasses.replace(
            setup,
            weights_spec=for_workers(setup.weights_spec),
            quant_params=for_workers(setup.quant_params),
        )
        jobs = [(str(Path(path).absolute()), label) for path, label in todo]
        found = on_cluster(
            self.cluster, self.threads, classify_chunk, jobs, size, everywhere, self.top, batch,
            what=f"{size} images", notify=note,
        )  # fmt: skip
        for (path, _), (sent, _), item in zip(todo, jobs, found, strict=False):
            result = ImageResult.from_dict(item)
            result.image = str(path)  # as the list gave it, as a local run writes it
            if result.error is not None:
                result.error = result.error.replace(sent, str(path))
            counted.advance()
            yield result
