"""``vgg cache list|clear``: see what vggcli keeps on disk and free it."""

from __future__ import annotations

import click
from rich.table import Table

from vggcli.cli.options import emit_json, json_option
from vggcli.cli.render.cache import cache_document
from vggcli.cli.render.console import out
from vggcli.errors import UsageError
from vggcli.storage import cachedir
from vggcli.storage.paths import CACHE_ENV, cache_dir


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


@click.group("cache")
def cache_command() -> None:
    """See and free what vggcli keeps on disk: installed weights, .mat files converted on
    first use (about 550 MB each), downloads, int8 parameters and filters.

    The folder is $VGGCLI_CACHE_DIR, else the platform's user cache folder (`vgg cache list`
    names it).
    """


@cache_command.command("list")
@json_option
def cache_list(as_json):
    """Everything in the cache, with its size.

    \b
    Example:
      vgg cache list
    """
    found = cachedir.entries()
    if as_json:
        emit_json(cache_document(cache_dir(), found))
        return
    out.print(f"cache {cache_dir()} (${CACHE_ENV} moves it)")
    if not found:
        out.print("  empty")
        return
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("name (for vgg cache clear)", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("what", overflow="fold")
    for entry in found:
        table.add_row(entry.name, _mb(entry.size), entry.what)
    table.add_row("total", _mb(sum(e.size for e in found)), "")
    out.print(table)


@cache_command.command("clear")
@click.argument("names", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Delete everything in the cache.")
def cache_clear(names, everything):
    """Delete NAMES (as `vgg cache list` shows them), or everything with --all.

    \b
    Examples:
      vgg cache clear weights/converted/3f2a9c0d1e4b5a6f
      vgg cache clear --all
    """
    if not names and not everything:
        raise UsageError("name what to delete (see `vgg cache list`), or give --all")
    if names and everything:
        raise UsageError("give names or --all, not both")
    removed = cachedir.remove(list(names))
    for entry in removed:
        out.print(f"deleted {entry.name} ({_mb(entry.size)})")
    out.print(f"freed {_mb(sum(e.size for e in removed))}")
