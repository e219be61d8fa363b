"""`make bench-cluster`: a file list of thousands of entries through `vgg classify`, here and on
`--cluster local:2`, and the Dask scheduler's cost per chunk; the figures docs/cluster.md
projects from.

1. A list of ``--images`` entries (the example images repeated, their labels from
   examples/val.txt), classified on full-size random weights (the network's cost is the same as
   the trained one's) with each configuration: ``--batch-size 1`` here, each other
   ``--batch-size`` given, and ``--cluster local:N``. Each is a fresh process, timed from start
   to exit; the summary's images per second is the forward passes' rate; peak resident memory
   is sampled for every process of the run (``VmHWM`` in /proc): the command and each worker.
2. The scheduler's cost per chunk: ``--tasks`` chunks whose work is nothing, each returning the
   results of ``--chunk-size`` images (as large as real ones), through a local cluster of
   N workers: the wall time per chunk when chunks queue (the scheduler's throughput) and the
   round trip of one chunk at a time (its latency).
3. The client's cost per image: appending one record to a results file (written, fsynced).

Nothing is asserted: this prints figures and writes them as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def make_list(folder: Path, entries: int) -> Path:
    """``entries`` lines 'IMAGE LABEL', the labelled examples over and over."""
    labelled = []
    for line in (EXAMPLES / "val.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            image, label = line.split()
            labelled.append((EXAMPLES / image, int(label)))
    path = folder / "list.txt"
    path.write_text(
        "".join(f"{labelled[k % len(labelled)][0]} {labelled[k % len(labelled)][1]}\n"
                for k in range(entries))
    )  # fmt: skip
    return path


def tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def peak_rss(pid: int) -> tuple[str, int] | None:
    """(its command, its peak resident set in bytes)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return command, int(line.split()[1]) * 1024
    return None


def timed_run(args: list[str]) -> dict:
    """One ``vgg`` process: wall time, its --json summary, the peak memory of each process."""
    peaks: dict[int, tuple[str, int]] = {}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "vggcli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in tree(process.pid):
                found = peak_rss(pid)
                if found is not None:
                    peaks[pid] = found
            done.wait(0.5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"vgg {' '.join(args)} failed:\n{stderr.decode()[-2000:]}")
    summary = json.loads(stdout)["summary"]
    workers = [rss for pid, (command, rss) in peaks.items()
               if pid != process.pid and "spawn_main" in command
               and "resource_tracker" not in command]  # fmt: skip
    return {
        "wall_seconds": wall,
        "images": summary["count"],
        "images_per_second_wall": summary["count"] / wall,
        "forward_seconds": summary["seconds"],
        "peak_rss_command": peaks.get(process.pid, ("", 0))[1],
        "peak_rss_workers": sorted(workers, reverse=True),
    }


def scheduler_cost(workers: int, tasks: int, chunk: int) -> dict:
    """Seconds per chunk of work that is nothing, queued and one at a time."""
    from distributed import Client, LocalCluster

    from vggcli.cluster import ordered

    payload = [
        {"image": "/data/imagenet/val/n01440764/ILSVRC2012_val_00000293.JPEG",
         "top": [{"rank": r, "class_id": 100 + r, "label": "tench, Tinca tinca",
                  "probability": 0.1} for r in range(1, 6)],
         "forward_seconds": 0.25, "label_id": 0, "true_rank": 1, "true_probability": 0.9}
    ] * chunk  # fmt: skip
    items = list(range(tasks * chunk))
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        list(ordered.in_order(client, _echo, items[: 4 * chunk], chunk, payload))  # warm up
        started = time.perf_counter()
        list(ordered.in_order(client, _echo, items, chunk, payload))
        queued = (time.perf_counter() - started) / tasks
        started = time.perf_counter()
        for k in range(min(tasks, 100)):
            piece = items[k * chunk : (k + 1) * chunk]
            list(ordered.in_order(client, _echo, piece, chunk, payload))
        single = (time.perf_counter() - started) / min(tasks, 100)
    return {"workers": workers, "chunk": chunk, "tasks": tasks,
            "seconds_per_chunk_queued": queued, "seconds_per_chunk_alone": single}  # fmt: skip


def _echo(piece, payload):
    return payload[: len(piece)]


def append_cost(records: int) -> float:
    """Seconds to append one record to a results file (the client writes every image)."""
    from vggcli.storage.jsonl import JsonLines

    with tempfile.TemporaryDirectory() as folder:
        record = {"image": "x" * 60, "top": [{"rank": 1, "probability": 0.5}] * 5}
        with JsonLines(Path(folder) / "r.jsonl", {"format": "bench"}) as written:
            written.resume()
            started = time.perf_counter()
            for _ in range(records):
                written.append(record)
            return (time.perf_counter() - started) / records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-sizes", default="1", help="local runs, e.g. 1,8")
    parser.add_argument("--workers", type=int, default=2, help="--cluster local:N")
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument(
        "--tasks", type=int, default=1000, help="chunks timed for the scheduler (0: none)"
    )
    parser.add_argument("--skip-runs", action="store_true", help="only the scheduler's cost")
    parser.add_argument("--only", help="these configurations, e.g. 'batch 1' or local:2")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "cluster.json")
    options = parser.parse_args()
    figures: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        listing = make_list(Path(folder), options.images)
        base = ["classify", "-f", str(listing), "--weights", "random", "--json"]
        configurations = {
            f"batch {b}": [*base, "--batch-size", b] for b in options.batch_sizes.split(",")
        }
        configurations[f"local:{options.workers}"] = [
            *base, "--cluster", f"local:{options.workers}", "--chunk-size",
            str(options.chunk_size),
        ]  # fmt: skip
        for name, args in ({} if options.skip_runs else configurations).items():
            if options.only and name not in options.only.split(","):
                continue
            for _ in range(options.repeat):
                found = timed_run(args)
                figures["runs"].setdefault(name, []).append(found)
                print(
                    f"{name:>10}: {found['images']} images in {found['wall_seconds']:.0f} s = "
                    f"{found['images_per_second_wall']:.2f} images/s (forward passes "
                    f"{found['forward_seconds']:.0f} s); peak memory "
                    f"{found['peak_rss_command'] / 2**30:.2f} GB"
                    + "".join(
                        f", worker {rss / 2**30:.2f} GB" for rss in found["peak_rss_workers"]
                    ),
                    flush=True,
                )
    if options.tasks:
        cost = scheduler_cost(options.workers, options.tasks, options.chunk_size)
        figures["scheduler"] = cost
        print(
            f"scheduler: {cost['seconds_per_chunk_queued'] * 1e3:.2f} ms per chunk of "
            f"{options.chunk_size} queued, {cost['seconds_per_chunk_alone'] * 1e3:.1f} ms alone"
        )
        figures["append_seconds"] = append = append_cost(500)
        print(f"results file: {append * 1e3:.2f} ms per record (written and fsynced)")
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(figures, indent=1))
    print(f"figures in {options.out}")


if __name__ == "__main__":
    main()
