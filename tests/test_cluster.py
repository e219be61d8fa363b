"""``vgg classify --cluster``: chunks of the list on Dask workers, the results file written as a
local run writes it, a worker killed mid-run costing no result, and clear errors around it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli_classify import CAT, assert_one_line_error, run
from tests.test_results_file import lines

pytest.importorskip("distributed", reason="the cluster extra: pip install 'vggcli[cluster]'")

COFFEE = str(Path(CAT).parent / "coffee.png")


def listing(folder: Path, repeats: int) -> Path:
    """A file list of ``repeats`` × (cat, coffee) with an unreadable file in the middle."""
    bad = folder / "bad.png"
    bad.write_text("not an image")
    pairs = [(CAT, 281), (COFFEE, 967)] * repeats
    pairs.insert(len(pairs) // 2, ("bad.png", 3))
    path = folder / "val.txt"
    path.write_text("".join(f"{image} {label}\n" for image, label in pairs))
    return path


def vgg(*args, **kw) -> subprocess.Popen:
    """``vgg ARGS`` in a new process (the workers are its children)."""
    return subprocess.Popen(
        [sys.executable, "-m", "vggcli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_a_local_cluster_writes_the_local_runs_results_line_for_line(tiny_mat, tmp_path):
    val = listing(tmp_path, 5)
    here = run("classify", "-f", val, "--weights", tiny_mat, "--results", tmp_path / "here.jsonl",
               "--batch-size", "2")  # fmt: skip
    assert here.exit_code == 1 and "1 of 11 images could not be classified" in here.output
    cluster = vgg("classify", "-f", val, "--weights", tiny_mat, "--batch-size", "2",
                  "--results", tmp_path / "cluster.jsonl", "--cluster", "local:2",
                  "--chunk-size", "3", "--json")  # fmt: skip
    stdout, stderr = cluster.communicate(timeout=120)
    assert cluster.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "cluster local:2 · 2 workers, 1 thread each · 4 images per task" in stderr
    assert lines(tmp_path / "cluster.jsonl") == lines(tmp_path / "here.jsonl")
    assert json.loads(stdout)["summary"]["failed"] == 1


def test_a_running_scheduler_by_its_address(tiny_mat, tmp_path):
    from distributed import LocalCluster

    val = listing(tmp_path, 3)
    here = run("classify", "-f", val, "--weights", tiny_mat, "--results", tmp_path / "here.jsonl")
    assert here.exit_code == 1
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        command = vgg("classify", "-f", val, "--weights", tiny_mat, "--results",
                      tmp_path / "there.jsonl", "--cluster", cluster.scheduler_address)  # fmt: skip
        _, stderr = command.communicate(timeout=120)
    assert command.returncode == 1, stderr
    assert "1 worker, each its host's cores shared · 16 images per task" in stderr
    assert lines(tmp_path / "there.jsonl") == lines(tmp_path / "here.jsonl")


def workers(parent: int) -> list[int]:
    """The Dask worker processes started by ``parent`` (multiprocessing's spawned children,
    not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        child = int(stat.rsplit(")", 1)[1].split()[1]) == parent
        if child and "spawn_main" in command and "resource_tracker" not in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers in /proc")
def test_a_worker_killed_mid_run_costs_no_result(tiny_mat, tmp_path):
    val = listing(tmp_path, 150)  # 301 images in chunks of 4: several seconds on two workers
    straight = tmp_path / "straight.jsonl"
    run("classify", "-f", val, "--weights", tiny_mat, "--results", straight)
    results = tmp_path / "cluster.jsonl"
    command = vgg("classify", "-f", val, "--weights", tiny_mat, "--results", results,
                  "--cluster", "local:2", "--chunk-size", "4")  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        not results.exists() or results.read_text().count("\n") < 5
    ):
        time.sleep(0.05)
    victims = workers(command.pid)
    assert len(victims) == 2, victims
    os.kill(victims[0], signal.SIGKILL)
    written = results.read_text().count("\n")
    assert written < len(lines(straight))  # killed before the end
    restarted = False
    while command.poll() is None and not restarted:  # its nanny starts another worker
        restarted = any(pid not in victims for pid in workers(command.pid))
        time.sleep(0.02)
    _, stderr = command.communicate(timeout=180)
    assert restarted, "the run ended before the killed worker was replaced"
    assert command.returncode == 1, stderr  # the unreadable image, as in the local run
    assert "Traceback" not in stderr
    assert lines(results) == lines(straight)  # every image once, in list order


def test_without_dask_cluster_says_how_to_install_it(tiny_mat, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = run("classify", "-f", listing(tmp_path, 1), "--weights", tiny_mat,
                 "--cluster", "local:2")  # fmt: skip
    assert_one_line_error(result, "pip install 'vggcli[cluster]'")


def test_an_unreachable_scheduler_is_one_line(tiny_mat, tmp_path):
    result = run("classify", "-f", listing(tmp_path, 1), "--weights", tiny_mat,
                 "--cluster", "tcp://127.0.0.1:9")  # fmt: skip
    assert result.exit_code == 1
    assert_one_line_error(result, "cannot reach the scheduler at tcp://127.0.0.1:9")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--cluster", "local"], "give a scheduler's address (tcp://HOST:8786) or local:N"),
        (["--cluster", "local:0"], "local:N takes 1 to 256 workers"),
        (["--cluster", ""], "give a scheduler's address (tcp://HOST:8786) or local:N"),
        (["--chunk-size", "8"], "--chunk-size is the work of a --cluster task"),
        ([CAT, "--cluster", "local:2"], "--cluster sends a --file-list to workers"),
    ],
)
def test_cluster_options_that_do_not_fit(tiny_mat, tmp_path, args, fragment):
    result = run("classify", "-f", listing(tmp_path, 1), "--weights", tiny_mat, *args)
    assert result.exit_code == 2
    assert_one_line_error(result, fragment)
