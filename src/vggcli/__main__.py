"""``python -m vggcli`` is the same as the ``vgg`` command."""

from vggcli.cli import main

main()
