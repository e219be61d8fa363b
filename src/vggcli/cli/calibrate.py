"""``vgg calibrate``: int8 (position, scale) pairs for the DLP path from calibration images."""

from __future__ import annotations

from pathlib import Path

import click

from vggcli.cli.options import (
    PATH,
    emit_json,
    json_option,
    resize_option,
    threads_option,
    weights_option,
)
from vggcli.cli.progress import step_bar
from vggcli.cli.render.calibrate import calibrate_document, calibration_table
from vggcli.cli.render.console import note, out
from vggcli.dlp.calibrate import run_calibration


@click.command("calibrate")
@threads_option
@click.argument("images", nargs=-1, required=True, type=PATH)
@click.option(
    "-o",
    "--output",
    type=PATH,
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
    with step_bar(len(images), 0, "calibrate") as bar:  # closed before an error is shown
        result = run_calibration(
            images,
            output,
            weights_spec,
            resize_mode,
            on_image=lambda path: bar.update(1),
            notify=note,
        )
    rows = result.rows()
    if as_json:
        emit_json(calibrate_document(str(output), result.images, rows))
    else:
        out.print(calibration_table(rows))
        out.print(
            f"wrote {output} ({len(rows)} layers, from {result.images} images); use it "
            f"with --backend dlp --quant-params {output}"
        )
