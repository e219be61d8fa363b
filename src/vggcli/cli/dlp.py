"""``vgg dlp run``: the course's own pycnml programs, with or without a DLP."""

from __future__ import annotations

import sys

import click

from vggcli.cli.options import PATH, threads_option
from vggcli.dlp.run import run_script


@click.group("dlp")
def dlp_command() -> None:
    """The DLP lab bench: run the course's pycnml programs unchanged, on a DLP or emulated."""


@dlp_command.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.argument("script", type=PATH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@threads_option
@click.option(
    "--no-compat",
    is_flag=True,
    help="Do not provide the names removed from numpy and scipy since the course's programs "
    "were written (np.float, scipy.misc.imread, imresize, …).",
)
def dlp_run(script, args, no_compat):
    """Run SCRIPT (a Python program that does `import pycnml`) with ARGS.

    It gets the real pycnml when that is installed, otherwise vggcli's emulator (int8 in
    numpy, bit-identical to `vgg classify --backend dlp`); stderr says which. The program's
    arguments, working directory and exit status are its own. Nothing is installed: the
    emulator is provided to this one process, and so are the names the course's older
    programs use that numpy and scipy removed (np.float, scipy.misc.imread, imresize, imsave).
    Also: python -m vggcli.dlp.run SCRIPT [ARGS…]

    \b
    Examples (clients written as the course's are, in examples/dlp/):
      vgg dlp run examples/dlp/mnist_mlp_pycnml.py 50
      vgg dlp run examples/dlp/vgg19_pycnml.py \\
        imagenet-vgg-verydeep-19-beta16.mat quant.npz examples/chelsea.png
    """
    sys.exit(run_script(script, list(args), compat=not no_compat))
