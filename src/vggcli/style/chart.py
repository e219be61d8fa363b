"""A PNG line chart of the loss history, drawn with Pillow (no plotting library needed).

Log-scale y axis (losses fall over orders of magnitude), one line per series, decade grid
lines, a legend, and a dashed line where each stage of a coarse-to-fine run begins, labelled
with its size. ``loss_chart(steps, series)`` returns a Pillow image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "total": (20, 20, 20),
    "content": (31, 119, 180),
    "style": (214, 39, 40),
    "tv": (44, 160, 44),
}


def loss_chart(
    steps: Sequence[float],
    series: dict[str, Sequence[float]],
    size: tuple[int, int] = (900, 480),
    title: str = "loss",
    stages: Sequence[tuple[float, str]] = (),
) -> Image.Image:
    """Lines of ``series`` (name → values, one per step) against ``steps``, log y axis;
    ``stages``: (step, label) where each stage after the first begins.

    Non-positive values (a term that is off) are not drawn.
    """
    width, height = size
    left, right, top, bottom = 80, 150, 40, 50
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    positives = [v for values in series.values() for v in values if 0 < v < math.inf]
    if not steps or not positives:
        draw.text((left, top), "no data", fill="black", font=font)
        return img
    lo, hi = math.floor(math.log10(min(positives))), math.ceil(math.log10(max(positives)))
    hi = max(hi, lo + 1)
    x0, x1 = min(steps), max(steps)
    span = (x1 - x0) or 1.0

    def px(step: float) -> float:
        return left + (step - x0) / span * (width - left - right)

    def py_log(exponent: float) -> float:
        return top + (hi - exponent) / (hi - lo) * (height - top - bottom)

    def py(value: float) -> float:
        return py_log(math.log10(value))

    every = max(1, math.ceil((hi - lo) / 12))  # at most about 12 labelled decades
    for decade in range(lo, hi + 1, every):
        y = py_log(decade)
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((8, y - 6), f"1e{decade}", fill="black", font=font)
    for i in range(6):
        step = x0 + span * i / 5
        x = px(step)
        draw.line([(x, height - bottom), (x, height - bottom + 5)], fill="black")
        draw.text((x - 10, height - bottom + 8), f"{step:.0f}", fill="black", font=font)
    for step, label in stages:
        x = px(step)
        for y in range(top, height - bottom, 8):  # dashed
            draw.line([(x, y), (x, min(y + 4, height - bottom))], fill=(150, 150, 150))
        draw.text((x + 4, top + 4), label, fill=(90, 90, 90), font=font)
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    draw.text((left, 12), title, fill="black", font=font)
    draw.text((width // 2 - 10, height - 18), "step", fill="black", font=font)
    for row, (name, values) in enumerate(series.items()):
        colour = COLOURS.get(name, (120, 120, 120))
        points = [(px(s), py(v)) for s, v in zip(steps, values, strict=True) if 0 < v < math.inf]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            draw.ellipse(
                [points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2],
                fill=colour,
            )
        legend_y = top + 10 + 18 * row
        draw.line(
            [(width - right + 12, legend_y + 6), (width - right + 40, legend_y + 6)],
            fill=colour,
            width=3,
        )
        draw.text((width - right + 46, legend_y), name, fill="black", font=font)
    return img
