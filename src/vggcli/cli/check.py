"""``vgg check``: a backend's layers and gradients, or two backends layer by layer on an image."""

from __future__ import annotations

import sys

import click

from vggcli import models
from vggcli.cli.exits import Exit
from vggcli.cli.options import (
    PATH,
    backend_option,
    emit_json,
    json_option,
    parse_hw,
    quant_params_option,
    refuse_unused,
    threads_option,
    weights_option,
)
from vggcli.cli.progress import LayerBar
from vggcli.cli.render.check import agreement_line, check_document, checks_table, divergence_table
from vggcli.cli.render.console import note, out
from vggcli.errors import UsageError
from vggcli.measure.compare import compare_on_image
from vggcli.measure.layer_checks import check_backend


@click.command("check")
@threads_option
@click.argument("image", required=False, type=PATH)
@backend_option
@click.option(
    "--compare",
    metavar="A,B",
    help="With IMAGE: run both through the network and compare B with A layer by layer "
    "(default: loops,BACKEND). dlp shows where the int8 error enters.",
)
@click.option(
    "--size",
    "size_text",
    metavar="S|HxW",
    help="With IMAGE: input size (default 224 with a classifier, else 64).",
)
@weights_option
@quant_params_option
@json_option
def check_command(image, backend, compare, size_text, weights_spec, quant_params, as_json):
    """Check a backend: every layer against the loops reference (and torch), gradients against
    central differences; with IMAGE, two implementations layer by layer. Exit status 1 on any
    failure.

    \b
    Examples:
      vgg check --backend img2col
      vgg check examples/chelsea.png --compare img2col,loops --size 64
      vgg check examples/chelsea.png --compare img2col,dlp
    """
    names = [n.strip() for n in compare.split(",")] if compare else ["loops", backend]
    refuse_unused(
        click.get_current_context(),
        {
            "size_text": None if image is not None else "is the size of IMAGE: give one",
            "backend": None if not compare else "is checked alone: with --compare A,B name both",
            "weights_spec": None
            if image is not None
            else "is for a check on IMAGE: a backend's layers are checked on random inputs",
            "quant_params": None
            if image is not None and "dlp" in {models.choice(n).name for n in names}
            else "is for the dlp backend on an IMAGE: give --compare A,dlp",
        },
    )
    if image is None:
        if compare:
            raise UsageError("--compare needs an IMAGE to run through the network")
        checks, notes = check_backend(backend)
        document = check_document(checks)
        if as_json:
            emit_json(document)
        else:
            for line in notes:
                note(line)
            out.print(checks_table(checks, models.choice(backend).name))
            failed = [c for c in checks if not c.passed]
            out.print(
                f"{backend}: {len(checks) - len(failed)} of {len(checks)} checks passed"
                + (f"; first failure: {failed[0].name}" if failed else "")
            )
    else:
        comparison = compare_on_image(
            image,
            names,
            weights_spec,
            parse_hw(size_text) if size_text else None,
            quant_params=quant_params,
            progress_for=LayerBar,
            notify=note,
        )
        document = check_document(comparison.rows, comparison.agreement)
        if as_json:
            emit_json(document)
        else:
            a, b = comparison.a, comparison.b
            out.print(divergence_table(comparison.rows, a.name, b.name))
            if comparison.agreement is not None:
                out.print(agreement_line(comparison.agreement, a.name, b.name))
            for m in (a, b):
                if m.details():
                    note(f"{m.label} · " + ", ".join(f"{k} {v}" for k, v in m.details().items()))
    if not document["passed"]:
        sys.exit(Exit.FAILED)
