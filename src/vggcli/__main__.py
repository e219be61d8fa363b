"""The ``vgg`` command (and ``python -m vggcli``): an entry point that answers Ctrl-C during
start-up (numpy, scipy and the engine take a second to import) with ``interrupted`` and status
130, never a traceback.

While the imports run, SIGINT only sets a flag: a KeyboardInterrupt raised inside Python's
import machinery can land in one of its callbacks, where Python prints "Exception ignored …
Traceback" and goes on as if nothing had been pressed (seen on a fast machine 0.1 s after
start)."""

import signal
import sys

INTERRUPTED = 130  # vggcli.cli.exits.Exit.INTERRUPTED, which is not imported yet


def main() -> None:
    pressed: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # a background job's ignored SIGINT stays ignored
        signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        from vggcli.cli import run
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    run()


if __name__ == "__main__":
    main()
