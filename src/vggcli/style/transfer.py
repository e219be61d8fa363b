"""Gatys-style neural style transfer as in the lab manual §3.3: objective, run loop, state.

The objective on the image x (network input, [1, 3, H, W], preprocessed) is

    total = α·content + β·style + tv_weight·tv
    content = Σ_l L_content(l) / #content layers          (eq. 3.10, default relu4_2)
    style   = Σ_l w_l·L_style(l) / #style layers          (eqs. 3.13-3.14, relu1_1 … relu5_1)

whose gradient is exactly the manual's image update direction
α·Σ∇content/len + β·Σ∇style/len (+ the TV term). Several style images are blended by mixing
their Gram matrices with normalised weights (for a quadratic loss this is the same gradient as
mixing the losses). A style image of another size than the output has its Gram matrices scaled
by the ratio of feature-map areas, so the manual's normalisation 1/(4NC²H²W²) applies unchanged.

The run loop yields nothing and prints nothing: it calls ``on_step(step, losses, image)`` for
every step (step 0 = the initial image) and keeps a :class:`RunState` that can be saved at any
moment (Ctrl-C) and resumed: with Adam, 500 + 500 steps give the same image as 1000 steps.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vggcli import __version__
from vggcli.atomic import atomic_write
from vggcli.engine.network import Network
from vggcli.engine.vgg19 import CONV_PART_NAMES
from vggcli.errors import UsageError
from vggcli.style.losses import content_loss, gram, style_loss, tv_loss
from vggcli.style.optim import Adam, AdamState, lbfgs

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = (
    ("relu1_1", 1.0),
    ("relu2_1", 1.0),
    ("relu3_1", 1.0),
    ("relu4_1", 1.0),
    ("relu5_1", 1.0),
)
OPTIMIZERS = ("adam", "lbfgs")
INITS = ("noise", "content", "random")
STATE_FORMAT = 1
HISTORY_COLUMNS = ("step", "content", "style", "tv", "total")


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

    def __post_init__(self) -> None:
        if not self.content_layers and not self.style_layers:
            raise UsageError("give at least one content or style layer")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(
                f"unknown optimizer {self.optimizer!r}; choose {', '.join(OPTIMIZERS)}"
            )
        if not 0.0 <= self.noise <= 1.0:
            raise UsageError(f"--noise must be between 0 and 1, got {self.noise}")
        if self.lr <= 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class Losses:
    """One row of the loss history (DESIGN §8): the terms as defined in the module docstring."""

    content: float
    style: float
    tv: float
    total: float


@dataclass(frozen=True)
class RunState:
    """What a run needs to continue: the image after ``step`` updates, the loss history rows
    recorded so far (step, content, style, tv, total) and, for Adam, its moments."""

    image: np.ndarray
    step: int
    history: tuple[tuple[float, ...], ...] = ()
    adam: AdamState | None = None


def check_layers(network: Network, names: Sequence[str], what: str) -> None:
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
        check_layers(network, options.content_layers, "content")
        check_layers(network, [name for name, _ in options.style_layers], "style")
        if options.style_layers and not styles:
            raise UsageError("style layers need at least one style image")
        total = sum(w for _, w in styles)
        if styles and not total > 0:
            raise UsageError(f"the style blend weights must sum to a positive number, got {total}")
        self.taps = list(
            dict.fromkeys([*options.content_layers, *(name for name, _ in options.style_layers)])
        )
        self.shape = content.shape
        network.plan(content.shape, self.taps)  # UsageError now if the image is too small
        self.content_targets = {}
        if options.content_layers:
            outputs = network.forward(content, options.content_layers).outputs
            self.content_targets = {name: outputs[name].copy() for name in options.content_layers}
        self.style_targets = self._blended_grams(styles, total)

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

    def evaluate(self, x: np.ndarray, gradient: bool = True) -> tuple[Losses, np.ndarray | None]:
        """The loss terms at x and, with ``gradient``, dL/dx (same shape and dtype as x)."""
        losses, result, grads = self.forward(x, record=gradient)
        return losses, (self.backward(x, result, grads) if gradient else None)

    def forward(self, x: np.ndarray, record: bool = True, progress=None):
        """Forward pass and losses: (losses, the network's forward result, dL/d tap outputs)."""
        o = self.options
        result = self.network.forward(x, self.taps, record=record, progress=progress)
        grads: dict[str, np.ndarray] = {}
        content = 0.0
        for name in o.content_layers:
            loss, g = content_loss(result.outputs[name], self.content_targets[name])
            content += loss / len(o.content_layers)
            _accumulate(grads, name, g * np.float32(o.alpha / len(o.content_layers)))
        style = 0.0
        for name, weight in o.style_layers:
            loss, g = style_loss(result.outputs[name], self.style_targets[name])
            style += weight * loss / len(o.style_layers)
            _accumulate(grads, name, g * np.float32(o.beta * weight / len(o.style_layers)))
        tv = tv_loss(x)[0] if o.tv_weight else 0.0
        total = o.alpha * content + o.beta * style + o.tv_weight * tv
        return Losses(content, style, tv, total), result, grads

    def backward(
        self, x: np.ndarray, result, grads: dict[str, np.ndarray], progress=None
    ) -> np.ndarray:
        """dL/dx from the tap gradients of :meth:`forward` (run with ``record=True``)."""
        dx = self.network.backward(result, grads, progress=progress).input
        if self.options.tv_weight:
            dx = dx + tv_loss(x)[1] * np.float32(self.options.tv_weight)
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


OnStep = Callable[[int, Losses, np.ndarray], None]


class StyleTransfer:
    """Runs the optimiser on an :class:`Objective`, keeping a resumable :class:`RunState`."""

    def __init__(self, objective: Objective, state: RunState) -> None:
        self.objective = objective
        self.options = objective.options
        if self.options.optimizer == "adam" and state.adam is None:
            state = RunState(
                state.image, state.step, state.history, Adam(self.options.lr).init(state.image)
            )
        self.state = state
        self.lbfgs_message: str | None = None  # why scipy's L-BFGS stopped, after a run

    def _record(self, step: int, losses: Losses, image: np.ndarray, on_step: OnStep | None):
        history = self.state.history
        if history and history[-1][0] >= step:
            return
        row = (float(step), losses.content, losses.style, losses.tv, losses.total)
        self.state = RunState(self.state.image, self.state.step, (*history, row), self.state.adam)
        if on_step:
            on_step(step, losses, image)

    def run(self, until: int, on_step: OnStep | None = None) -> RunState:
        """Optimise until ``until`` updates have been made in total; returns the final state.

        A KeyboardInterrupt leaves ``self.state`` consistent (the last completed step).
        """
        if self.options.optimizer == "adam":
            self._run_adam(until, on_step)
        else:
            self._run_lbfgs(until, on_step)
        final, _ = self.objective.evaluate(self.state.image, gradient=False)
        self._record(self.state.step, final, self.state.image, on_step)
        return self.state

    def _run_adam(self, until: int, on_step: OnStep | None) -> None:
        adam = Adam(self.options.lr)
        while self.state.step < until:
            s = self.state
            losses, grad = self.objective.evaluate(s.image)
            self._record(s.step, losses, s.image, on_step)
            image, moments = adam.step(s.image, grad, self.state.adam)
            self.state = RunState(image, s.step + 1, self.state.history, moments)  # one assignment

    def _run_lbfgs(self, until: int, on_step: OnStep | None) -> None:
        if self.state.step >= until:
            return
        shape = self.state.image.shape
        last: dict[str, object] = {}

        def fun(flat: np.ndarray):
            x = flat.reshape(shape).astype(np.float32)
            losses, grad = self.objective.evaluate(x)
            last.update(flat=flat.copy(), losses=losses)
            if not self.state.history or self.state.history[-1][0] < self.state.step:
                self._record(self.state.step, losses, x, on_step)
            return losses.total, grad.astype(np.float64).ravel()

        def callback(flat: np.ndarray) -> None:
            x = flat.reshape(shape).astype(np.float32)
            if "flat" in last and np.array_equal(last["flat"], flat):
                losses = last["losses"]
            else:
                losses, _ = self.objective.evaluate(x, gradient=False)
            self.state = RunState(x, self.state.step + 1, self.state.history)
            self._record(self.state.step, losses, x, on_step)

        result = lbfgs(fun, self.state.image, until - self.state.step, callback)
        self.lbfgs_message = str(result.message)


# --- the state file ------------------------------------------------------------------------------


def save_state(path: Path, state: RunState, fingerprint: dict) -> Path:
    """Write ``state`` atomically as an .npz (no pickles): a reader sees the old or the new one."""
    path = Path(path)
    arrays = {
        "format": np.array(STATE_FORMAT),
        "vggcli_version": np.array(__version__),
        "fingerprint": np.array(json.dumps(fingerprint, sort_keys=True)),
        "image": state.image,
        "step": np.array(state.step),
        "history": np.array(state.history, dtype=np.float64).reshape(-1, len(HISTORY_COLUMNS)),
    }
    if state.adam is not None:
        arrays.update(adam_m=state.adam.m, adam_v=state.adam.v, adam_t=np.array(state.adam.t))
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def load_state(path: Path, fingerprint: dict) -> RunState:
    """Read a state file and check that it belongs to this run; UsageError otherwise."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            fmt = int(data["format"])
            if fmt != STATE_FORMAT:
                raise UsageError(
                    f"{path} was written by vggcli {data['vggcli_version']} (state format {fmt}); "
                    f"this vggcli {__version__} reads format {STATE_FORMAT}"
                )
            saved = json.loads(str(data["fingerprint"]))
            adam = None
            if "adam_m" in data:
                adam = AdamState(data["adam_m"], data["adam_v"], int(data["adam_t"]))
            history = tuple(tuple(float(v) for v in row) for row in data["history"])
            state = RunState(data["image"], int(data["step"]), history, adam)
    except UsageError:
        raise
    except FileNotFoundError:
        raise UsageError(f"state file not found: {path}") from None
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise UsageError(f"{path} is not a vggcli state file ({e})") from None
    differences = [
        f"{key}: {saved.get(key)!r} in the state, {fingerprint.get(key)!r} now"
        for key in sorted(set(saved) | set(fingerprint))
        if saved.get(key) != fingerprint.get(key)
    ]
    if differences:
        raise UsageError(f"{path} belongs to another run ({'; '.join(differences)})")
    return state
