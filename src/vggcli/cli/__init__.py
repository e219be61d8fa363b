"""The ``vgg`` command line: parse options, call the library, render. No maths here.

Errors the user can fix (:class:`vggcli.errors.VggError`) print as one ``Error: …`` line and exit
with a named status (:mod:`.exits`: 1 failed, 2 usage, 130 interrupted); ``--json`` puts exactly
one JSON document on stdout (shaped in :mod:`.render`).
One module per command: classify, fetch, stylize, bench, profile, check, calibrate, cache, dlp.
"""

from __future__ import annotations

import sys

import click

from vggcli._version import __version__
from vggcli.cli import interrupts
from vggcli.cli.bench import bench_command
from vggcli.cli.cache import cache_command
from vggcli.cli.calibrate import calibrate_command
from vggcli.cli.check import check_command
from vggcli.cli.classify import classify
from vggcli.cli.dlp import dlp_command
from vggcli.cli.exits import BadUsage, Exit, Failed
from vggcli.cli.fetch import fetch_weights
from vggcli.cli.profile import profile_command
from vggcli.cli.stylize import stylize
from vggcli.errors import UsageError, VggError
from vggcli.runtime.malloc import keep_freed_memory


class VggGroup(click.Group):
    """Turns the library's user errors into one-line errors with their exit status (a
    :class:`UsageError` exits 2, any other 1), and an interruption (Ctrl-C, or SIGTERM: see
    :mod:`.interrupts`) into exit status 130 after the command's own clean-up (style transfer
    saves its image and state first)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UsageError as e:
            raise BadUsage(str(e)) from None
        except VggError as e:
            raise Failed(str(e)) from None
        except MemoryError:
            raise Failed("out of memory: try a smaller image size") from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(Exit.INTERRUPTED)


@click.group(
    cls=VggGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "-V", "--version", prog_name="vgg")
def main() -> None:
    """VGG19 from first principles: classify images, transfer styles, compare how convolution
    is computed. numpy only, no deep-learning framework.

    \b
    First time: vgg fetch-weights   (official MatConvNet VGG19, 535 MB, cached)
    Then:       vgg classify examples/chelsea.png
    """
    keep_freed_memory()  # a command is one job: reuse freed pages instead of faulting new ones
    interrupts.install()  # SIGTERM as Ctrl-C; neither can be lost


def run(args: list[str] | None = None) -> None:
    """``vgg``: :data:`main` with every way out turned into a named exit status. click's
    standalone mode would print "Aborted!" and exit 1 for a Ctrl-C that arrives outside a
    command (while the options are parsed); here it is ``interrupted``, 130."""
    try:
        status = main.main(args, prog_name="vgg", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        status = e.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        status = Exit.INTERRUPTED
    sys.exit(status if isinstance(status, int) else Exit.OK)


for command in (
    classify,
    fetch_weights,
    stylize,
    bench_command,
    profile_command,
    check_command,
    calibrate_command,
    cache_command,
    dlp_command,
):
    main.add_command(command)
