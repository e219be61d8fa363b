"""Read MatConvNet's ``imagenet-vgg-verydeep-19.mat`` (both published formats) into a WeightSet.

The file is a MATLAB v5 file read with :func:`scipy.io.loadmat`; every struct field is read by
name, because the two formats order the fields differently (see docs/weights.md):

* current (beta17+): top-level ``layers`` and ``meta`` (``meta.normalization.averageImage``,
  ``meta.classes.description``);
* beta16: top-level ``layers``, ``normalization`` (a 224x224x3 average image) and ``classes``.

Layouts: conv weights are stored [H, W, Cin, Cout] (MatConvNet's importer turns Caffe's
[Cout, Cin, H, W] into exactly that; the operation is cross-correlation, so H and W are *not*
swapped) and become [Cin, H, W, Cout]. fc layers are stored as convolutions [h, w, c, k]
(7x7x512x4096, 1x1x4096x4096, 1x1x4096x1000) and become [h·w·c, k] matrices, rows in H, W, C
order, which is why flatten transposes NCHW to NHWC first. Biases are (K, 1) or (1, K).
The RGB mean is the average image averaged over every axis but the last.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vggcli.engine.weightset import Preprocessing, WeightSet
from vggcli.errors import WeightsError

MAT5_MAGIC = b"MATLAB 5.0 MAT-file"
MAT73_MAGIC = b"MATLAB 7.3 MAT-file"
FC_NAMES = ("fc6", "fc7", "fc8")


def _sniff(path: Path) -> None:
    """Reject what is clearly not a MATLAB v5 file before loadmat gives a cryptic error."""
    try:
        with open(path, "rb") as f:
            head = f.read(128)
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {path}") from None
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror}") from None
    if not head:
        raise WeightsError(f"{path} is empty")
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        raise WeightsError(f"{path} is an HTML page, not weights (a failed download?)")
    if head.startswith(MAT73_MAGIC):
        raise WeightsError(
            f"{path} is a MATLAB v7.3 (HDF5) file; MatConvNet's models are v5 files, "
            "so this is not the official VGG19 file"
        )
    if not head.startswith(MAT5_MAGIC):
        raise WeightsError(f"{path} is not a MATLAB .mat file")


def _one(value):
    """MATLAB wraps everything in 1x1 arrays; return the single element inside."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.flat[0]
    return value


def _field(struct, name: str, where: str):
    struct = _one(struct)
    if name not in getattr(struct, "_fieldnames", ()):
        raise WeightsError(f"{where} has no field {name!r}: not a MatConvNet VGG19 file")
    return _one(getattr(struct, name))


def _optional_field(struct, name: str):
    struct = _one(struct)
    return _one(getattr(struct, name)) if name in getattr(struct, "_fieldnames", ()) else None


def _text(value) -> str:
    value = _one(value)
    if isinstance(value, np.ndarray):
        value = "".join(value.ravel().tolist()) if value.size else ""
    return str(value)


def _mean_rgb(average_image, where: str) -> tuple[float, float, float]:
    a = np.asarray(average_image, dtype=np.float64)
    if a.ndim >= 1 and a.shape[-1] == 3:
        mean = a.reshape(-1, 3).mean(axis=0)
    elif a.size == 3:
        mean = a.reshape(3)
    else:
        raise WeightsError(f"{where}.averageImage has shape {a.shape}; expected ... x 3")
    return tuple(float(v) for v in mean)


def _layer_arrays(layer, index: int) -> tuple[str, str, tuple[np.ndarray, np.ndarray] | None]:
    where = f"layer {index + 1}"
    name = _text(_field(layer, "name", where))
    kind = _text(_field(layer, "type", where))
    if kind != "conv":
        return name, kind, None
    cell = _field(layer, "weights", f"layer {name}")
    if not (isinstance(cell, np.ndarray) and cell.dtype == object and cell.size == 2):
        raise WeightsError(f"layer {name}: weights is not a {{W, b}} cell")
    w, b = (np.asarray(a) for a in cell.ravel())
    return name, kind, (w, b)


def _to_engine_layout(name: str, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored [H, W, Cin, Cout] → conv [Cin, H, W, Cout] or fc [H·W·Cin, Cout]; bias → 1-D."""
    if w.ndim != 4:
        raise WeightsError(
            f"layer {name}: weights have shape {w.shape}; expected H x W x Cin x Cout"
        )
    b = b.reshape(-1).astype(np.float32)
    if name in FC_NAMES:
        h, wd, c, k = w.shape
        matrix = np.ascontiguousarray(w, dtype=np.float32).reshape(h * wd * c, k)
        return matrix, b
    return np.ascontiguousarray(w.transpose(2, 0, 1, 3), dtype=np.float32), b


def read_matconvnet(path: str | Path) -> WeightSet:
    """Load an ``imagenet-vgg-verydeep-19.mat`` (current or beta16 format), validated.

    Raises WeightsError with a one-line reason for anything that is not such a file: missing,
    empty, HTML, truncated, another network, wrong shapes.
    """
    import scipy.io  # here, not at the top: it adds 0.1 s to every command's start-up

    path = Path(path)
    _sniff(path)
    try:
        data = scipy.io.loadmat(str(path), struct_as_record=False)
    except MemoryError:
        raise
    except Exception as e:  # scipy raises ValueError, OSError, zlib.error, … on damaged files
        reason = str(e) or type(e).__name__
        raise WeightsError(
            f"{path} could not be read ({reason}); it is probably truncated: download it again"
        ) from None
    if "layers" not in data:
        raise WeightsError(f"{path} has no 'layers': not a MatConvNet model")
    if "meta" in data:
        source, version, where = "matconvnet", "current format", "meta.normalization"
        meta = _one(data["meta"])
        normalization = _field(meta, "normalization", "meta")
        classes = _optional_field(meta, "classes")
    elif "normalization" in data:
        source, version, where = "matconvnet-beta16", "beta16 format", "normalization"
        normalization = _one(data["normalization"])
        classes = _one(data["classes"]) if "classes" in data else None
    else:
        raise WeightsError(f"{path} has neither 'meta' nor 'normalization': not a MatConvNet model")

    params: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for index, layer in enumerate(np.asarray(data["layers"]).ravel()):
        name, _, arrays = _layer_arrays(layer, index)
        if arrays is not None:
            params[name] = _to_engine_layout(name, *arrays)
    mean = _mean_rgb(_field(normalization, "averageImage", where), where)
    class_names = None
    descriptions = _optional_field(classes, "description") if classes is not None else None
    if descriptions is not None and "fc8" in params:
        class_names = tuple(_text(c) for c in np.asarray(descriptions).ravel())
    weights = WeightSet(
        params=params,
        preprocessing=Preprocessing("RGB", mean),
        class_names=class_names,
        source=source,
        description=f"MatConvNet VGG19 ({version})",
        origin=str(path),
    )
    weights.layers  # noqa: B018 - validate the architecture (raises WeightsError)
    weights.check_finite(str(path))
    if weights.has_classifier:
        n_out = weights.params["fc8"][0].shape[1]
        if weights.class_names is not None and len(weights.class_names) != n_out:
            raise WeightsError(
                f"{path} lists {len(weights.class_names)} classes for {n_out} outputs"
            )
    return weights
