"""`make bench`, the DLP path: set-up and memory of `vgg classify --backend dlp`, and how int8
agrees with float32 on the example images.

1. `vgg classify examples/chelsea.png --backend dlp` in fresh processes on a full-size weights
   folder (the matconvnet weights when installed, else seeded random ones in the same layout):
   the first run in an empty cache (it calibrates and prepares the int8 filters), then later
   runs (they map the int8 filters). Set-up = wall time − forward time; peak RSS per process.
   Targets: set-up ≤ 2 s and peak RSS ≤ 1.2 GB after the first run.
2. Every example image through img2col (float32) and the emulated dlp path: top-1 agreement and
   the largest |Δp|. With random weights every image gets the same near-certain class, so the
   figures only mean something with the real weights (`vgg fetch-weights`).

Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from speed import rss_of  # the same fresh-process measurement as the other CLI figures

from vggcli.dlp.adapter import build_dlp_network
from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.engine.weightset import random_weights
from vggcli.images import load_image, resize, to_input
from vggcli.weights.install import installed
from vggcli.weights.resolve import resolve_weights
from vggcli.weights.stored import save_cache

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
IMAGES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
RUNS = 3  # later runs measured


def weights_folder(tmp: Path) -> tuple[str, str]:
    """(--weights value, what it is): the installed matconvnet weights, else random ones."""
    installed_folder = installed("matconvnet")  # by path: the runs below use another cache
    if installed_folder is not None:
        return str(installed_folder), "the installed MatConvNet weights"
    folder = tmp / "weights"
    save_cache(random_weights(seed=0), folder)
    return str(folder), "full-size random weights (seed 0)"


def setup_and_memory(weights: str, tmp: Path) -> None:
    env = {**os.environ, "VGGCLI_CACHE_DIR": str(tmp / "cache")}
    command = [
        sys.executable, "-m", "vggcli", "classify", str(EXAMPLES / "chelsea.png"),
        "--weights", weights, "--json", "-b", "dlp",
    ]  # fmt: skip
    rss, wall, _ = rss_of(command, env)
    print(f"  first run (calibrates, prepares int8)  {wall:6.1f} s in all, peak RSS {rss:5.0f} MB")
    for k in range(RUNS):
        rss, wall, out = rss_of(command, env)
        forward = json.loads(out)["results"][0]["forward_seconds"]
        print(
            f"  later run {k + 1}   set-up {wall - forward:5.2f} s (target ≤ 2 s), forward "
            f"{forward:.2f} s, peak RSS {rss:5.0f} MB (target ≤ 1200 MB)"
        )


def agreement(weights_spec: str) -> None:
    weights = resolve_weights(weights_spec, need_classifier=True)
    float32 = Network(weights, BACKENDS["img2col"]())
    int8 = build_dlp_network(weights)
    same, worst = 0, 0.0
    for path in IMAGES:
        x = to_input(resize(load_image(path), (224, 224)), weights.preprocessing)
        pa = float32.forward(x, ["softmax"]).outputs["softmax"][0]
        pb = int8.forward(x, ["softmax"]).outputs["softmax"][0]
        same += int(np.argmax(pa) == np.argmax(pb))
        dp = float(np.abs(pa - pb).max())
        worst = max(worst, dp)
        print(f"  {path.name:22} top-1 {np.argmax(pa):4d} / {np.argmax(pb):4d}   max |Δp| {dp:.2e}")
    print(f"  top-1 agreement {same}/{len(IMAGES)}, largest |Δp| {worst:.2e}")


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        weights, what = weights_folder(tmp)
        print(f"\nvgg classify --backend dlp, each run a fresh process ({what}):")
        setup_and_memory(weights, tmp)
        print(f"\nint8 (dlp, emulated) against float32 (img2col) on examples/ ({what}):")
        os.environ["VGGCLI_CACHE_DIR"] = str(tmp / "cache")  # the cache of the runs above
        agreement(weights)


if __name__ == "__main__":
    main()
