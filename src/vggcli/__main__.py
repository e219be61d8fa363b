"""The ``vgg`` command (and ``python -m vggcli``): an entry point that imports nothing heavy
before it can answer Ctrl-C, so that an interruption during start-up (numpy, scipy and the
engine take a second to import) ends in ``interrupted`` and status 130, never a traceback."""

import sys

INTERRUPTED = 130  # vggcli.cli.exits.Exit.INTERRUPTED, which is not imported yet


def main() -> None:
    try:
        from vggcli.cli import run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    run()


if __name__ == "__main__":
    main()
