"""A ``vgg stylize`` job: sizes and images in, a prepared run out, run with its files.

:func:`open_run` loads the images, builds the model and the objective, and makes (or reads back)
the starting state; :class:`Stylization` runs it, writing checkpoints as it goes and every file
at the end (:mod:`vggcli.style.runfiles`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vggcli.engine import models
from vggcli.engine.network import Network
from vggcli.errors import ImageError, UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.style.objective import INITS, Losses, Objective, StyleOptions, initial_image
from vggcli.style.run import RunState, StyleTransfer
from vggcli.style.runfiles import RunFiles, load_state, output_rgb, save_state, write_run
from vggcli.weights.cache import resolve_weights
from vggcli.weights.weightset import WeightSet

DEFAULT_MAX_SIDE = 320


@dataclass(frozen=True)
class StylizeJob:
    """The inputs of a run: images, sizes and the optimisation options."""

    content: Path
    styles: tuple[Path, ...]
    blend: tuple[float, ...]
    options: StyleOptions
    size: tuple[int, int] | None = None  # (H, W); None: keep the content's aspect ratio
    max_side: int = DEFAULT_MAX_SIDE
    style_scale: float = 1.0

    def __post_init__(self) -> None:
        if len(self.blend) != len(self.styles):
            raise UsageError(
                f"--style-blend has {len(self.blend)} weights for {len(self.styles)} style images"
            )
        if any(w < 0 for w in self.blend) or not sum(self.blend) > 0:
            raise UsageError("the --style-blend weights must be non-negative with a positive sum")
        if self.style_scale <= 0:
            raise UsageError(f"--style-scale must be positive, got {self.style_scale}")
        if self.max_side < 1:
            raise UsageError(f"--max-side must be positive, got {self.max_side}")


def parse_size(text: str) -> tuple[int, int]:
    """'192x320' → (192, 320) (height x width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"a size is HEIGHTxWIDTH in pixels, like 192x320; got {text!r}")
    return int(parts[0]), int(parts[1])


def parse_style_layers(text: str) -> tuple[tuple[str, float], ...]:
    """'relu1_1:0.2,relu2_1' → (('relu1_1', 0.2), ('relu2_1', 1.0))."""
    layers = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            layers.append((name.strip(), float(weight) if weight else 1.0))
        except ValueError:
            raise UsageError(f"a style layer is NAME or NAME:WEIGHT, got {item!r}") from None
    return tuple(layers)


def parse_floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"{what} takes numbers separated by commas, got {text!r}") from None


def output_size(content_wh: tuple[int, int], size: tuple[int, int] | None, max_side: int):
    """(H, W) of the stylised image: ``size``, or the content's aspect with the long side
    ``max_side``."""
    if size is not None:
        return size
    w, h = content_wh
    scale = max_side / max(w, h)
    return max(1, round(h * scale)), max(1, round(w * scale))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Prepared:
    """A run ready to start: the objective, the content image at output size (RGB uint8), the
    initial state and the fingerprint a state file must match."""

    objective: Objective
    content_rgb: np.ndarray
    initial: RunState
    fingerprint: dict


def prepare(job: StylizeJob, network: Network, resume: Path | None = None) -> Prepared:
    """Load the images, compute the targets, and make (or read back) the starting state."""
    pre = network.weights.preprocessing
    content_img = load_image(job.content)
    h, w = output_size(content_img.size, job.size, job.max_side)
    content_img = resize(content_img, (h, w))
    style_hw = (max(1, round(h * job.style_scale)), max(1, round(w * job.style_scale)))
    styles = [
        (to_input(resize(load_image(p), style_hw), pre), weight)
        for p, weight in zip(job.styles, job.blend, strict=True)
    ]
    content = to_input(content_img, pre)
    options = job.options
    init_image = None
    init_key = options.init
    if options.init not in INITS:
        init_path = Path(options.init)
        if not init_path.is_file():
            raise UsageError(
                f"--init is {', '.join(INITS)} or an image file; {init_path} is neither"
            )
        init_image = to_input(resize(load_image(init_path), (h, w)), pre)
        init_key = file_sha256(init_path)
    objective = Objective(network, content, styles, options)
    weights = network.weights
    fingerprint = {
        "content": file_sha256(job.content),
        "styles": [[file_sha256(p), wt] for p, wt in zip(job.styles, job.blend, strict=True)],
        "shape": list(content.shape),
        "style_shape": list(style_hw),
        "weights": weights.sha256 or weights.description,
        "options": json.loads(json.dumps({**asdict(options), "init": init_key})),
    }
    if resume is not None:
        initial = load_state(resume, fingerprint)
    else:
        initial = RunState(initial_image(content, options, init_image), 0)
    return Prepared(objective, np.asarray(content_img), initial, fingerprint)


class Stylization:
    """A prepared run and its files: :meth:`run` optimises (checkpoints as it goes), :meth:`save`
    writes the image, history and state as they are (also after an interruption)."""

    def __init__(
        self, prepared: Prepared, files: RunFiles, weights: WeightSet, preserve_colors: bool
    ) -> None:
        self.prepared = prepared
        self.files = files
        self.weights = weights
        self.content_rgb = prepared.content_rgb if preserve_colors else None
        self.transfer = StyleTransfer(prepared.objective, prepared.initial)
        self.start_step = self.transfer.state.step

    @property
    def optimizer(self) -> str:
        return self.transfer.optimizer.name

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the output."""
        return tuple(self.prepared.fingerprint["shape"][2:])

    def rgb(self, image: np.ndarray) -> np.ndarray:
        return output_rgb(image, self.weights.preprocessing, self.content_rgb)

    def run(self, steps: int, on_step: Callable[[int, Losses], None] | None = None) -> RunState:
        """Optimise up to ``steps`` updates in total, checkpointing the image (and the state)
        every ``checkpoint_every`` steps. A KeyboardInterrupt leaves the state consistent."""

        def step_done(step: int, losses: Losses, image: np.ndarray) -> None:
            if on_step:
                on_step(step, losses)
            if self.files.is_checkpoint(step):
                self.files.checkpoint(step, self.rgb(image))
                if step:
                    save_state(
                        self.files.state,
                        self.transfer.state,
                        self.prepared.fingerprint,
                        self.optimizer,
                    )

        return self.transfer.run(steps, step_done)

    def save(self) -> None:
        write_run(
            self.files, self.transfer.state, self.prepared.fingerprint, self.optimizer, self.rgb
        )


def open_run(
    job: StylizeJob,
    files: RunFiles,
    *,
    backend: str,
    weights_spec: str | None,
    resume: Path | None = None,
    preserve_colors: bool = False,
    notify: Callable[[str], None] | None = None,
) -> Stylization:
    """Check the outputs, load weights and images, compute the targets: a run ready to go."""
    for path in (job.content, *job.styles):
        if not Path(path).exists():
            raise ImageError(f"image not found: {path}")
    models.require(backend, need_gradients=True)
    files.check()
    weights = resolve_weights(weights_spec, need_classifier=False, notify=notify)
    model = models.build_model(backend, weights, need_gradients=True)
    if notify:
        notify(f"backend {model.label} · weights {weights.description} · computing the targets")
    return Stylization(prepare(job, model, resume), files, weights, preserve_colors)
