"""Run a course program that does ``import pycnml`` on a machine with or without a DLP.

    vgg dlp run SCRIPT [ARGS…]
    python -m vggcli.dlp.run SCRIPT [ARGS…]

When the real ``pycnml`` is installed, the program gets it, untouched. Otherwise
``sys.modules["pycnml"]`` is set to :mod:`vggcli.dlp.emulator` for this process only: nothing
is installed into site-packages, so a real pycnml installed later is never shadowed. Which one
the program gets is said on stderr. The program runs as ``python SCRIPT ARGS…`` would run it:
``sys.argv`` is ``[SCRIPT, *ARGS]``, its folder is first on ``sys.path``, the working
directory is unchanged, and its exit status is the command's: ``sys.exit``'s, 1 after an
uncaught exception (its own ``EOFError`` and ``MemoryError`` included) with its traceback and
nothing of vggcli's, 130 after Ctrl-C. Unless ``compat`` is off, the names the course's
Python-2-era programs use that numpy and scipy removed are provided (:mod:`.compat`), with a
note on stderr.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import textwrap
import traceback
from pathlib import Path

from vggcli.errors import UsageError


def provide_pycnml() -> str:
    """Make ``import pycnml`` work in this process; say which module it gives."""
    spec = importlib.util.find_spec("pycnml")
    if spec is not None:
        return f"pycnml: the installed library ({spec.origin})"
    from vggcli.dlp import emulator

    sys.modules["pycnml"] = emulator
    return "pycnml: not installed, using vggcli's emulator (int8 on the CPU, numpy)"


def run_script(script: str | Path, args: list[str], compat: bool = True) -> int:
    """Run ``script`` as ``__main__`` with ``args``, pycnml provided (see the module docstring);
    the exit status ``python SCRIPT ARGS…`` would give."""
    path = Path(script)
    if not path.is_file():
        raise UsageError(f"no such program: {script}")
    print(provide_pycnml(), file=sys.stderr, flush=True)
    if compat:
        from vggcli.dlp import compat as removed_names

        provided = removed_names.provide()
        if provided:
            note = (
                f"compat: {', '.join(provided)} provided for this program (removed from numpy "
                "and scipy since the course's programs were written; --no-compat turns this off)"
            )
            print(textwrap.fill(note, 79, subsequent_indent="  "), file=sys.stderr, flush=True)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(path.resolve().parent))
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:
        return _exit_status(e.code)
    except BaseException as e:
        traceback.print_exception(type(e), e, _program_frames(e.__traceback__, path))
        return 130 if isinstance(e, KeyboardInterrupt) else 1
    return 0


def _program_frames(tb, path: Path):
    """The traceback from the program's own first frame on (runpy's and vggcli's cut off)."""
    script = str(path.resolve())
    start = tb
    while start is not None and str(Path(start.tb_frame.f_code.co_filename).resolve()) != script:
        start = start.tb_next
    return start  # None: it failed before its first line ran (a SyntaxError): no frames


def _exit_status(code) -> int:
    """What ``sys.exit(code)`` makes python exit with: None 0, an int itself, anything else
    printed to stderr and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """``python -m vggcli.dlp.run SCRIPT [ARGS…]``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2 if not argv else 0
    try:
        return run_script(argv[0], argv[1:])
    except UsageError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
