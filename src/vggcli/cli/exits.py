"""The exit statuses of every ``vgg`` command, in one place (``docs/json.md``, and the
README's guarantees).

* 0 ``OK``: the command did what was asked.
* 1 ``FAILED``: it could not (a missing or damaged file, a check that failed, an image of a list
  that could not be read, a diverged optimisation); one ``Error: …`` line says why.
* 2 ``USAGE``: the command line is wrong (an unknown option or name, a malformed value, options
  that do not fit together): click's own usage errors and vggcli's :class:`UsageError` alike.
* 130 ``INTERRUPTED``: stopped by Ctrl-C or SIGTERM, after the command saved what it had.
"""

from __future__ import annotations

from enum import IntEnum

import click


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130


class Failed(click.ClickException):
    """A one-line ``Error: …`` and :attr:`Exit.FAILED`."""

    exit_code = Exit.FAILED


class BadUsage(click.ClickException):
    """A one-line ``Error: …`` and :attr:`Exit.USAGE` (click's own usage errors also print the
    usage line; vggcli's name the option and need no more)."""

    exit_code = Exit.USAGE
