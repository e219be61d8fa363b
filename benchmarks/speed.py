"""`make bench`: img2col and winograd against PyTorch CPU, as ratios measured in one run, plus
the CLI's memory.

Rows (best of --repeat rounds after a warm-up round, each engine in turn, one process):

1. VGG19 forward at 224x224, batch 1, to the softmax (full-size random weights);
2. the 16 conv forwards at 224, summed (each layer on the input the network gives it);
3. the 16 conv backwards at 224, input gradient only, summed;
4. one style step at 192x320 (forward to relu5_1, backward to the image, one Adam update);
5. one style step at 512x512;

and the throughput of VGG19 at 224 in images per second at batch 1, at `vgg classify
--batch-size`'s default and at batch 8, each engine against torch at the same batch size.

Then peak resident memory of `vgg classify` (224) and `vgg stylize` (192x320 and 512x512),
each a fresh process on a full-size weights folder in the cache format, and the start-up of
`vgg classify`: its wall time minus its forward time.

The ratios depend on which SIMD kernels each library runs. OpenBLAS (numpy's BLAS) takes them
from ``OPENBLAS_CORETYPE``; PyTorch's oneDNN and MKL pick the widest the CPU has unless capped.
So the table is measured under each setting that applies: as the environment is, both on AVX2,
and both on AVX-512 (when the CPU has it). Each runs in its own process, because both libraries
choose when they are loaded. Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
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
from vggcli.engine.weightset import random_weights
from vggcli.measure.benchmarks import random_input
from vggcli.runtime.malloc import keep_freed_memory
from vggcli.style.objective import Objective, StyleOptions
from vggcli.style.optim import Adam
from vggcli.weights.stored import save_cache

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# name → (environment changes, description)
SETTINGS = {
    "as-set": ({}, "the environment as it is"),
    "avx2": (
        {
            "OPENBLAS_CORETYPE": "Haswell",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        },
        "both libraries on AVX2 kernels",
    ),
    "avx512": ({"OPENBLAS_CORETYPE": "SkylakeX"}, "both libraries on AVX-512 kernels"),
}
ENGINES = ("img2col", "winograd")  # the numpy backends measured against torch
TARGETS = {  # figure → the target ratio winograd / torch
    "vgg19 forward 224": 0.75,
    "16 conv forwards 224": 0.6,
    "16 conv backwards (dx) 224": 0.6,
    "style step 192x320": 0.75,
    "style step 512x512": 0.75,
}
LAYER_ROUNDS = 2  # single layers: rounds of --repeat runs each
THROUGHPUT_BATCH = 8  # measured beside batch 1 and the default batch
PAUSE = 0.1  # seconds between two timed calls: lets the other library's threads go idle
RSS_TARGETS_MB = {"stylize 512x512": 1536}


def _best(sides: list[list], rounds: int, per_call: int = 1) -> list[list[float]]:
    """The best time in seconds of every callable of every side (an engine's list of calls).

    Each round runs all of one side's calls (each ``per_call`` times in a row), pauses, then the
    next side; round 0 warms up. One library at a time, as in a real run: both keep worker
    threads spinning for a moment after a call, and on a 2-core machine they would slow the
    other library down. The best of several runs, as :mod:`timeit` advises: what other
    processes add to a run (here, at times, half the machine for seconds) only slows it.
    """
    best = [[math.inf] * len(calls) for calls in sides]
    for round_ in range(rounds + 1):
        for side, calls in enumerate(sides):
            for k, call in enumerate(calls):
                for _ in range(per_call):
                    start = time.perf_counter()
                    call()
                    if round_:
                        best[side][k] = min(best[side][k], time.perf_counter() - start)
            time.sleep(PAUSE)
    return best


def default_batch_size() -> int:
    """`vgg classify --batch-size`'s default."""
    from vggcli.cli.classify import classify

    return next(p.default for p in classify.params if p.name == "batch_size")


def measure(repeat: int, style_repeat: int) -> dict:
    """In this process: every row for each engine and torch, in seconds; per-layer times."""
    from vggcli.measure.torch_reference import TorchVGG, load_torch

    keep_freed_memory()  # as the vgg command does
    torch = load_torch()
    weights = random_weights(seed=0)
    networks = [Network(weights, BACKENDS[name]()) for name in ENGINES]
    reference = TorchVGG(weights)
    rows: dict[str, list[float]] = {}

    x = random_input((1, 3, 224, 224))
    sides = [[lambda n=n: n.forward(x, ["softmax"])] for n in networks]
    sides.append([lambda: reference.forward(x, ["softmax"])])
    rows["vgg19 forward 224"] = [sum(b) for b in _best(sides, repeat)]
    throughput = {1: [1 / t for t in rows["vgg19 forward 224"]]}
    for batch in sorted({default_batch_size(), THROUGHPUT_BATCH} - {1}):
        xb = random_input((batch, 3, 224, 224))
        sides = [[lambda n=n, xb=xb: n.forward(xb, ["softmax"])] for n in networks]
        sides.append([lambda xb=xb: reference.forward(xb, ["softmax"])])
        throughput[batch] = [batch / sum(b) for b in _best(sides, max(1, repeat // 2))]
    layers = _conv_layers(networks, x, repeat, torch)
    for what in ("forward", "backward"):
        name = f"16 conv {what}s 224" if what == "forward" else "16 conv backwards (dx) 224"
        rows[name] = [sum(side) for side in layers[what]]
    for size in ((192, 320), (512, 512)):
        rows[f"style step {size[0]}x{size[1]}"] = _style_step(networks, size, style_repeat, torch)
    return {
        "rows": rows,
        "throughput": throughput,
        "layers": layers,
        "layer_names": [la.name for la in networks[0].layers if la.kind == "conv"],
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "onednn_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "torch_threads": torch.get_num_threads(),
    }


def _conv_layers(networks, x, repeat: int, torch) -> dict[str, list[list[float]]]:
    """Each conv layer timed alone on the input the network gives it (channels-last for the
    numpy engines, contiguous NCHW for torch), forward and input-gradient backward: the best
    time of every layer, per engine (torch last)."""
    first = networks[0]
    convs = [layer for layer in first.layers if layer.kind == "conv"]
    result = first.forward(x, [layer.name for layer in convs], record=True)
    caches = {layer.name: cache for layer, cache in result.trace if layer.kind == "conv"}
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    forward: list[list] = [[] for _ in range(len(networks) + 1)]
    backward: list[list] = [[] for _ in range(len(networks) + 1)]
    for layer in convs:
        cache = caches[layer.name]
        w, b = first.weights.params[layer.name]
        s, p = layer.stride, layer.pad
        y, _ = first.backend.conv2d_forward(cache.x, w, b, s, p)
        dy = np.empty_like(y)  # in the layout the engines' own gradients have
        dy[...] = rng.standard_normal(y.shape, dtype=np.float32)
        for k, network in enumerate(networks):
            engine = network.backend
            _, own = engine.conv2d_forward(cache.x, w, b, s, p)
            forward[k].append(
                lambda e=engine, x=cache.x, w=w, b=b, s=s, p=p: e.conv2d_forward(x, w, b, s, p)
            )
            backward[k].append(
                lambda e=engine, dy=dy, c=own: e.conv2d_backward(dy, c, param_grads=False)
            )
        xt = torch.from_numpy(np.ascontiguousarray(cache.x))
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 0, 1, 2)))
        bt, dyt = torch.from_numpy(np.array(b)), torch.from_numpy(np.ascontiguousarray(dy))
        forward[-1].append(lambda xt=xt, wt=wt, bt=bt, s=s, p=p: F.conv2d(xt, wt, bt, s, p))
        backward[-1].append(
            lambda xt=xt, wt=wt, dyt=dyt, s=s, p=p: torch.nn.grad.conv2d_input(
                xt.shape, wt, dyt, s, p
            )
        )
    with torch.no_grad():
        return {
            "forward": _best(forward, LAYER_ROUNDS, repeat),
            "backward": _best(backward, LAYER_ROUNDS, repeat),
        }


def _style_step(networks, size, repeat: int, torch) -> list[float]:
    """One step of the manual's style transfer: losses at relu4_2 / relu1_1…relu5_1, dL/dx,
    one Adam update; torch: the same losses with autograd and torch.optim.Adam."""
    from vggcli.measure.torch_reference import TorchStyleLoss

    shape = (1, 3, *size)
    content, style, x0 = (random_input(shape, seed) for seed in (1, 2, 3))
    sides = []
    for network in networks:
        objective = Objective(network, content, [(style, 1.0)], StyleOptions())
        adam = Adam()
        state = {"x": x0, "adam": adam.init(x0)}

        def ours(objective=objective, adam=adam, state=state):
            _, grad = objective.evaluate(state["x"])
            state["x"], state["adam"] = adam.step(state["x"], grad, state["adam"])

        sides.append([ours])
    loss = TorchStyleLoss(networks[0].weights, objective)
    xt = torch.from_numpy(x0.copy()).requires_grad_(True)
    optimizer = torch.optim.Adam([xt], lr=1.0)

    def theirs():
        optimizer.zero_grad()
        loss(xt).backward()
        optimizer.step()

    sides.append([theirs])
    return [side[0] for side in _best(sides, repeat)]


def cli_memory() -> dict[str, dict]:
    """Peak RSS of the real commands on a full-size weights folder, each in a fresh process."""
    vgg = [sys.executable, "-m", "vggcli"]  # the vgg command of this environment
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "weights"
        save_cache(random_weights(seed=0), folder)  # the layout `vgg fetch-weights` installs
        image = str(EXAMPLES / "chelsea.png")
        for engine in ENGINES:
            command = [*vgg, "classify", image, "--weights", str(folder), "--json", "-b", engine]
            rss_of(command)  # once, so the weight files are in the page cache for the timed run
            rss, wall, out = rss_of(command)
            forward = json.loads(out)["results"][0]["forward_seconds"]
            figures[f"classify 224 {engine}"] = {"peak_rss_mb": rss, "startup_s": wall - forward}
        for engine in ENGINES:
            for size in ("192x320", "512x512"):
                command = [
                    *vgg, "stylize", str(EXAMPLES / "china.jpg"),
                    str(EXAMPLES / "starry_night.jpg"), "--size", size, "-n", "2",
                    "--weights", str(folder), "-b", engine,
                    "-o", str(Path(tmp) / f"out-{size}-{engine}.png"),
                ]  # fmt: skip
                rss, wall, _ = rss_of(command)
                figures[f"stylize {size} {engine}"] = {"peak_rss_mb": rss, "wall_s": wall}
    return figures


def rss_of(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, stdout) of ``command`` run as a child of this process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status:
        raise SystemExit(f"{' '.join(command)} failed:\n{err}")
    return usage.ru_maxrss / 1024, wall, out


def _has_avx512() -> bool:
    try:
        return "avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _run_setting(name: str, repeat: int, style_repeat: int) -> dict:
    changes, _ = SETTINGS[name]
    env = {**os.environ, **changes}
    command = [sys.executable, __file__, "--measure", str(repeat), str(style_repeat)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"measuring under {name!r} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(name: str, figures: dict) -> None:
    _, description = SETTINGS[name]
    print(
        f"\n{name}: {description} (OPENBLAS_CORETYPE={figures['openblas_coretype']}, "
        f"ONEDNN_MAX_CPU_ISA={figures['onednn_isa']}, torch threads {figures['torch_threads']})"
    )
    heads = "".join(f"{e:>10}" for e in (*ENGINES, "torch"))
    print(f"  {'figure':28}{heads} {'win/torch':>9} {'target':>7}")
    for row, times in figures["rows"].items():
        ratio = times[-2] / times[-1]
        mark = "met" if ratio <= TARGETS[row] else "not met"
        cells = "".join(f"{t * 1e3:8.1f}ms" for t in times)
        print(f"  {row:28}{cells} {ratio:8.2f}x {'≤' + format(TARGETS[row], '.2f'):>7} {mark}")
    print(f"\n  throughput, VGG19 at 224 (images/s; `vgg classify --batch-size` default "
          f"{default_batch_size()})")  # fmt: skip
    for batch, rates in figures["throughput"].items():
        cells = "".join(f"{r:9.2f}/s" for r in rates)
        ratios = " ".join(f"{e} {rates[-1] / r:.2f}x" for e, r in zip(ENGINES, rates, strict=False))
        print(f"  {'batch ' + str(batch):28}{cells}  time vs torch: {ratios}")
    print(f"\n  per layer at 224, ms (forward | input gradient): {' / '.join((*ENGINES, 'torch'))}")
    fwd, bwd = figures["layers"]["forward"], figures["layers"]["backward"]
    for k, layer in enumerate(figures["layer_names"]):
        f = " / ".join(f"{side[k] * 1e3:5.1f}" for side in fwd)
        b = " / ".join(f"{side[k] * 1e3:5.1f}" for side in bwd)
        print(f"  {layer:8} {f:>24} | {b:>24}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--settings",
        default="as-set,avx2,avx512",
        help="which kernel settings to measure under (default: all that apply)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per layer and network")
    parser.add_argument("--style-repeat", type=int, default=3, help="timed style steps")
    parser.add_argument("--no-memory", action="store_true", help="skip the CLI memory figures")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    if importlib.util.find_spec("torch") is None:
        raise SystemExit("speed.py compares with PyTorch, which is not installed: run `make bench`")
    names = [n.strip() for n in args.settings.split(",") if n.strip()]
    for name in names:
        if name not in SETTINGS:
            parser.error(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
        if name == "avx512" and not _has_avx512():
            print("\navx512: skipped, this CPU has no AVX-512")
            continue
        print_table(name, _run_setting(name, args.repeat, args.style_repeat))
    if not args.no_memory:
        print("\nthe vgg command, each run a fresh process on full-size weights from the cache:")
        for row, figures in cli_memory().items():
            rss = figures["peak_rss_mb"]
            target = RSS_TARGETS_MB.get(row)
            extra = (
                f", start-up {figures['startup_s']:.2f} s (target ≤ 1 s)"
                if "startup_s" in figures
                else f", {figures['wall_s']:.1f} s for 2 steps"
            )
            goal = f" (target ≤ {target} MB)" if target else ""
            print(f"  {row:25} peak RSS {rss:7.0f} MB{goal}{extra}")


if __name__ == "__main__":
    main()
