"""Errors a user can act on.

Every exception here carries a complete one-line message; the command line prints it as
``error: <message>`` and exits with status 1, never with a traceback.
"""

import tokenize
import zipfile
import zlib


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


class Diverged(VggError):
    """The optimisation's loss stopped being a finite number; the last finite state is kept."""


class NotFinite(VggError):
    """A network's output holds NaN or ±Inf (float16 activations that overflowed, weights that
    are not finite); the message names the layer where it first appeared."""


class Worsened(VggError):
    """The optimisation ended with a picture whose loss is above its starting image's; the
    files are kept."""


UNREADABLE = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    EOFError,
    SyntaxError,
    RecursionError,
    tokenize.TokenError,
    zipfile.BadZipFile,
    zlib.error,
    RuntimeError,  # zipfile: a member whose flags say "encrypted"
    NotImplementedError,  # zipfile: a member whose flags name an unknown compression
)
"""What reading a damaged file with numpy or json can raise (a .npy header is parsed as Python
literals: a flipped bit there ends in SyntaxError or TokenError)."""


def read_failure(e: Exception) -> str:
    """The reason a file could not be read, in a few words: an OSError's strerror, and never
    numpy's advice to load a file with pickles "unsafely" (vggcli never unpickles)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if "Object arrays cannot be loaded" in str(e):
        return "it holds pickled objects, which vggcli never loads"
    if "contains pickled (object) data" in str(e):  # numpy's guess for any unknown file
        return "it is neither a .npy nor a .npz file"
    return str(e)
