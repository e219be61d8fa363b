"""Images in and out: load any common image as 8-bit RGB, preprocess for the network, save.

Loading honours EXIF orientation and converts every mode to RGB: grayscale and palette images
are expanded, transparent ones composited on white, 16-bit ones scaled (not clipped) to 8 bits,
CMYK converted. Images over :data:`MAX_PIXELS` are refused before they are decoded (a
"decompression bomb" can be a few kB on disk and gigabytes in memory).

Network input (lab manual fig. 3.2): float32, channels reordered as the weights want, mean
subtracted, HWC → NCHW with N = 1.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vggcli.engine.weightset import Preprocessing
from vggcli.errors import ImageError, OutputError
from vggcli.storage.atomic import atomic_write

MAX_PIXELS = 89_478_485  # Pillow's own warning threshold: about 9459 x 9459
RESIZE_MODES = ("stretch", "center-crop")
SAVE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}


def load_image(path: str | Path) -> Image.Image:
    """The image at ``path`` as an 8-bit RGB Pillow image; ImageError with the reason if not."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise _TooLarge(img.width, img.height)
                img.load()
                return to_rgb(ImageOps.exif_transpose(img))
    except FileNotFoundError:
        raise ImageError(f"image not found: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image (or not in a format Pillow can read)") from None
    except (_TooLarge, Image.DecompressionBombError) as e:
        size = f" ({e.width} x {e.height})" if isinstance(e, _TooLarge) else ""
        raise ImageError(
            f"{path} is too large to load safely{size}: the limit is {MAX_PIXELS:,} pixels, "
            "as a guard against decompression bombs; shrink it first"
        ) from None
    except (OSError, ValueError, SyntaxError) as e:  # Pillow's errors for damaged files
        raise ImageError(f"{path} is damaged or truncated ({e})") from None


class _TooLarge(Exception):
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB (see the module docstring)."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img, dtype=np.float64)
        scale = 257.0 if (mode != "I" or a.max(initial=0) > 255) else 1.0
        img = Image.fromarray(np.clip(np.rint(a / scale), 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        a = np.asarray(img, dtype=np.float64)
        a = a * 255.0 if a.max(initial=0) <= 1.0 else a
        img = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def resize(img: Image.Image, size: tuple[int, int], mode: str = "stretch") -> Image.Image:
    """Resize to ``size`` = (H, W).

    ``stretch`` (default, as the lab manual's scipy.misc.imresize): bilinear to H x W.
    ``center-crop`` (the usual ImageNet evaluation): shorter side to 256/224 of the target,
    then the central H x W.
    """
    h, w = size
    if mode == "stretch":
        return img.resize((w, h), Image.Resampling.BILINEAR)
    if mode != "center-crop":
        raise ValueError(f"unknown resize mode {mode!r}")
    short = round(min(h, w) * 256 / 224)
    scale = short / min(img.size)
    new = (max(w, round(img.width * scale)), max(h, round(img.height * scale)))
    img = img.resize(new, Image.Resampling.BILINEAR)
    left, top = (new[0] - w) // 2, (new[1] - h) // 2
    return img.crop((left, top, left + w, top + h))


def to_input(img: Image.Image, pre: Preprocessing) -> np.ndarray:
    """RGB image → network input [1, 3, H, W] float32 (channels as ``pre`` says, mean removed)."""
    x = np.asarray(img, dtype=np.float32)  # [H, W, 3] RGB
    if pre.channel_order == "BGR":
        x = x[:, :, ::-1]
    x = x - np.asarray(pre.mean, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def from_input(x: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Network input [1, 3, H, W] (or [3, H, W]) → uint8 RGB [H, W, 3], clipped to 0–255."""
    x = x[0] if x.ndim == 4 else x
    hwc = x.transpose(1, 2, 0) + np.asarray(pre.mean, dtype=np.float32)
    if pre.channel_order == "BGR":
        hwc = hwc[:, :, ::-1]
    return np.clip(np.rint(hwc), 0, 255).astype(np.uint8)


def image_format(path: Path) -> str:
    """The Pillow format for ``path``'s extension; OutputError for an unknown one."""
    fmt = SAVE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise OutputError(
            f"cannot tell the image format of {path}: use one of {', '.join(SAVE_FORMATS)}"
        )
    return fmt


def check_writable(path: Path) -> None:
    """OutputError now, rather than after an hour of work, when ``path`` cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name")
    if not folder.exists():
        raise OutputError(f"the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write to {folder} (permission denied)")


def save_image(rgb: np.ndarray | Image.Image, path: str | Path) -> Path:
    """Save an RGB uint8 [H, W, 3] array or image atomically; format from the extension."""
    path = Path(path)
    fmt = image_format(path)
    check_writable(path)
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb, "RGB")
    options = {"quality": 95} if fmt == "JPEG" else {}
    atomic_write(path, lambda f: img.save(f, format=fmt, **options))
    return path


def preserve_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance of ``stylized`` with the chrominance of ``content`` (YCbCr; both uint8 RGB
    [H, W, 3] of one size): the transfer changes brightness patterns, not the colours."""
    y = Image.fromarray(stylized, "RGB").convert("YCbCr")
    cbcr = Image.fromarray(content, "RGB").convert("YCbCr")
    merged = Image.merge("YCbCr", (y.getchannel("Y"), cbcr.getchannel("Cb"), cbcr.getchannel("Cr")))
    return np.asarray(merged.convert("RGB"))
