"""Coarse-to-fine style transfer: the sizes and steps of the stages, and the upsampling between.

A run of N stages optimises the image at 1/2^(N−1) of the output size first, upsamples the
result (Pillow, bicubic, in floating point), continues at twice the size, and ends at the
requested size: the coarse stages are cheap (a quarter of the pixels costs about a quarter of
the time) and settle the large structures and colours, the last stage adds the fine texture.
This is jcjohnson/neural-style's "multires" recipe.

The upsampling cannot supply the new stage's finest octave, so the stage starts from the
upsampled picture plus that octave taken from the style images (:func:`style_octave`): each
style image at the new stage's size less its previous stage's version upsampled the same way.
The Gram matrices ignore where things are, so a texture with the style's own fine detail in the
wrong places is a better start than none (measured on the panel at 256 px: the last stage
reaches the manual's loss 2 to 15 steps sooner on 8 of 10 pairs, the largest need 90 → 75
steps; at 512 px 3 to 7 sooner on three pairs; docs/style-transfer.md).

After the upsampling the coarse structure that relu5_1's style term measures is in place (its
term is 2% of the loss at the end of a default 512-px run, whether or not it is in the gradient)
and almost all the loss is in relu4_1's style term (the finest octave, which the upsampling cannot
supply; measured: 8.9e11 of 9.0e11 for china.jpg x Starry Night at 512). With L-BFGS and the
default layers, the last stage therefore follows the gradient of the terms up to
:data:`SHALLOW_LAYER` (the content layer), every loss still computed: the backward pass skips
conv4_3 … conv5_1, 7% of an evaluation at 512 px, and the loss ends lower than with every term
in the gradient (docs/style-transfer.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vggcli.errors import UsageError
from vggcli.style.optim import Optimizer

MIN_STAGE_SIDE = 32  # five poolings leave nothing of a smaller image
AUTO_STAGE_SIDE = 256  # automatic plan: the coarsest stage keeps a long side of at least this
SMALLEST_COARSE_SIDE = 128  # … except that from 256 up a picture starts at half its size
SHALLOW_LAYER = "relu4_2"  # the deepest layer whose terms drive a shallow stage's gradient


@dataclass(frozen=True)
class StopRule:
    """A stage is done when its loss fell by less than ``threshold`` (a fraction) over the last
    ``window`` steps: the run stops when it is done rather than when a count runs out, which
    no fixed count can be for every picture and size (docs/style-transfer.md)."""

    window: int = 10
    threshold: float = 0.005

    def reason(self, totals: list[float]) -> str | None:
        """Why to stop after the losses ``totals`` (the stage's, one per step from its start),
        or None to go on."""
        if len(totals) <= self.window:
            return None
        before, now = totals[-1 - self.window], totals[-1]
        fall = (before - now) / before if before > 0 else 0.0
        if fall >= self.threshold:
            return None
        return (
            f"done: the loss fell by {fall:.2%} over the last {self.window} steps, less than "
            f"{self.threshold * 100:g}%"
        )

    def capped(self, totals: list[float]) -> str:
        """Why a stage that the rule did not end stopped: it made its most steps (as many as
        its losses ``totals``, one per step from its start, record), and how fast the loss was
        still falling (more steps would lower it further)."""
        steps = len(totals) - 1
        window = min(self.window, steps)
        if window < 1 or not totals[-1 - window] > 0:
            return f"made the stage's {steps} steps at most"
        fall = (totals[-1 - window] - totals[-1]) / totals[-1 - window]
        return (
            f"made the stage's {steps} steps at most; the loss still fell by {fall:.1%} over the "
            f"last {window} (the run ends sooner below {self.threshold * 100:g}%)"
        )

    @property
    def description(self) -> str:
        return f"until the loss falls by less than {self.threshold * 100:g}% in {self.window} steps"


DEFAULT_STOP = StopRule()


@dataclass(frozen=True)
class Stage:
    """One stage: the image size (H, W), the optimisation steps made at it (with ``stop``: at
    most), whether its gradient is of the terms up to :data:`SHALLOW_LAYER` only, and the rule
    that ends it when it is done."""

    size: tuple[int, int]
    steps: int
    shallow: bool = False
    stop: StopRule | None = None

    @property
    def label(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"


def stage_sizes(final: tuple[int, int], count: int) -> list[tuple[int, int]]:
    """Sizes halving from ``final`` (H, W), smallest first; UsageError if one gets too small."""
    h, w = final
    sizes = []
    for k in reversed(range(count)):
        size = (max(1, round(h / 2**k)), max(1, round(w / 2**k)))
        if k and min(size) < MIN_STAGE_SIDE:
            raise UsageError(
                f"{count} stages make a {size[0]}x{size[1]} first stage, too small; "
                f"use fewer --stages (each stage's short side must be ≥ {MIN_STAGE_SIDE})"
            )
        sizes.append(size)
    return sizes


def auto_stage_count(final: tuple[int, int]) -> int:
    """One more stage each time the long side doubles past :data:`AUTO_STAGE_SIDE` (512: 2
    stages, 1024: 3), and 2 from a long side of 2 × :data:`SMALLEST_COARSE_SIDE` (256 to 511),
    as long as every stage keeps a short side of at least :data:`MIN_STAGE_SIDE`; 1 below."""
    count = 1
    while max(final) / 2**count >= AUTO_STAGE_SIDE and min(final) / 2**count >= MIN_STAGE_SIDE:
        count += 1
    if count == 1 and max(final) / 2 >= SMALLEST_COARSE_SIDE and min(final) / 2 >= MIN_STAGE_SIDE:
        count = 2
    return count


def plan(
    final: tuple[int, int],
    count: int | None,
    steps: tuple[int, ...] | None,
    optimizer: Optimizer,
    shallow: bool = False,
) -> list[Stage]:
    """The stages of a run: ``count`` (None: :func:`auto_stage_count`) sizes up to ``final``,
    with ``steps`` per stage (one number: all of them at the last stage of a one-stage run,
    else every stage; None: the optimiser's ``steps_for(final)``, the last stage's at most, ended
    by :data:`DEFAULT_STOP` when it is done). ``shallow`` (the default layers):
    the last stage of a run of several stages follows the gradient through :data:`SHALLOW_LAYER`
    when the optimiser declares ``shallow_last_stage`` (L-BFGS)."""
    count = auto_stage_count(final) if count is None else count
    if count < 1:
        raise UsageError(f"--stages must be at least 1, got {count}")
    sizes = stage_sizes(final, count)
    stop = DEFAULT_STOP if steps is None else None  # -n given: exactly that many
    if steps is None:
        coarse, last = optimizer.steps_for(final)
        steps = (*(coarse,) * (count - 1), last)
    elif len(steps) == 1:
        steps = steps * count
    if len(steps) != count:
        raise UsageError(f"-n gives steps for {len(steps)} stages, the run has {count}")
    if any(s < 0 for s in steps):
        raise UsageError("steps must be ≥ 0")
    stages = [Stage(size, n) for size, n in zip(sizes, steps, strict=True)]
    last = shallow and optimizer.shallow_last_stage and count > 1
    stages[-1] = Stage(stages[-1].size, stages[-1].steps, shallow=last, stop=stop)
    return stages


def upsample(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """x [1, 3, h, w] (network input, float32) resized to [1, 3, H, W], each channel bicubic in
    floating point (no rounding to 8 bits on the way)."""
    h, w = size
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(c, dtype=np.float32), mode="F").resize(
                (w, h), Image.Resampling.BICUBIC
            )
        )
        for c in image[0]
    ]
    return np.stack(channels)[None].astype(np.float32)


def style_octave(
    fine: Sequence[tuple[np.ndarray, float]],
    coarse: Sequence[tuple[np.ndarray, float]],
    size: tuple[int, int],
) -> np.ndarray:
    """The finest octave of the style images, [1, 3, H, W] for ``size`` = (H, W): for each
    style image (network input [1, 3, h, w], weight w) at a stage's style size in ``fine`` and
    at the previous stage's in ``coarse``, the fine one less the coarse one upsampled to it (by
    :func:`upsample`, as the picture is), cropped to ``size``; several images mixed with weights
    √(w/Σw), which keeps the strength of independent textures. A style image smaller than the
    picture (``--style-scale`` below 1) gives none: mirrored or tiled to fill the picture, its
    octave left a visible seam in the result."""
    total = sum(weight for _, weight in fine)
    h, w = size
    octave = np.zeros((1, 3, h, w), dtype=np.float32)
    for (image, weight), (small, _) in zip(fine, coarse, strict=True):
        if image.shape[2] < h or image.shape[3] < w:
            continue
        band = image - upsample(small, image.shape[2:])
        octave += np.float32(np.sqrt(weight / total)) * band[:, :, :h, :w]
    return octave
