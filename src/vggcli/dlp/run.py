"""Run a course program that does ``import pycnml`` on a machine with or without a DLP.

    vgg dlp run SCRIPT [ARGS…]
    python -m vggcli.dlp.run SCRIPT [ARGS…]

When the real ``pycnml`` is installed, the program gets it, untouched. Otherwise
``sys.modules["pycnml"]`` is set to :mod:`vggcli.dlp.emulator` for this process only: nothing
is installed into site-packages, so a real pycnml installed later is never shadowed. Which one
the program gets is said on stderr. The program runs as ``python SCRIPT ARGS…`` would run it:
``sys.argv`` is ``[SCRIPT, *ARGS]``, its folder is first on ``sys.path``, the working
directory is unchanged, and its exit status (``sys.exit``, or 1 after an uncaught exception
with its traceback) is the command's.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
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


def run_script(script: str | Path, args: list[str]) -> None:
    """Run ``script`` as ``__main__`` with ``args``, pycnml provided (see the module docstring).
    Returns when the program ends normally; its ``sys.exit`` propagates as SystemExit."""
    path = Path(script)
    if not path.is_file():
        raise UsageError(f"no such program: {script}")
    print(provide_pycnml(), file=sys.stderr, flush=True)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(path.resolve().parent))
    runpy.run_path(str(path), run_name="__main__")


def main(argv: list[str] | None = None) -> int:
    """``python -m vggcli.dlp.run SCRIPT [ARGS…]``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2 if not argv else 0
    try:
        run_script(argv[0], argv[1:])
    except UsageError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
