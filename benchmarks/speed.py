"""`make bench`: img2col against PyTorch CPU, as ratios measured in one run, plus the CLI's memory.

Rows (best of --repeat rounds after a warm-up round, img2col and torch in turn, one process):

1. VGG19 forward at 224x224, batch 1, to the softmax (full-size random weights);
2. the 16 conv forwards at 224, summed (each layer on the input the network gives it);
3. the 16 conv backwards at 224, input gradient only, summed;
4. one style step at 192x320 (forward to relu5_1, backward to the image, one Adam update);
5. one style step at 512x512.

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

from vggcli._malloc import keep_freed_memory
from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.measure.benchmarks import random_input
from vggcli.style.objective import Objective, StyleOptions
from vggcli.style.optim import Adam
from vggcli.weights.cache import save_cache
from vggcli.weights.weightset import random_weights

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
TARGETS = {  # figure → the target ratio img2col / torch
    "vgg19 forward 224": 1.2,
    "16 conv forwards 224": 1.3,
    "16 conv backwards (dx) 224": 1.3,
    "style step 192x320": 1.3,
    "style step 512x512": 1.3,
}
LAYER_ROUNDS = 2  # single layers: rounds of --repeat runs each
PAUSE = 0.1  # seconds between two timed calls: lets the other library's threads go idle
RSS_TARGETS_MB = {"classify 224": 800, "stylize 512x512": 3072}


def _best(ours: list, theirs: list, rounds: int, per_call: int = 1) -> tuple[float, float]:
    """Summed best times in seconds of two lists of callables (img2col's, torch's).

    Each round runs all of ``ours`` (every callable ``per_call`` times in a row), pauses, runs
    all of ``theirs`` and pauses; round 0 warms up. One library at a time, as in a real run:
    both keep worker threads spinning for a moment after a call, and on a 2-core machine they
    would slow the other library down. The best of several runs, as :mod:`timeit` advises: what
    other processes add to a run (here, at times, half the machine for seconds) only slows it.
    """
    best = [[math.inf] * len(ours), [math.inf] * len(theirs)]
    for round_ in range(rounds + 1):
        for side, calls in enumerate((ours, theirs)):
            for k, call in enumerate(calls):
                for _ in range(per_call):
                    start = time.perf_counter()
                    call()
                    if round_:
                        best[side][k] = min(best[side][k], time.perf_counter() - start)
            time.sleep(PAUSE)
    return sum(best[0]), sum(best[1])


def measure(repeat: int, style_repeat: int) -> dict:
    """In this process: every row for img2col and torch, in seconds."""
    from vggcli.measure.torch_reference import TorchVGG, load_torch

    keep_freed_memory()  # as the vgg command does
    torch = load_torch()
    weights = random_weights(seed=0)
    network = Network(weights, BACKENDS["img2col"]())
    reference = TorchVGG(weights)
    rows: dict[str, tuple[float, float]] = {}

    x = random_input((1, 3, 224, 224))
    rows["vgg19 forward 224"] = _best(
        [lambda: network.forward(x, ["softmax"])],
        [lambda: reference.forward(x, ["softmax"])],
        repeat,
    )
    rows.update(_conv_layers(network, x, repeat, torch))
    for size in ((192, 320), (512, 512)):
        rows[f"style step {size[0]}x{size[1]}"] = _style_step(network, size, style_repeat, torch)
    return {
        "rows": rows,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "onednn_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "torch_threads": torch.get_num_threads(),
    }


def _conv_layers(network, x, repeat: int, torch) -> dict[str, tuple[float, float]]:
    """Each conv layer timed alone on the input the network gives it (img2col's layout, torch's
    contiguous NCHW), forward and input-gradient backward; the 16 best times summed."""
    convs = [layer for layer in network.layers if layer.kind == "conv"]
    result = network.forward(x, [layer.name for layer in convs], record=True)
    caches = {layer.name: cache for layer, cache in result.trace if layer.kind == "conv"}
    backend, F = network.backend, torch.nn.functional
    rng = np.random.default_rng(0)
    calls: dict[str, tuple[list, list]] = {"forward": ([], []), "backward": ([], [])}
    for layer in convs:
        cache = caches[layer.name]
        w, b = network.weights.params[layer.name]
        s, p = layer.stride, layer.pad
        y, _ = backend.conv2d_forward(cache.x, w, b, s, p)
        dy = np.empty_like(y)  # in the layout img2col's own gradients have
        dy[...] = rng.standard_normal(y.shape, dtype=np.float32)
        xt = torch.from_numpy(np.ascontiguousarray(cache.x))
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 0, 1, 2)))
        bt, dyt = torch.from_numpy(np.asarray(b)), torch.from_numpy(np.ascontiguousarray(dy))
        ours, theirs = calls["forward"]
        ours.append(lambda x=cache.x, w=w, b=b, s=s, p=p: backend.conv2d_forward(x, w, b, s, p))
        theirs.append(lambda xt=xt, wt=wt, bt=bt, s=s, p=p: F.conv2d(xt, wt, bt, s, p))
        ours, theirs = calls["backward"]
        ours.append(lambda dy=dy, c=cache: backend.conv2d_backward(dy, c, param_grads=False))
        theirs.append(
            lambda xt=xt, wt=wt, dyt=dyt, s=s, p=p: torch.nn.grad.conv2d_input(
                xt.shape, wt, dyt, s, p
            )
        )
    with torch.no_grad():
        return {
            "16 conv forwards 224": _best(*calls["forward"], LAYER_ROUNDS, repeat),
            "16 conv backwards (dx) 224": _best(*calls["backward"], LAYER_ROUNDS, repeat),
        }


def _style_step(network, size, repeat: int, torch) -> tuple[float, float]:
    """One step of the manual's style transfer: losses at relu4_2 / relu1_1…relu5_1, dL/dx,
    one Adam update; torch: the same losses with autograd and torch.optim.Adam."""
    from vggcli.measure.torch_reference import TorchStyleLoss

    shape = (1, 3, *size)
    content, style, x0 = (random_input(shape, seed) for seed in (1, 2, 3))
    objective = Objective(network, content, [(style, 1.0)], StyleOptions())
    adam = Adam()
    state = {"x": x0, "adam": adam.init(x0)}

    def ours():
        _, grad = objective.evaluate(state["x"])
        state["x"], state["adam"] = adam.step(state["x"], grad, state["adam"])

    loss = TorchStyleLoss(network.weights, objective)
    xt = torch.from_numpy(x0.copy()).requires_grad_(True)
    optimizer = torch.optim.Adam([xt], lr=adam.lr)

    def theirs():
        optimizer.zero_grad()
        loss(xt).backward()
        optimizer.step()

    return _best([ours], [theirs], repeat)


def cli_memory() -> dict[str, dict]:
    """Peak RSS of the real commands on a full-size weights folder, each in a fresh process."""
    vgg = [sys.executable, "-m", "vggcli"]  # the vgg command of this environment
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "weights"
        save_cache(random_weights(seed=0), folder)  # the layout `vgg fetch-weights` installs
        image = str(EXAMPLES / "chelsea.png")
        command = [*vgg, "classify", image, "--weights", str(folder), "--json"]
        _rss_of(command)  # once, so the weight files are in the page cache for the timed run
        rss, wall, out = _rss_of(command)
        forward = json.loads(out)["results"][0]["forward_seconds"]
        figures["classify 224"] = {"peak_rss_mb": rss, "startup_s": wall - forward}
        for size in ("192x320", "512x512"):
            command = [
                *vgg, "stylize", str(EXAMPLES / "china.jpg"), str(EXAMPLES / "starry_night.jpg"),
                "--size", size, "-n", "2", "--weights", str(folder),
                "-o", str(Path(tmp) / f"out-{size}.png"),
            ]  # fmt: skip
            rss, wall, _ = _rss_of(command)
            figures[f"stylize {size}"] = {"peak_rss_mb": rss, "wall_s": wall}
    return figures


def _rss_of(command: list[str]) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, stdout) of ``command`` run as a child of this process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    print(f"  {'figure':30} {'img2col':>10} {'torch':>10} {'ratio':>7} {'target':>7}")
    for row, (ours, theirs) in figures["rows"].items():
        ratio = ours / theirs
        mark = "met" if ratio <= TARGETS[row] else "not met"
        print(
            f"  {row:30} {ours * 1e3:8.1f}ms {theirs * 1e3:8.1f}ms {ratio:6.2f}x "
            f"{'≤' + format(TARGETS[row], '.1f'):>7} {mark}"
        )


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
            print(f"  {row:16} peak RSS {rss:7.0f} MB{goal}{extra}")


if __name__ == "__main__":
    main()
