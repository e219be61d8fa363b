"""What ``vgg stylize`` says while it runs: the log table when stderr is not a terminal, the time
left per stage, and the estimate made before the first step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.test_stages import stylize
from vggcli.cli import progress as progress_module
from vggcli.cli.progress import LOG_COLUMNS, StylizeProgress
from vggcli.style import estimate
from vggcli.style.optim import LBFGS
from vggcli.style.prepare import Prepared
from vggcli.style.stages import Stage


def test_progress_lines_when_not_a_terminal_and_quiet(tiny_mat, tmp_path):
    loud = stylize(tmp_path, tiny_mat, "--stages", "1", "-n", "3")
    assert loud.exit_code == 0
    lines = loud.stderr.splitlines()
    header = next(k for k, line in enumerate(lines) if line.split()[:2] == ["step", "stage"])
    assert lines[-1].split()[:3] == ["3/3", "1/1", "64x80"] and header < len(lines) - 1
    assert max(len(line) for line in lines[header:]) <= 80
    quiet = stylize(tmp_path, tiny_mat, "--stages", "1", "-n", "3", "--quiet", name="q.png")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "style transfer" in quiet.stdout


def test_the_time_left_counts_each_stage_at_its_own_rate(monkeypatch):
    prepared = Prepared(
        [Stage((32, 32), 60), Stage((64, 64), 120)], [], None, None, {}, [0.25, 1.0]
    )
    assert prepared.estimate(0) == 135 and prepared.estimate(60) == 120
    assert prepared.estimate(120) == 60 and prepared.estimate(180) == 0
    lines = []
    monkeypatch.setattr(progress_module.err, "print", lambda text, **kw: lines.append(text))
    clock = [0.0, 30.0, 50.0]  # 30 s for the first 60 steps: twice the estimated 15 s
    monkeypatch.setattr(
        progress_module.time, "perf_counter", lambda: clock.pop(0) if clock else 50.0
    )
    progress = StylizeProgress(prepared, 0)
    progress.bar = None  # the lines written when stderr is not a terminal
    losses = type("L", (), {"total": 1.0, "content": 1.0, "style": 1.0})()
    progress(60, losses, 1)
    assert lines[0].split() == list(LOG_COLUMNS) and len(lines[0]) <= 80
    assert lines[-1].endswith("    30 s  4.0 min")  # elapsed, left: 120 s · 2, not 60 steps · 0.5
    assert lines[-1].split()[:6] == ["60/180", "2/2", "64x64", "1.00e+00", "1.00e+00", "1.00e+00"]
    progress(70, losses, 1)  # then 10 steps of the last stage in 20 s: 2 s a step, not 1
    assert lines[-1].endswith("    50 s  3.7 min") and len(lines) == 3  # 110 steps · 2 s
    clock[:] = [0.0, 6.0]  # resumed at step 150: its first step 6 s after the start (targets)
    resumed = StylizeProgress(prepared, 150)
    resumed.bar = None
    resumed(151, losses, 1)
    assert lines[-1].endswith("     6 s     29 s")  # the estimate (29 steps · 1 s), not · 6


def test_the_estimate_times_two_more_forward_passes_scaled_to_each_stage(monkeypatch):
    passes = []
    network = SimpleNamespace(forward=lambda x, taps, record: passes.append((x, taps, record)))
    objectives = [
        SimpleNamespace(
            network=network, content_input=f"content {k}", taps=["relu4_2"], shape=(1, 3, h, w)
        )
        for k, (h, w) in enumerate([(20, 30), (40, 60)])
    ]
    clock = iter([10.0, 13.0, 20.0, 22.0])  # the faster pass: 2 s for 4x the first's pixels
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: next(clock))
    per_step = estimate.seconds_per_step(objectives, LBFGS())
    assert passes == [("content 1", ["relu4_2"], False)] * 2
    factor = estimate.STEP_PER_FORWARD * LBFGS.evaluations_per_step
    assert per_step == pytest.approx([0.5 * factor, 2.0 * factor])
