"""The JSON documents of ``--json``: the one place where the machine-readable contract is shaped.

Scripts and graders rely on these shapes (``docs/json.md`` describes every field); the commands
print what these functions return and nothing else on stdout. Keys are only ever added.
:func:`dumps` writes strict JSON: a value that is not a finite number (NaN, ±Inf) becomes
``null`` instead of the bare ``NaN`` that most JSON readers refuse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from vggcli.cachedir import Entry
from vggcli.classify import ImageResult, Summary
from vggcli.measure.check import Agreement, Check, LayerDivergence
from vggcli.measure.harness import BenchReport, Result, Timing
from vggcli.measure.profile import Profile
from vggcli.weights.weightset import WeightSet


def dumps(document: dict) -> str:
    """``document`` as strict, indented JSON (non-finite numbers as null)."""
    return json.dumps(_finite(document), indent=2, allow_nan=False)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# --- vgg classify ------------------------------------------------------------------------------


def classify_document(
    model, weights: WeightSet, results: Sequence[ImageResult], summary: Summary | None
) -> dict:
    """{"backend", "weights": {"source", "path"}, "results": [...], "summary"?, <details>?}."""
    document = {
        "backend": model.name,
        "weights": {"source": weights.source, "path": weights.path},
        "results": [_image_result(r) for r in results],
    }
    if model.details():
        document[model.name] = model.details()
    if summary is not None:
        document["summary"] = asdict(summary)  # count, top1/top5_accuracy, seconds, failed
    return document


def _image_result(r: ImageResult) -> dict:
    if r.error is not None:
        failed = {"image": r.image, "top": [], "forward_seconds": None, "error": r.error}
        return {**failed, **({"label_id": r.label_id} if r.label_id is not None else {})}
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


# --- vgg bench -----------------------------------------------------------------------------------


def bench_document(report: BenchReport) -> dict:
    """{"kind", "config", "results": [...]}; speed-ups and errors relative to the first result."""
    return {
        "kind": report.kind,
        "config": report.config,
        "results": [_bench_result(r) for r in report.results],
    }


def _timing(t: Timing | None) -> dict | None:
    return None if t is None else {"median_s": t.median_s, "min_s": t.min_s, "max_s": t.max_s}


def _bench_result(r: Result) -> dict:
    return {
        "backend": r.backend,
        "forward": _timing(r.forward),
        "backward": _timing(r.backward),
        "gflops_forward": r.gflops_forward,
        "speedup_forward": r.speedup_forward,
        "speedup_backward": r.speedup_backward,
        "max_rel_error": r.max_rel_error,
        "extrapolated": r.fraction < 1,
        "fraction_timed": r.fraction,
        "note": r.note,
        "mults_forward": r.mults_forward,
    }


# --- vgg profile ---------------------------------------------------------------------------------


def profile_document(profile: Profile) -> dict:
    """{"backend", "input_shape", "layers": [...], "total_forward_ms", "total_backward_ms"}."""
    return {
        "backend": profile.backend,
        "input_shape": list(profile.input_shape),
        "layers": [
            {
                "name": la.name,
                "output_shape": list(la.output_shape),
                "params": la.params,
                "mults": la.mults,
                "adds": la.adds,
                "mults_performed": la.mults_performed,
                "forward_ms": la.forward_ms,
                "backward_ms": la.backward_ms,
            }
            for la in profile.layers
        ],
        "total_forward_ms": profile.total_forward_ms,
        "total_backward_ms": profile.total_backward_ms,
    }


# --- vgg check -----------------------------------------------------------------------------------


def check_document(
    checks: Iterable[Check | LayerDivergence], agreement: Agreement | None = None
) -> dict:
    """{"passed", "checks": [{"name", "max_rel_error", "tolerance", "passed", …}]}, and with
    IMAGE --compare A,B through the softmax "prediction": {"top1_a", "top1_b", …}."""
    checks = list(checks)
    document = {"passed": all(c.passed for c in checks), "checks": [_check(c) for c in checks]}
    if agreement is not None:
        document["prediction"] = {**asdict(agreement), "same_class": agreement.same_class}
    return document


def _check(c: Check | LayerDivergence) -> dict:
    if isinstance(c, LayerDivergence):
        return {
            "name": c.name,
            "max_rel_error": c.isolated,
            "tolerance": c.tolerance,
            "passed": c.passed,
            "propagated_rel_error": c.propagated,
        }
    return {
        "name": c.name,
        "max_rel_error": c.max_rel_error,
        "tolerance": c.tolerance,
        "passed": c.passed,
    }


# --- vgg calibrate -------------------------------------------------------------------------------


def calibrate_document(output: str, images: int, rows: list[dict]) -> dict:
    """{"output", "images", "layers": [{"layer", "input_absmax", "input_position", …}]}."""
    return {"output": output, "images": images, "layers": rows}


def cache_document(root: Path, entries: Iterable[Entry]) -> dict:
    """``vgg cache list --json``."""
    return {
        "cache": str(root),
        "entries": [
            {"name": e.name, "path": str(e.path), "bytes": e.size, "what": e.what} for e in entries
        ],
    }
