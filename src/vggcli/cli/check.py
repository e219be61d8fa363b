"""``vgg check`` and ``vgg calibrate``: correctness reports and int8 calibration."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vggcli import ui
from vggcli.cli.options import (
    backend_option,
    emit_json,
    json_option,
    parse_hw,
    quant_params_option,
    resize_option,
    weights_option,
)
from vggcli.dlp.calibrate import calibrate
from vggcli.engine.backends import get_backend
from vggcli.engine.models import build_model, check_name
from vggcli.errors import ImageError, UsageError
from vggcli.images import check_writable, load_image, resize, to_input
from vggcli.measure.check import compare_networks, gradient_checks, layer_checks
from vggcli.measure.torch_reference import TORCH
from vggcli.weights.store import resolve_weights


@click.command("check")
@click.argument("image", required=False, type=click.Path(path_type=Path))
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
    if image is None:
        if compare:
            raise UsageError("--compare needs an IMAGE to run through the network")
        if check_name(backend) == "dlp":
            raise UsageError(
                "without an IMAGE, vgg check tests the layers of loops or img2col; "
                "for the DLP path: vgg check IMAGE --compare img2col,dlp"
            )
        engine = get_backend(backend)
        references = {}
        if engine.name != "loops":
            references["loops"] = get_backend("loops")
        try:
            from vggcli.measure.torch_reference import TorchOps

            references[TORCH] = TorchOps()
        except UsageError:
            if not as_json:
                ui.note("torch is not installed: comparing with the loops reference only")
        checks = layer_checks(engine, references) + gradient_checks(engine)
        passed = all(c.passed for c in checks)
        if as_json:
            emit_json({"passed": passed, "checks": [c.as_json() for c in checks]})
        else:
            ui.out.print(ui.checks_table(checks))
            failed = [c for c in checks if not c.passed]
            ui.out.print(
                f"{len(checks) - len(failed)} of {len(checks)} checks passed"
                + (f"; first failure: {failed[0].name}" if failed else "")
            )
    else:
        names = [n.strip() for n in compare.split(",")] if compare else ["loops", backend]
        if len(names) != 2 or len({check_name(n) for n in names}) != 2:
            raise UsageError("--compare takes two different backends, A,B: B is checked against A")
        weights = resolve_weights(weights_spec, need_classifier=False, notify=ui.note)
        size = parse_hw(size_text or ("224" if weights.has_classifier else "64"))
        last = "softmax" if weights.has_classifier and size == (224, 224) else "pool5"
        x = to_input(resize(load_image(image), size), weights.preprocessing)
        a, b = (
            build_model(
                n, weights, quant_params=quant_params if "dlp" in n else None, notify=ui.note
            )
            for n in names
        )
        total = sum(c.work for c in a.plan(x.shape, [last]))
        with ui.LayerBar(2 * total, f"check {a.name} vs {b.name}") as bar:
            rows = compare_networks(a, b, x, last, progress=bar)
        passed = all(r.passed for r in rows)
        if as_json:
            emit_json({"passed": passed, "checks": [r.as_json() for r in rows]})
        else:
            ui.out.print(ui.divergence_table(rows, a.name, b.name))
            for m in (a, b):
                if m.name == "dlp":
                    ui.note(f"dlp: {m.description}, int8 parameters {m.quant_source}")
    if not passed:
        sys.exit(1)


@click.command("calibrate")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("quant.npz"),
    show_default=True,
    help="Where to write the parameters (course format, .npz).",
)
@resize_option
@weights_option
@json_option
def calibrate_command(images, output, resize_mode, weights_spec, as_json):
    """Int8 (position, scale) pairs for the DLP path, from calibration images.

    Each conv/fc layer's input pair comes from the largest |value| it sees over IMAGES (float
    network), its filter pair from its weights; the file has the course's layout (arrays
    `input` and `filter`, 19 pairs each) and is read by --quant-params.

    \b
    Example:
      vgg calibrate examples/*.jpg examples/*.png -o quant.npz
    """
    for path in images:
        if not path.exists():
            raise ImageError(f"image not found: {path}")
    if output.suffix != ".npz":
        raise UsageError(f"the output is an .npz file, got {output}")
    check_writable(output)
    weights = resolve_weights(weights_spec, need_classifier=True, notify=ui.note)
    bar = ui.step_bar(len(images), 0, "calibrate")
    result = calibrate(weights, list(images), resize_mode, on_image=lambda path: bar.update(1))
    bar.close()
    result.params.save(output)
    rows = [
        {
            "layer": name,
            "input_absmax": ia,
            "input_position": ip.position,
            "input_scale": ip.scale,
            "filter_absmax": fa,
            "filter_position": fp.position,
            "filter_scale": fp.scale,
        }
        for name, ia, ip, fa, fp in zip(
            result.params.layers,
            result.input_absmax,
            result.params.inputs,
            result.filter_absmax,
            result.params.filters,
            strict=True,
        )
    ]
    if as_json:
        emit_json({"output": str(output), "images": result.images, "layers": rows})
    else:
        ui.out.print(ui.calibration_table(rows))
        ui.out.print(
            f"wrote {output} ({len(rows)} layers, from {result.images} images); use it "
            f"with --backend dlp --quant-params {output}"
        )
