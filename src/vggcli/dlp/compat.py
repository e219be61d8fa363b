"""The few names the course's Python-2-era programs use that numpy and scipy have removed,
provided again for one ``vgg dlp run`` process (never installed, never for vggcli itself).

The course's clients were written for numpy 1.11 and scipy 0.18: ``np.float``, ``np.int``,
``np.bool``, ``np.object`` (removed in numpy 1.24) are the builtins they aliased, and
``scipy.misc.imread``, ``imresize`` and ``imsave`` (removed in scipy 1.2–1.3) are rebuilt on
Pillow with those functions' documented behaviour:

* ``imread(name, flatten=False, mode=None)``: the image as an array (uint8 for 8-bit images),
  ``flatten`` a float32 grey image (Pillow's "F"), ``mode`` a Pillow mode to convert to;
* ``imresize(arr, size, interp="bilinear", mode=None)``: ``size`` a (height, width[, …]) tuple,
  a fraction (float) or a percentage (int); the array is made an 8-bit picture first
  (``bytescale`` for other types, as scipy's ``toimage`` did), and the result is uint8;
* ``imsave(name, arr, format=None)``: the same 8-bit picture, saved by Pillow.
"""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
from PIL import Image

REMOVED_NUMPY = {"float": float, "int": int, "bool": bool, "object": object}
INTERP = {
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "cubic": Image.Resampling.BICUBIC,
}


def bytescale(arr: np.ndarray) -> np.ndarray:
    """scipy 0.18's ``bytescale`` with its defaults: uint8 as it is, else the range of the
    values mapped linearly onto 0–255."""
    if arr.dtype == np.uint8:
        return arr
    low, high = float(arr.min()), float(arr.max())
    scale = 255.0 / (high - low) if high > low else 1.0
    return ((arr.astype(np.float64) - low) * scale + 0.4999).clip(0, 255).astype(np.uint8)


def toimage(arr, mode: str | None = None) -> Image.Image:
    image = Image.fromarray(bytescale(np.asarray(arr)))
    return image.convert(mode) if mode else image


def imread(name, flatten: bool = False, mode: str | None = None) -> np.ndarray:
    with Image.open(name) as image:
        if flatten:
            image = image.convert("F")
        elif mode:
            image = image.convert(mode)
        return np.array(image)


def imresize(arr, size, interp: str = "bilinear", mode: str | None = None) -> np.ndarray:
    image = toimage(arr, mode)
    if isinstance(size, (int, np.integer)):
        new = tuple(round(side * size / 100.0) for side in image.size)
    elif isinstance(size, (float, np.floating)):
        new = tuple(round(side * size) for side in image.size)
    else:
        new = (int(size[1]), int(size[0]))  # (height, width[, channels]) → Pillow's (w, h)
    return np.array(image.resize(new, resample=INTERP[interp]))


def imsave(name, arr, format: str | None = None) -> None:
    toimage(arr).save(name, format)


def provide() -> list[str]:
    """Put back the removed names that are missing, in this process; what was provided."""
    provided = [f"np.{n}" for n, value in REMOVED_NUMPY.items() if n not in np.__dict__]
    for name in provided:
        setattr(np, name[3:], REMOVED_NUMPY[name[3:]])
    try:
        with warnings.catch_warnings():  # "scipy.misc is deprecated": the program's concern
            warnings.simplefilter("ignore", DeprecationWarning)
            import scipy.misc as misc
    except ImportError:  # a scipy without the module at all
        misc = sys.modules["scipy.misc"] = types.ModuleType("scipy.misc")
        import scipy

        scipy.misc = misc
    for function in (imread, imresize, imsave):
        if not hasattr(misc, function.__name__):
            setattr(misc, function.__name__, function)
            provided.append(f"scipy.misc.{function.__name__}")
    return provided
