"""What each command shows: one module per command's output, each with its terminal tables and
its ``--json`` document (:mod:`.json` writes them); :mod:`.console` holds the two consoles and
the pieces of text they share. Progress while work runs is in :mod:`vggcli.cli.progress`."""
