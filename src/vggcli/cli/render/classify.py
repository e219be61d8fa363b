"""``vgg classify``'s output: the top-k table of an image, the per-image table and accuracy of a
file list, and the JSON document."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from rich.table import Table
from rich.text import Text

from vggcli.classify import ImageResult, Summary
from vggcli.cli.render.console import bar
from vggcli.engine.weightset import WeightSet


def topk_table(result: ImageResult) -> Table:
    table = Table(
        title=f"{result.image}  ·  forward {result.forward_seconds:.3f} s",
        title_justify="left",
        title_style="bold",
    )
    table.add_column("rank", justify="right")
    table.add_column("id", justify="right")
    table.add_column("label")
    table.add_column("probability", justify="right")
    table.add_column("")
    for p in result.top:
        marker = " ✓" if result.label_id == p.class_id else ""
        table.add_row(
            str(p.rank),
            str(p.class_id),
            p.label + marker,
            f"{p.probability:.4f}",
            bar(p.probability),
        )
    return table


def short_names(paths: list[str]) -> tuple[str, list[str]]:
    """(the folder all ``paths`` share, each path relative to it): a narrow table shows the
    file names instead of the same long prefix on every row. ("", paths) when they share none."""
    if len(paths) < 2:
        return "", paths
    common = os.path.commonpath(paths) if len({os.path.isabs(p) for p in paths}) == 1 else ""
    if common in paths:  # one of them is the common path itself: keep its folder
        common = os.path.dirname(common)
    if not common or common in (".", os.sep):
        return "", paths
    return common, [os.path.relpath(p, common) for p in paths]


def file_list_table(results: Iterable[ImageResult]) -> Table:
    results = list(results)
    folder, names = short_names([r.image for r in results])
    title = "per image" + (f" (in {folder})" if folder else "")
    table = Table(title=title, title_justify="left", title_style="bold")
    for name, justify in (
        ("image", "left"),
        ("label", "right"),
        ("top-1", "left"),
        ("probability", "right"),
        ("true rank", "right"),
        ("forward s", "right"),
    ):
        table.add_column(name, justify=justify)
    for r, name in zip(results, names, strict=True):
        if r.error is not None:
            table.add_row(name, str(r.label_id), Text(r.error, style="red"), "", "", "")
            continue
        best = r.top[0]
        style = "green" if r.top1 else ("yellow" if r.top5 else "red")
        table.add_row(
            name,
            str(r.label_id),
            f"{best.class_id} {best.label}",
            f"{best.probability:.4f}",
            Text(str(r.true_rank), style=style),
            f"{r.forward_seconds:.3f}",
        )
    return table


def summary_table(summary: Summary, results: list[ImageResult], interrupted: bool) -> Table:
    title = "accuracy" + (" (interrupted: images so far)" if interrupted else "")
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    n = summary.count
    table.add_row("images", str(n))
    if summary.failed:
        table.add_row(Text("unreadable", style="red"), f"{summary.failed} (counted as misses)")
    table.add_row(
        "top-1 accuracy", f"{summary.top1_accuracy:.4f} ({sum(r.top1 for r in results)}/{n})"
    )
    table.add_row(
        "top-5 accuracy", f"{summary.top5_accuracy:.4f} ({sum(r.top5 for r in results)}/{n})"
    )
    forward = sum(r.forward_seconds for r in results)
    table.add_row("forward time", f"{forward:.3f} s ({forward / max(n, 1):.3f} s per image)")
    table.add_row("total time", f"{summary.seconds:.3f} s")
    return table


def classify_document(
    model, weights: WeightSet, results: Sequence[ImageResult], summary: Summary | None
) -> dict:
    """{"backend", "weights": {"source", "path"}, "results": [...], "summary"?, <details>?}."""
    document = {
        "backend": model.name,
        "weights": {"source": weights.source, "path": weights.path},
        "results": [r.to_dict() for r in results],
    }
    if model.details():
        document[model.name] = model.details()
    if summary is not None:
        document["summary"] = asdict(summary)  # count, top1/top5_accuracy, seconds, failed
    return document


def compare_table(runs: dict, agreements) -> Table:
    """``--compare``: accuracy per backend, then how each agrees with the first."""
    table = Table(title="accuracy per backend", title_justify="left", title_style="bold")
    table.add_column("backend")
    for name in ("images", "top-1", "top-5", "unreadable", "seconds"):
        table.add_column(name, justify="right")
    for classifier, _, s in runs.values():
        table.add_row(
            classifier.model.label, str(s.count), f"{s.top1_accuracy:.4f}",
            f"{s.top5_accuracy:.4f}", str(s.failed), f"{s.seconds:.1f}",
        )  # fmt: skip
    lines = [
        f"{a.b} against {a.a} on {a.images} images: top-1 the same on {a.top1_agreement:.2%}, "
        f"true class |Δp| mean {a.mean_abs_dp_true:.2e}, largest {a.max_abs_dp_true:.2e}"
        for a in agreements
    ]
    table.caption = "\n".join(lines)
    table.caption_justify = "left"
    return table


def compare_document(runs: dict, agreements) -> dict:
    """{"backends", "summaries": {name: summary}, "agreement": [...], "results": {name: [...]}}."""
    return {
        "backends": list(runs),
        "summaries": {name: asdict(s) for name, (_, _, s) in runs.items()},
        "agreement": [asdict(a) for a in agreements],
        "results": {name: [r.to_dict() for r in results] for name, (_, results, _) in runs.items()},
    }
