"""A ``vgg stylize`` job prepared: the images loaded at every stage's size, the targets computed,
the memory checked, and the starting state made (or read back from a state file)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vggcli.engine.network import Network
from vggcli.errors import UsageError
from vggcli.images import load_image, resize, to_input
from vggcli.runtime import memory
from vggcli.style.estimate import MEMORY_BASE, memory_needed, seconds_per_step
from vggcli.style.objective import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    INITS,
    Objective,
    StyleOptions,
    initial_image,
)
from vggcli.style.optim import make_optimizer
from vggcli.style.presets import DEFAULT_MAX_SIDE
from vggcli.style.run import RunState
from vggcli.style.runfiles import check_state, load_state
from vggcli.style.stages import Stage, plan, style_octave


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
    steps: tuple[int, ...] | None = None  # per stage; None: the optimiser's default_steps

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
    each stage's estimated time per step (:func:`seconds_per_step`); ``memory``: the bytes the
    run is estimated to need at its peak (:func:`memory_needed`); ``octaves``: per stage after
    the first, the style's finest octave that it adds to the picture it upsamples
    (:func:`~vggcli.style.stages.style_octave`)."""

    stages: list[Stage]
    objectives: list[Objective]
    content_rgb: np.ndarray
    initial: RunState
    fingerprint: dict
    seconds_per_step: list[float]
    memory: int = 0
    octaves: list[np.ndarray] = field(default_factory=list)

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
    optimizer = make_optimizer(options.optimizer, options.lr)
    stages = plan(final, job.stages, job.steps, optimizer, shallow=default_layers)
    needed = memory_needed(network.layers, final, optimizer)
    memory.require(
        needed,
        "style transfer",
        final,
        "give a smaller --size or --max-side",
        fixed=MEMORY_BASE,
    )
    style_images = [load_image(p) for p in job.styles]
    objectives, stage_styles = [], []
    for stage in stages:
        h, w = stage.size
        style_hw = (max(1, round(h * job.style_scale)), max(1, round(w * job.style_scale)))
        styles = [
            (to_input(resize(img, style_hw), pre), weight)
            for img, weight in zip(style_images, job.blend, strict=True)
        ]
        stage_styles.append(styles)
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
                f"--init is {', '.join(INITS)} or an image file; {options.init!r} is neither"
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
        check_state(resume, initial, stages, optimizer)
    else:
        initial = RunState(initial_image(first.content_input, options, init_image), 0)
    per_step = seconds_per_step(objectives, optimizer)
    octaves = [
        style_octave(stage_styles[k], stage_styles[k - 1], stages[k].size)
        for k in range(1, len(stages))
    ]
    return Prepared(
        stages, objectives, content_rgb, initial, fingerprint, per_step, needed, octaves
    )
