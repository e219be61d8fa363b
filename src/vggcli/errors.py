"""Errors a user can act on.

Every exception here carries a complete one-line message; the command line prints it as
``error: <message>`` and exits with status 1, never with a traceback.
"""


class VggError(Exception):
    """Base class: a problem with the user's input, files or environment."""


class ImageError(VggError):
    """An image is missing, unreadable, corrupt or too large."""


class WeightsError(VggError):
    """A weights file or cache is missing, corrupt or of the wrong kind."""


class FetchError(VggError):
    """Downloading or importing weights failed."""


class UsageError(VggError):
    """Options that do not fit together, unknown names, malformed lists."""


class OutputError(VggError):
    """An output file or folder cannot be written."""
