"""``vgg profile``: per-layer shapes, costs and times of one network pass."""

from __future__ import annotations

import click

from vggcli.cli.options import (
    PATH,
    backend_option,
    emit_json,
    json_option,
    parse_hw,
    refuse_unused,
    threads_option,
    timing_weights_option,
)
from vggcli.cli.progress import step_bar
from vggcli.cli.render.console import note, out
from vggcli.cli.render.profile import profile_document, profile_table, summary_lines
from vggcli.measure.profile import run_profile


@click.command("profile")
@threads_option
@click.argument("image", required=False, type=PATH)
@backend_option
@click.option(
    "--size",
    "size_text",
    default="224",
    show_default=True,
    metavar="S|HxW",
    help="Input size; 224 includes the classifier when the weights have one.",
)
@click.option(
    "--backward",
    is_flag=True,
    help="Also time the backward pass (input gradient, as in style transfer).",
)
@click.option("--param-grads", is_flag=True, help="With --backward: dW and db too.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--top",
    default=3,
    show_default=True,
    type=click.IntRange(0),
    help="Highlight the N slowest layers.",
)
@timing_weights_option
@json_option
def profile_command(
    image, backend, size_text, backward, param_grads, repeat, top, weights_spec, as_json
):
    """Per-layer cost and time: output shape, parameters, multiplications, additions, ms.

    \b
    Examples:
      vgg profile examples/chelsea.png --backend img2col --backward
      vgg profile --size 192x320 --backward --json
    """
    refuse_unused(
        click.get_current_context(),
        {
            "param_grads": None
            if backward
            else "times dW and db in the backward pass: add --backward",
            "top": None if not as_json else "highlights rows of the table: --json has every layer",
        },
    )
    with step_bar(repeat + 2, 0, f"profile [{backend}]") as bar:
        result = run_profile(
            backend,
            weights_spec,
            parse_hw(size_text),
            image,
            repeat=repeat,
            backward=backward,
            param_grads=param_grads,
            on_pass=lambda: bar.update(1),
            notify=note,
        )
    if as_json:
        emit_json(profile_document(result))
        return
    out.print(profile_table(result, top))
    for line in summary_lines(result, top):
        out.print(line)
