"""``vgg classify``: top-k classes of images, accuracy over a file list."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from vggcli import ui
from vggcli.classify import Classifier, ImageResult, read_file_list, summarize
from vggcli.cli.options import (
    backend_label,
    backend_option,
    emit_json,
    json_option,
    quant_params_option,
    resize_option,
    weights_option,
)
from vggcli.engine.models import build_model, check_name
from vggcli.errors import ImageError, UsageError
from vggcli.weights.store import resolve_weights


@click.command()
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
@resize_option
@weights_option
@click.option("--seed", default=0, show_default=True, help="Seed of --weights random.")
@quant_params_option
@json_option
def classify(
    images, file_list, backend, top, resize_mode, weights_spec, seed, quant_params, as_json
):
    """Classify IMAGE(s) with VGG19 and show the top classes.

    \b
    Examples:
      vgg classify examples/chelsea.png
      vgg classify a.jpg b.png --top 10 --backend loops
      vgg classify --file-list examples/val.txt
      vgg classify cat.jpg --json --top 1000
      vgg classify cat.jpg --backend dlp --quant-params vgg19_quant_param_new.npz
    """
    if not images and file_list is None:
        raise UsageError("give at least one IMAGE or --file-list FILE")
    for path in images:
        if not path.exists():
            raise ImageError(f"image not found: {path}")
    check_name(backend)
    weights = resolve_weights(weights_spec, need_classifier=True, seed=seed, notify=ui.note)
    model = build_model(backend, weights, quant_params=quant_params, notify=ui.note)
    classifier = Classifier(model, weights, resize_mode)
    top = min(top, len(classifier.names))
    jobs = [(Path(p), None) for p in images]
    if file_list is not None:
        entries = read_file_list(file_list, len(classifier.names))
        jobs += [(e.path, e.label_id) for e in entries]

    if not as_json:
        ui.note(
            f"backend {backend_label(model)} · weights {weights.description}"
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
            with ui.LayerBar(sum(c.work for c in plan), f"{path.name} [{model.name}]") as bar:
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
            "backend": model.name,
            "weights": {"source": weights.source, "path": weights.path},
            "results": [_result_json(r) for r in results],
        }
        if model.name == "dlp":
            document["dlp"] = {"device": model.description, "quant_params": model.quant_source}
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
