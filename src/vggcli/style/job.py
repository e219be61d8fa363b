"""A ``vgg stylize`` run with its files.

:func:`open_run` checks the outputs, loads the weights and builds the model, and prepares the run
(:mod:`vggcli.style.prepare`); :class:`Stylization` runs the stages one after the other
(:mod:`vggcli.style.stages`), writing checkpoints as it goes and every file at the end
(:mod:`vggcli.style.runfiles`), and says what it is doing through a callback, never by printing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from vggcli import models
from vggcli.engine.weightset import WeightSet
from vggcli.errors import ImageError, UsageError, Worsened
from vggcli.images import load_image, resize, to_input
from vggcli.style.objective import Losses, pixel_bounds
from vggcli.style.optim import make_optimizer
from vggcli.style.prepare import Prepared, StylizeJob, prepare
from vggcli.style.run import RunState, StyleTransfer
from vggcli.style.runfiles import RunFiles, output_rgb, save_state
from vggcli.style.stages import SHALLOW_LAYER, Stage, upsample
from vggcli.weights.resolve import resolve_weights


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
            if self.state.image.shape[2:] != stage.size:  # a stage starts (stages.py)
                image = upsample(self.state.image, stage.size) + prepared.octaves[k - 1]
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
                self.state = transfer.run(prepared.stage_end(k), step_done, stage.stop)
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

    def start_losses(self) -> Losses:
        """The objective at the output size of the image this run started from (its first
        stage's start, or the state it resumed), upsampled and bounded as a stage would be."""
        start = self.prepared.initial.image
        if start.shape[2:] != self.shape:
            start = upsample(start, self.shape)
            if self.bounds is not None:
                np.clip(start, *self.bounds, out=start)
        return self._score(start)

    def optimised_losses(self) -> Losses:
        """The objective of the image as optimised (before any recolouring or 8-bit rounding)."""
        return self._score(self.state.image)

    def _score(self, image: np.ndarray) -> Losses:
        """The whole objective of the last stage at ``image`` [1, 3, H, W] (network input)."""
        return self.prepared.objectives[-1].evaluate(image, gradient=False)[0]

    def check_improved(self, result: Losses) -> None:
        """:class:`Worsened` when ``result`` (the picture the run ends with) scores above the
        image it started from: a step size too large for the problem, most likely."""
        start = self.start_losses()
        if not result.total > start.total:
            return
        if self.optimizer.takes_lr:
            cause = f"--lr {self.optimizer.lr:g} is likely too large for {self.optimizer.name}"
        else:
            cause = f"{self.optimizer.name} could not descend from this start"
        raise Worsened(
            f"the run made the picture worse: its loss {result.total:.3g} is above the starting "
            f"image's {start.total:.3g}; {cause}; the files are kept"
        )

    def saved_losses(self) -> Losses:
        """The objective at the output size of the picture as written: 8-bit, clipped to 0–255
        (and recoloured with --preserve-colors), read back from the file."""
        picture = load_image(self.files.output)
        x = to_input(picture, self.weights.preprocessing)
        if x.shape[2:] != self.shape:
            x = to_input(resize(picture, self.shape), self.weights.preprocessing)
        return self._score(x)


def load_network(
    backend: str, weights_spec: str | None, pooling: str, notify=None
) -> tuple[WeightSet, models.Model]:
    """The weights of ``weights_spec`` and the model ``backend`` builds on them for style
    transfer (gradients, ``pooling``)."""
    weights = resolve_weights(weights_spec, need_classifier=False, notify=notify)
    return weights, models.build_model(backend, weights, need_gradients=True, pooling=pooling)


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
    network: tuple[WeightSet, models.Model] | None = None,
) -> Stylization:
    """Check the outputs, load weights and images, compute the targets: a run ready to go.
    ``force``: replace the files of an earlier run with the same output name (else a
    UsageError, unless ``resume``); ``network``: the weights and model of
    :func:`load_network`, when they are already loaded (many pictures, one network)."""
    for path in (job.content, *job.styles):
        if not Path(path).exists():
            raise ImageError(f"image not found: {path}")
    models.require(backend, need_gradients=True)
    files.check(resume=resume is not None, force=force)
    weights, model = network or load_network(backend, weights_spec, job.options.pooling, notify)
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
