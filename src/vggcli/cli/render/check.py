"""``vgg check``'s output: the checks against references, the layer-by-layer comparison of two
backends, their predictions in one line, and the JSON document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict

from rich import box
from rich.table import Table
from rich.text import Text

from vggcli.measure.compare import Agreement, LayerDivergence
from vggcli.measure.gradcheck import Check


def checks_table(checks, backend: str) -> Table:
    """``vgg check --backend NAME``: one row per check of ``backend``."""
    table = Table(
        title=f"vgg check · backend {backend}: float32 layers against references,\n"
        "float64 gradients against central differences",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for c, justify in (
        ("check", "left"),
        ("max rel. error", "right"),
        ("tolerance", "right"),
        ("", "left"),
    ):
        table.add_column(c, justify=justify)
    for c in checks:
        mark = Text("pass", style="green") if c.passed else Text("FAIL", style="bold red")
        table.add_row(c.name, f"{c.max_rel_error:.2e}", f"{c.tolerance:.0e}", mark)
    return table


def divergence_table(rows, a: str, b: str) -> Table:
    """Per layer: B on A's input to that layer (isolates the faulty layer) and B end to end."""
    table = Table(
        title=f"vgg check · {b} against {a}, layer by layer",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for c, justify in (
        ("layer", "left"),
        (f"{b} on {a}'s input", "right"),
        (f"{b} end to end", "right"),
        ("", "left"),
    ):
        table.add_column(c, justify=justify)
    first_bad = next((r for r in rows if not r.passed), None)
    for r in rows:
        mark = Text("ok", style="green") if r.passed else Text("FAIL", style="bold red")
        if r is first_bad:
            mark += Text(" ←", style="bold red")
        table.add_row(r.name, f"{r.isolated:.2e}", f"{r.propagated:.2e}", mark)
    tolerance = f"{rows[0].tolerance:.0e}"
    if first_bad is None:
        table.caption = (
            f"ok: each layer, on {a}'s input, is within {tolerance} (relative) of {a}\n"
            "(the end to end column adds up the earlier layers' errors: shown, not checked)"
        )
    else:
        table.caption = (
            f"first layer that goes wrong: {first_bad.name} (relative error "
            f"{first_bad.isolated:.2e} on {a}'s input, tolerance {tolerance})"
        )
    table.caption_justify = "left"
    return table


def agreement_line(agreement, a: str, b: str) -> str:
    """The two predictions of ``vgg check IMAGE --compare A,B`` in one line."""
    verdict = "the same class" if agreement.same_class else "DIFFERENT classes"
    return (
        f"prediction: {a} top-1 {agreement.top1_a}, {b} top-1 {agreement.top1_b} ({verdict}); "
        f"largest |Δp| {agreement.max_abs_dp:.2e}"
    )


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
