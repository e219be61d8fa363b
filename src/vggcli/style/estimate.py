"""What a style transfer will cost before it runs: seconds per step of each stage (timed on the
prepared network), the memory a size needs, and the time left while it runs."""

from __future__ import annotations

import math
import time

from vggcli.engine import vgg19
from vggcli.style.objective import Objective
from vggcli.style.optim import Optimizer

STEP_PER_FORWARD = 2.4  # an evaluation (forward with recording, losses, backward) takes 2.2-2.4x
# a warm forward pass without recording: measured at 256 and 512 px with img2col and winograd


def seconds_per_step(objectives: list[Objective], optimizer: Optimizer) -> list[float]:
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
    factor = STEP_PER_FORWARD * optimizer.evaluations_per_step
    return [per_pixel * math.prod(o.shape[2:]) * factor for o in objectives]


MEMORY_BASE = 600_000_000  # bytes a run holds whatever its size: the interpreter and libraries,
# the weights and what the backend derives from them (winograd's transformed filters)
MEMORY_PER_ACTIVATION = 1.37  # bytes per byte of one forward pass's activations (recorded
# for the backward pass, the gradients and the workspaces beside them). Both fitted to the peak
# memory of default runs at 171x256 … 1366x2048 (winograd; with L-BFGS's 60 images, within 3%;
# the estimate also counts the copy an interrupted run makes of them: 5-17% above the peaks):
# docs/style-transfer.md, "Large pictures"; `make bench-scale` measures them again.


def memory_needed(
    layers: tuple[vgg19.Layer, ...], size: tuple[int, int], optimizer: Optimizer
) -> int:
    """Bytes a style transfer at ``size`` (H, W) needs at its peak: :data:`MEMORY_BASE`, the
    activations (float32) of the convolutional part of ``layers`` times
    :data:`MEMORY_PER_ACTIVATION`, and the images the optimiser holds
    (:attr:`~vggcli.style.optim.Optimizer.images_held`)."""
    conv_part = tuple(layer for layer in layers if layer.name in vgg19.CONV_PART_NAMES)
    costs = vgg19.plan(conv_part, (1, 3, *size))
    activations = 4 * sum(math.prod(cost.out_shape) for cost in costs)
    images = optimizer.images_held * 4 * 3 * size[0] * size[1]
    return MEMORY_BASE + int(MEMORY_PER_ACTIVATION * activations) + images


class TimeLeft:
    """Seconds a running style transfer still needs: the stages' estimated rates
    (``prepared.seconds_per_step``, ``prepared.estimate(step)``) scaled by how fast the steps
    really went, those of the current stage once it has made a few (stages differ in speed)."""

    def __init__(self, prepared, start_step: int, started: float) -> None:
        self.prepared = prepared
        self.start_step = start_step
        self.started = started
        self.stage_start: tuple[int, int, float] | None = None  # (stage, step, time) it began

    def __call__(self, step: int, stage: int, now: float) -> float:
        prepared = self.prepared
        if self.stage_start is None or self.stage_start[0] != stage:
            self.stage_start = (stage, step, now)
        _, first_step, first_time = self.stage_start
        if step - first_step >= 3:
            scale = (now - first_time) / (step - first_step) / prepared.seconds_per_step[stage]
        elif step - self.start_step >= 3:
            predicted = prepared.estimate(self.start_step) - prepared.estimate(step)
            scale = (now - self.started) / predicted if predicted > 0 else 1.0
        else:  # too few steps to time (the clock also counts the targets): the estimate as is
            scale = 1.0
        return prepared.estimate(step) * scale
