"""The style-transfer objective of the lab manual §3.3, on any model that runs backward.

The objective on the image x (network input, [1, 3, H, W], preprocessed) is

    total = α·content + β·style + tv_weight·tv
    tv = 10⁶ · mean over pixels and channels of the squared differences of neighbour pixels
    content = Σ_l L_content(l) / #content layers          (eq. 3.10, default relu4_2)
    style   = Σ_l w_l·L_style(l) / #style layers          (eqs. 3.13-3.14, relu1_1 … relu5_1)

whose gradient is exactly the manual's image update direction
α·Σ∇content/len + β·Σ∇style/len (+ the TV term). Several style images are blended by mixing
their Gram matrices with normalised weights (for a quadratic loss this is the same gradient as
mixing the losses). A style image of another size than the output has its Gram matrices scaled
by the ratio of feature-map areas, so the manual's normalisation 1/(4NC²H²W²) applies unchanged.

The manual's β·style is about 10⁹–10¹⁰ on 0–255 pixels, a mean squared pixel difference about
10²–10³: :data:`TV_SCALE` puts the total-variation term on the style term's scale, so that
``--tv-weight`` between about 1 and 100 smooths visibly (without it, 10⁻³ moved the total by
10⁻¹⁰ and even 10⁴ did nothing one could see).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vggcli.engine.network import POOLING, Network
from vggcli.engine.vgg19 import CONV_PART_NAMES
from vggcli.errors import UsageError
from vggcli.style.losses import content_loss, gram, style_loss, tv_loss
from vggcli.style.optim import make_optimizer

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = (
    ("relu1_1", 1.0),
    ("relu2_1", 1.0),
    ("relu3_1", 1.0),
    ("relu4_1", 1.0),
    ("relu5_1", 1.0),
)
INITS = ("noise", "content", "random")
TV_SCALE = 1e6


@dataclass(frozen=True)
class StyleOptions:
    """Everything that defines the optimisation problem and its optimiser."""

    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[tuple[str, float], ...] = DEFAULT_STYLE_LAYERS
    alpha: float = 1.0
    beta: float = 500.0
    tv_weight: float = 0.0
    optimizer: str = "adam"
    lr: float = 1.0
    init: str = "noise"  # noise | content | random | the path of an image
    noise: float = 0.5
    seed: int = 0
    pooling: str = "max"  # "avg": average pooling, as Gatys et al. recommend for synthesis
    clip: bool = False  # keep the image in the pixel range 0–255 while optimising

    def __post_init__(self) -> None:
        if not self.content_layers and not self.style_layers:
            raise UsageError("give at least one content or style layer")
        make_optimizer(self.optimizer, self.lr)  # UsageError for an unknown name
        if not 0.0 <= self.noise <= 1.0:
            raise UsageError(f"--noise must be between 0 and 1, got {self.noise}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"--lr must be a positive number, got {self.lr}")
        for name in ("alpha", "beta", "tv_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UsageError(f"--{name.replace('_', '-')} must be a number ≥ 0, got {value}")
        if self.pooling not in POOLING:
            raise UsageError(f"--pooling is {' or '.join(POOLING)}, got {self.pooling!r}")


@dataclass(frozen=True)
class Losses:
    """One row of the loss history (docs/json.md): the terms as defined in the module docstring."""

    content: float
    style: float
    tv: float
    total: float
    optimised: float | None = None  # of an objective through a layer: the part of total whose
    # gradient came with these losses (Objective.through); None: all of it


def check_layers(names: Sequence[str], what: str) -> None:
    """UsageError unless every name is a layer of the convolutional part (conv1_1 … pool5)."""
    valid = list(CONV_PART_NAMES)
    for name in names:
        if name not in valid:
            raise UsageError(f"unknown {what} layer {name!r}; valid layers: {', '.join(valid)}")


class Objective:
    """L(x) and ∇L(x) for one content image and one or more (blended) style images."""

    def __init__(
        self,
        network: Network,
        content: np.ndarray,
        styles: Sequence[tuple[np.ndarray, float]],
        options: StyleOptions,
    ) -> None:
        self.network = network
        self.options = options
        check_layers(options.content_layers, "content")
        check_layers([name for name, _ in options.style_layers], "style")
        if options.style_layers and not styles:
            raise UsageError("style layers need at least one style image")
        total = sum(w for _, w in styles)
        if styles and not total > 0:
            raise UsageError(f"the style blend weights must sum to a positive number, got {total}")
        self.taps = list(
            dict.fromkeys([*options.content_layers, *(name for name, _ in options.style_layers)])
        )
        self.shape = content.shape
        self.content_input = content
        network.plan(content.shape, self.taps)  # UsageError now if the image is too small
        self.content_targets = {}
        if options.content_layers:
            outputs = network.forward(content, options.content_layers).outputs
            self.content_targets = {name: outputs[name].copy() for name in options.content_layers}
        self.style_targets = self._blended_grams(styles, total)
        self.gradient_taps: frozenset[str] | None = None  # None: every tap's term

    def _blended_grams(self, styles, total) -> dict[str, np.ndarray]:
        names = [name for name, _ in self.options.style_layers]
        if not names:
            return {}
        out_shapes = {c.layer.name: c.out_shape for c in self.network.plan(self.shape, names)}
        targets: dict[str, np.ndarray] = {}
        for image, weight in styles:
            features = self.network.forward(image, names).outputs
            for name in names:
                area = out_shapes[name][2] * out_shapes[name][3]
                style_area = features[name].shape[2] * features[name].shape[3]
                contribution = gram(features[name]) * np.float32(weight / total * area / style_area)
                targets[name] = targets[name] + contribution if name in targets else contribution
        return targets

    def on(self, network: Network) -> Objective:
        """The same objective (same targets) computed by another network, e.g. another backend."""
        twin = copy.copy(self)
        twin.network = network
        return twin

    def through(self, deepest: str) -> Objective:
        """The same objective (same losses, all computed) with a gradient of only the terms
        of the taps up to ``deepest`` in the network (and tv): the backward pass starts there.
        Its :attr:`Losses.optimised` is the value that gradient belongs to. The last stage of a
        coarse-to-fine run goes through relu4_2 (:mod:`vggcli.style.stages`): the backward pass
        skips conv4_3 … conv5_1, which only relu5_1's style term needs."""
        check_layers([deepest], "gradient")
        order = [layer.name for layer in self.network.layers]
        twin = copy.copy(self)
        twin.gradient_taps = frozenset(
            name for name in self.taps if order.index(name) <= order.index(deepest)
        )
        return twin

    def _drives(self, tap: str) -> bool:
        """Whether ``tap``'s term is in the gradient (see :meth:`through`)."""
        return self.gradient_taps is None or tap in self.gradient_taps

    def evaluate(self, x: np.ndarray, gradient: bool = True) -> tuple[Losses, np.ndarray | None]:
        """The loss terms at x and, with ``gradient``, dL/dx (same shape and dtype as x)."""
        losses, result, grads = self.forward(x, record=gradient)
        return losses, (self.backward(x, result, grads) if gradient else None)

    def forward(self, x: np.ndarray, record: bool = True, progress=None):
        """Forward pass and losses: (losses, the network's forward result, dL/d tap outputs)."""
        o = self.options
        result = self.network.forward(x, self.taps, record=record, progress=progress)
        grads: dict[str, np.ndarray] = {}
        optimised = 0.0  # the terms the gradient is of
        content = 0.0
        for name in o.content_layers:
            loss, g = content_loss(result.outputs[name], self.content_targets[name])
            content += loss / len(o.content_layers)
            if self._drives(name):
                optimised += o.alpha * loss / len(o.content_layers)
                _accumulate(grads, name, g * np.float32(o.alpha / len(o.content_layers)))
        style = 0.0
        for name, weight in o.style_layers:
            loss, g = style_loss(result.outputs[name], self.style_targets[name])
            style += weight * loss / len(o.style_layers)
            if self._drives(name):
                optimised += o.beta * weight * loss / len(o.style_layers)
                _accumulate(grads, name, g * np.float32(o.beta * weight / len(o.style_layers)))
        tv = TV_SCALE * tv_loss(x)[0] if o.tv_weight else 0.0
        total = o.alpha * content + o.beta * style + o.tv_weight * tv
        optimised += o.tv_weight * tv
        part = None if self.gradient_taps is None else optimised
        return Losses(content, style, tv, total, part), result, grads

    def backward(
        self, x: np.ndarray, result, grads: dict[str, np.ndarray], progress=None
    ) -> np.ndarray:
        """dL/dx from the tap gradients of :meth:`forward` (run with ``record=True``)."""
        dx = self.network.backward(result, grads, progress=progress).input
        if self.options.tv_weight:
            dx = dx + tv_loss(x)[1] * np.float32(self.options.tv_weight * TV_SCALE)
        return dx


def _accumulate(grads: dict[str, np.ndarray], name: str, g: np.ndarray) -> None:
    grads[name] = grads[name] + g if name in grads else g


def initial_image(content: np.ndarray, options: StyleOptions, init_image: np.ndarray | None = None):
    """The starting point: the manual's noisy content (noise·U(−20, 20) + (1−noise)·content),
    the content itself, pure U(−20, 20) noise, or a given preprocessed image."""
    rng = np.random.default_rng(options.seed)
    if init_image is not None:
        return init_image.astype(np.float32, copy=True)
    if options.init == "content":
        return content.astype(np.float32, copy=True)
    noise = rng.uniform(-20, 20, content.shape).astype(np.float32)
    if options.init == "random":
        return noise
    return (noise * np.float32(options.noise) + content * np.float32(1 - options.noise)).astype(
        np.float32
    )


def pixel_bounds(preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) [1, 3, 1, 1]: the network input of the pixel values 0 and 255 per channel."""
    mean = np.asarray(preprocessing.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    return -mean, np.float32(255) - mean
