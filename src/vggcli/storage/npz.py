"""Arrays read from an ``.npz`` archive after checking what each declares.

``np.load`` of an ``.npz`` returns a member that is not an ``.npy`` file as raw ``bytes``, and
reads a member that declares 2^40 values by trying to allocate them. :func:`array` reads the
member's header first: a missing member is a KeyError, anything but a numeric array of at most
``max_values`` values a ValueError saying what it is, and nothing is ever unpickled.
"""

from __future__ import annotations

import math
import tokenize

import numpy as np

MAX_VALUES = 2**28  # 1 GiB of float32: far more than any file vggcli writes holds in one array


def array(data: np.lib.npyio.NpzFile, name: str, max_values: int = MAX_VALUES) -> np.ndarray:
    """The member ``name`` of ``data`` (opened with ``allow_pickle=False``), checked."""
    member = f"{name}.npy"
    if member not in data.zip.namelist():
        raise KeyError(name)
    with data.zip.open(member) as f:
        try:
            major, _ = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
        except (ValueError, SyntaxError, tokenize.TokenError):
            raise ValueError(f"{name!r} is not an array (no .npy header)") from None
    if dtype.hasobject:
        raise ValueError(f"{name!r} holds pickled objects, which vggcli never loads")
    if math.prod(shape) > max_values:
        raise ValueError(f"{name!r} declares {math.prod(shape):,} values, more than any such file")
    return data[name]
