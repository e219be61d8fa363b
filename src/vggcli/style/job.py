"""A ``vgg stylize`` job: sizes and images in, a prepared run out, run with its files.

:func:`open_run` loads the images, builds the model and the objective of every stage, and makes
(or reads back) the starting state; :class:`Stylization` runs the stages one after the other
(:mod:`vggcli.style.stages`), writing checkpoints as it goes and every file at the end
(:mod:`vggcli.style.runfiles`), and says what it is doing through a callback, never by printing.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vggcli import memory
from vggcli.engine import models, vgg19
from vggcli.engine.network import Network
from vggcli.errors import ImageError, UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.style.objective import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    INITS,
    Losses,
    Objective,
    StyleOptions,
    initial_image,
    pixel_bounds,
)
from vggcli.style.optim import LBFGS, Optimizer, make_optimizer
from vggcli.style.run import RunState, StyleTransfer
from vggcli.style.runfiles import RunFiles, load_state, output_rgb, save_state
from vggcli.style.stages import SHALLOW_LAYER, Stage, plan, upsample
from vggcli.weights.cache import resolve_weights
from vggcli.weights.weightset import WeightSet

DEFAULT_MAX_SIDE = 512


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
    stages: int | None = 1  # None: by output size (stages.auto_stage_count)
    steps: tuple[int, ...] | None = None  # per stage; None: stages.DEFAULT_STEPS

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


PRESET = {  # what `vgg stylize C S` does: chosen by measurement (README, "Style transfer")
    "optimizer": "lbfgs",
    "max_side": 512,
    "stages": None,  # by output size: 2 stages for 512
    "steps": None,  # stages.DEFAULT_STEPS
    "init": "content",
    "tv_weight": 0.0,  # L-BFGS from the content leaves no grain to smooth (README, figures)
    "clip": True,
}
MANUAL = {  # `vgg stylize C S --manual`: the lab manual's run, as vggcli 0.1.0 ran it by default
    "optimizer": "adam",
    "max_side": 320,
    "stages": 1,
    "steps": (1000,),
    "init": "noise",
    "tv_weight": 0.0,
    "clip": False,
    "backend": "img2col",
}


def parse_steps(text: str) -> tuple[int, ...]:
    """'40' → (40,); '60,80' → (60, 80): steps of each stage."""
    try:
        steps = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise UsageError(
            f"-n takes a number of steps, or one per stage: 60,80; got {text!r}"
        ) from None
    if any(n < 0 for n in steps):
        raise UsageError(f"-n takes numbers ≥ 0, got {text!r}")
    return steps


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
    """A run ready to start: the stages with their objectives, the content at output size (RGB
    uint8), the initial state and the fingerprint a state file must match. ``seconds_per_step``:
    each stage's estimated time per step (:func:`seconds_per_step`)."""

    stages: list[Stage]
    objectives: list[Objective]
    content_rgb: np.ndarray
    initial: RunState
    fingerprint: dict
    seconds_per_step: list[float]

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)

    def stage_end(self, k: int) -> int:
        """The global step at which stage k ends."""
        return sum(stage.steps for stage in self.stages[: k + 1])

    def estimate(self, step: int) -> float:
        """Seconds the run still needs from ``step`` (each stage at its own rate)."""
        left = 0.0
        for k, stage in enumerate(self.stages):
            done = min(max(step - (self.stage_end(k) - stage.steps), 0), stage.steps)
            left += (stage.steps - done) * self.seconds_per_step[k]
        return left


EVALS_PER_STEP = {"lbfgs": 1.1}  # L-BFGS's line search evaluates a little more than once a step
STEP_PER_FORWARD = 2.4  # an evaluation (forward with recording, losses, backward) takes 2.2-2.4x
# a warm forward pass without recording: measured at 256 and 512 px with img2col and winograd


def seconds_per_step(objectives: list[Objective], optimizer: str) -> list[float]:
    """Each stage's estimated seconds per step: the faster of two more forward passes of the
    last stage's content image, timed (the targets' passes have already allocated the buffers
    and kept the filter transforms, so they run as fast as the steps will; one pass alone was
    off by up to 25%), scaled to each stage's pixels, times :data:`STEP_PER_FORWARD` and the
    evaluations a step of ``optimizer`` makes."""
    last = objectives[-1]

    def forward_seconds() -> float:
        started = time.perf_counter()
        last.network.forward(last.content_input, last.taps, record=False)
        return time.perf_counter() - started

    per_pixel = min(forward_seconds(), forward_seconds()) / math.prod(last.shape[2:])
    factor = STEP_PER_FORWARD * EVALS_PER_STEP.get(optimizer, 1.0)
    return [per_pixel * math.prod(o.shape[2:]) * factor for o in objectives]


MEMORY_PER_ACTIVATION = 2.5  # bytes of memory per byte of one forward pass's activations:
# measured peak RSS 1.37 GB at 512x512 (winograd) for 0.65 GB of activations, with a margin


def memory_needed(
    layers: tuple[vgg19.Layer, ...], size: tuple[int, int], optimizer: Optimizer
) -> int:
    """Bytes a style transfer at ``size`` (H, W) needs: from the activations (float32) of the
    convolutional part of ``layers``, which it records for the backward pass, and the images
    the optimiser keeps (L-BFGS: two per curvature pair, and as many again while an
    interrupted run saves them)."""
    conv_part = tuple(layer for layer in layers if layer.name in vgg19.CONV_PART_NAMES)
    costs = vgg19.plan(conv_part, (1, 3, *size))
    activations = 4 * sum(math.prod(cost.out_shape) for cost in costs)
    images = 4 * optimizer.memory if isinstance(optimizer, LBFGS) else 2
    return int(MEMORY_PER_ACTIVATION * activations) + images * 4 * 3 * size[0] * size[1]


def prepare(job: StylizeJob, network: Network, resume: Path | None = None) -> Prepared:
    """Load the images, compute every stage's targets, make (or read back) the starting state."""
    pre = network.weights.preprocessing
    options = job.options
    content_img = load_image(job.content)
    final = output_size(content_img.size, job.size, job.max_side)
    default_layers = (options.content_layers, options.style_layers) == (
        DEFAULT_CONTENT_LAYERS,
        DEFAULT_STYLE_LAYERS,
    )
    stages = plan(final, job.stages, job.steps, options.optimizer, shallow=default_layers)
    memory.require(
        memory_needed(network.layers, final, make_optimizer(options.optimizer, options.lr)),
        "style transfer",
        final,
        "give a smaller --size or --max-side",
    )
    style_images = [load_image(p) for p in job.styles]
    objectives = []
    for stage in stages:
        h, w = stage.size
        style_hw = (max(1, round(h * job.style_scale)), max(1, round(w * job.style_scale)))
        styles = [
            (to_input(resize(img, style_hw), pre), weight)
            for img, weight in zip(style_images, job.blend, strict=True)
        ]
        objectives.append(
            Objective(network, to_input(resize(content_img, (h, w)), pre), styles, options)
        )
    first = objectives[0]
    init_image = None
    init_key = options.init
    if options.init not in INITS:
        init_path = Path(options.init)
        if not init_path.is_file():
            raise UsageError(
                f"--init is {', '.join(INITS)} or an image file; {init_path} is neither"
            )
        init_image = to_input(resize(load_image(init_path), stages[0].size), pre)
        init_key = file_sha256(init_path)
    final_style_hw = (
        max(1, round(final[0] * job.style_scale)),
        max(1, round(final[1] * job.style_scale)),
    )
    fingerprint = {
        "content": file_sha256(job.content),
        "styles": [[file_sha256(p), wt] for p, wt in zip(job.styles, job.blend, strict=True)],
        "shape": [1, 3, *final],
        "style_shape": list(final_style_hw),
        "weights": network.weights.sha256 or network.weights.description,
        "options": json.loads(json.dumps({**asdict(options), "init": init_key})),
    }
    if len(stages) > 1:  # a one-stage run keeps the fingerprint of vggcli 0.1.0's state files
        fingerprint["stages"] = [stage.label for stage in stages]
    content_rgb = np.asarray(resize(content_img, final))
    if resume is not None:
        images = {
            "content": job.content.name,
            "styles": ", ".join(p.name for p in job.styles),
        }
        initial = load_state(resume, fingerprint, images)
    else:
        initial = RunState(initial_image(first.content_input, options, init_image), 0)
    per_step = seconds_per_step(objectives, options.optimizer)
    return Prepared(stages, objectives, content_rgb, initial, fingerprint, per_step)


class Stylization:
    """A prepared run and its files: :meth:`run` optimises stage by stage (checkpoints as it
    goes), :meth:`save` writes the image, history and state as they are (also after an
    interruption), :meth:`saved_losses` scores the picture that was written."""

    def __init__(
        self, prepared: Prepared, files: RunFiles, weights: WeightSet, preserve_colors: bool
    ) -> None:
        self.prepared = prepared
        self.files = files
        self.weights = weights
        self.preserve_colors = preserve_colors
        self.state = prepared.initial
        self.start_step = self.state.step
        self.stop_reason: str | None = None
        options = prepared.objectives[0].options
        self.bounds = pixel_bounds(weights.preprocessing) if options.clip else None
        self.optimizer = make_optimizer(options.optimizer, options.lr)

    @property
    def stages(self) -> list[Stage]:
        return self.prepared.stages

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the output."""
        return self.stages[-1].size

    def rgb(self, image: np.ndarray) -> np.ndarray:
        """The network input ``image`` as the uint8 RGB picture that is saved (at its size)."""
        content = self.prepared.content_rgb if self.preserve_colors else None
        if content is not None and content.shape[:2] != image.shape[2:]:
            content = np.asarray(
                Image.fromarray(content).resize(image.shape[:1:-1], Image.BILINEAR)
            )
        return output_rgb(image, self.weights.preprocessing, content)

    def run(self, on_step: Callable[[int, Losses, int], None] | None = None) -> RunState:
        """Optimise every stage from where the state is; ``on_step(step, losses, stage)``.
        Checkpoints (image and state) every ``checkpoint_every`` steps. A KeyboardInterrupt
        leaves :attr:`state` consistent (the last completed step)."""
        prepared = self.prepared
        for k in range(self.state.stage, len(self.stages)):
            stage, objective = self.stages[k], prepared.objectives[k]
            if self.state.image.shape[2:] != stage.size:  # the stage starts: upsample
                image = upsample(self.state.image, stage.size)
                if self.bounds is not None:
                    np.clip(image, *self.bounds, out=image)
                self.state = self.state.replace(image=image, optimizer_state={}, stage=k)
            if stage.shallow:
                objective = objective.through(SHALLOW_LAYER)
            transfer = StyleTransfer(objective, self.state, self.bounds)

            def step_done(step: int, losses: Losses, image: np.ndarray, k=k, t=transfer) -> None:
                self.state = t.state
                if on_step:
                    on_step(step, losses, k)
                if self.files.is_checkpoint(step) and image.shape[2:] == self.stages[k].size:
                    self.files.checkpoint(step, self.rgb(image))
                    if step:
                        self._save_state(t.state, interrupted=False)

            try:
                self.state = transfer.run(prepared.stage_end(k), step_done)
            finally:
                self.state = transfer.state
            self.stop_reason = transfer.stop_reason
        return self.state

    def save(self, *, interrupted: bool = False) -> None:
        """The image, history and state as they are (``interrupted``: with everything the
        optimiser needs to go on exactly, :meth:`~vggcli.style.optim.Optimizer.kept`)."""
        self.files.write_image(self.rgb(self.state.image))
        self.files.write_history(self.state.history)
        self._save_state(self.state, interrupted=interrupted)

    def _save_state(self, state: RunState, *, interrupted: bool) -> None:
        kept = self.optimizer.kept(state.optimizer_state, interrupted=interrupted)
        save_state(
            self.files.state,
            state.replace(optimizer_state=kept),
            self.prepared.fingerprint,
            self.optimizer.name,
        )

    def saved_losses(self) -> Losses:
        """The objective at the output size of the picture as written: 8-bit, clipped to 0–255
        (and recoloured with --preserve-colors), read back from the file."""
        stage = len(self.stages) - 1
        picture = load_image(self.files.output)
        x = to_input(picture, self.weights.preprocessing)
        if x.shape[2:] != self.stages[stage].size:
            x = to_input(resize(picture, self.stages[stage].size), self.weights.preprocessing)
        losses, _ = self.prepared.objectives[stage].evaluate(x, gradient=False)
        return losses


def open_run(
    job: StylizeJob,
    files: RunFiles,
    *,
    backend: str,
    weights_spec: str | None,
    resume: Path | None = None,
    preserve_colors: bool = False,
    force: bool = False,
    notify: Callable[[str], None] | None = None,
) -> Stylization:
    """Check the outputs, load weights and images, compute the targets: a run ready to go.
    ``force``: replace the files of an earlier run with the same output name (else a
    UsageError, unless ``resume``)."""
    for path in (job.content, *job.styles):
        if not Path(path).exists():
            raise ImageError(f"image not found: {path}")
    models.require(backend, need_gradients=True)
    files.check(resume=resume is not None, force=force)
    weights = resolve_weights(weights_spec, need_classifier=False, notify=notify)
    model = models.build_model(backend, weights, need_gradients=True, pooling=job.options.pooling)
    if notify:
        notify(f"weights: {weights.description}")
        notify(f"backend {model.label} · computing the targets")
    prepared = prepare(job, model, resume)
    if resume is not None and prepared.initial.step >= prepared.total_steps:
        raise UsageError(
            f"{resume} is at step {prepared.initial.step}: it has already made the "
            f"{prepared.total_steps} steps asked for; give more with -n to continue it"
        )
    if force:
        files.clear_earlier_run()
    return Stylization(prepared, files, weights, preserve_colors)
