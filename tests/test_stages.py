"""Coarse-to-fine style transfer: stage plans, runs across stages, resume, bounds."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli_stylize import history as rows
from tests.test_cli_stylize import pixels, run
from vggcli.engine.backends import BACKENDS
from vggcli.engine.network import Network
from vggcli.engine.vgg19 import CONV_PART_NAMES
from vggcli.errors import UsageError
from vggcli.style.job import Stylization
from vggcli.style.objective import Objective, StyleOptions, pixel_bounds
from vggcli.style.optim import LBFGS, Adam
from vggcli.style.prepare import StylizeJob, prepare
from vggcli.style.stages import (
    DEFAULT_STOP,
    StopRule,
    auto_stage_count,
    plan,
    style_octave,
    upsample,
)
from vggcli.weights.matconvnet import read_matconvnet

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONTENT, STYLE = EXAMPLES / "china.jpg", EXAMPLES / "starry_night.jpg"


def test_stage_plans():
    assert auto_stage_count((341, 512)) == 2 and auto_stage_count((192, 320)) == 2
    assert auto_stage_count((170, 255)) == 1 and auto_stage_count((256, 256)) == 2
    assert auto_stage_count((683, 1024)) == 3 and auto_stage_count((40, 1024)) == 1
    stages = plan((341, 512), None, None, LBFGS())
    assert [s.size for s in stages] == [(170, 256), (341, 512)]
    assert [s.steps for s in stages] == list(LBFGS.middle_steps)
    assert [s.steps for s in plan((192, 320), None, None, LBFGS())] == list(LBFGS.small_steps)
    assert [s.steps for s in plan((683, 1024), None, None, LBFGS())] == [40, 40, 30]
    assert [s.stop for s in stages] == [None, DEFAULT_STOP]  # the last stage ends when done
    assert [s.stop for s in plan((341, 512), None, (40, 50), LBFGS())] == [None, None]
    assert [s.shallow for s in stages] == [False, False]
    # the default layers: the last stage of several follows the gradient through relu4_2
    assert [s.shallow for s in plan((341, 512), None, None, LBFGS(), True)] == [False, True]
    assert [s.shallow for s in plan((341, 512), 3, (9, 9, 8), LBFGS(), True)] == [0, 0, 1]
    assert [s.shallow for s in plan((341, 512), 1, None, LBFGS(), True)] == [False]
    assert [s.shallow for s in plan((341, 512), 2, None, Adam(), True)] == [False, False]
    assert [s.steps for s in plan((341, 512), 3, (5,), Adam())] == [5, 5, 5]
    assert plan((341, 512), 3, (1, 2, 3), Adam())[0].size == (85, 128)
    with pytest.raises(UsageError, match="too small"):
        plan((40, 512), 2, None, LBFGS())
    with pytest.raises(UsageError, match="steps for 3 stages, the run has 2"):
        plan((341, 512), 2, (1, 2, 3), LBFGS())


def test_the_stop_rule_watches_the_relative_fall_over_its_window():
    rule = StopRule(window=3, threshold=0.01)
    assert rule.reason([100.0, 90.0, 80.0]) is None  # fewer steps than its window
    assert rule.reason([100.0, 90.0, 80.0, 70.0]) is None  # 30% in 3 steps: going on
    reason = rule.reason([100.0, 99.9, 99.8, 99.5])
    assert reason == "done: the loss fell by 0.50% over the last 3 steps, less than 1%"
    assert rule.reason([5.0, 4.0, 3.0, 2.0, 1.99, 1.985, 1.984]) is not None
    assert rule.reason([0.0] * 5) is not None  # nothing left to lower


def test_upsampling_keeps_values_and_constants():
    x = np.full((1, 3, 8, 10), 7.5, np.float32)
    x[0, 1] = -20.25
    y = upsample(x, (16, 20))
    assert y.shape == (1, 3, 16, 20) and y.dtype == np.float32
    np.testing.assert_allclose(y[0, 0], 7.5, rtol=1e-6)
    np.testing.assert_allclose(y[0, 1], -20.25, rtol=1e-6)


def test_the_style_octave_is_what_upsampling_the_style_loses():
    rng = np.random.default_rng(0)
    fine = rng.normal(0, 50, (1, 3, 16, 20)).astype(np.float32)
    coarse = fine[:, :, ::2, ::2].copy()
    octave = style_octave([(fine, 2.0)], [(coarse, 2.0)], (16, 20))
    assert octave.shape == (1, 3, 16, 20) and octave.dtype == np.float32
    np.testing.assert_allclose(upsample(coarse, (16, 20)) + octave, fine, atol=1e-4)
    flat = np.full_like(fine, 30.0)  # a flat style has no fine detail to give
    assert np.abs(style_octave([(flat, 1.0)], [(coarse * 0 + 30, 1.0)], (16, 20))).max() < 1e-4
    # two style images: weights √(w/Σw), so that independent textures keep their strength
    other = rng.normal(0, 50, (1, 3, 16, 20)).astype(np.float32)
    other_coarse = other[:, :, ::2, ::2].copy()
    mixed = style_octave(
        [(fine, 1.0), (other, 3.0)], [(coarse, 1.0), (other_coarse, 3.0)], (16, 20)
    )
    alone = style_octave([(other, 1.0)], [(other_coarse, 1.0)], (16, 20))
    np.testing.assert_allclose(mixed, 0.5 * octave + np.sqrt(0.75) * alone, atol=1e-4)
    # a style image of another size (--style-scale): cropped when larger than the picture,
    # nothing when smaller (mirrored, its octave left a seam in the picture)
    np.testing.assert_array_equal(
        style_octave([(fine, 1.0)], [(coarse, 1.0)], (12, 14)), octave[:, :, :12, :14]
    )
    smaller = style_octave([(fine, 1.0)], [(coarse, 1.0)], (12, 26))
    assert smaller.shape == (1, 3, 12, 26) and not smaller.any()


def test_a_stage_starts_from_the_picture_upsampled_plus_the_style_octave(tiny_mat, monkeypatch):
    """-n 2,0: the run ends where its second stage starts."""
    from vggcli.style import job as job_module

    upsampled = []
    real = job_module.upsample
    monkeypatch.setattr(
        job_module, "upsample", lambda *a: upsampled.append(real(*a)) or upsampled[-1]
    )
    network = Network(read_matconvnet(tiny_mat), BACKENDS["winograd"]())
    options = StyleOptions(optimizer="lbfgs", init="content", clip=True)
    job = StylizeJob(CONTENT, (STYLE,), (1.0,), options, size=(64, 80), stages=2, steps=(2, 0))
    prepared = prepare(job, network)
    (octave,) = prepared.octaves
    assert octave.shape == (1, 3, 64, 80) and np.abs(octave).max() > 10
    final = Stylization(prepared, _NoFiles(), network.weights, False).run()
    (start,) = upsampled
    bounds = pixel_bounds(network.weights.preprocessing)
    np.testing.assert_array_equal(final.image, np.clip(start + octave, *bounds))
    assert not np.array_equal(final.image, np.clip(start, *bounds))


SIZE = ["--size", "64x80"]


def stylize(tmp_path, tiny_mat, *args, name="out.png"):
    return run(
        "stylize", CONTENT, STYLE, "-o", tmp_path / name, *SIZE, "--weights", tiny_mat,
        "--checkpoint-every", "0", *args,
    )  # fmt: skip


def test_a_two_stage_run_records_each_stage_at_its_size(tiny_mat, tmp_path):
    result = stylize(tmp_path, tiny_mat, "--stages", "2", "-n", "3,2", "--optimizer", "adam")
    assert result.exit_code == 0, result.output
    history = rows(tmp_path / "out.csv")
    assert list(history[0]) == ["step", "content", "style", "tv", "total", "size"]
    assert [(int(r["step"]), r["size"]) for r in history] == [
        (0, "32x40"), (1, "32x40"), (2, "32x40"), (3, "32x40"),
        (3, "64x80"), (4, "64x80"), (5, "64x80"),
    ]  # fmt: skip
    assert pixels(tmp_path / "out.png").shape == (64, 80, 3)
    assert "2 stages: 32x40 (3) → 64x80 (2)" in result.stderr
    assert "about" in result.stderr  # the estimated duration, before the first step
    assert "stages" in result.stdout and "32x40 → 64x80" in result.stdout
    assert "saved picture" in result.stdout


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_defaults_stop_when_done_and_say_why(tiny_mat, tmp_path, monkeypatch, optimizer):
    from vggcli.style import stages

    # a loss that does not reach 0 falls by less than 100%: done as soon as the window is full
    monkeypatch.setattr(stages, "DEFAULT_STOP", StopRule(window=2, threshold=1.0))
    result = stylize(tmp_path, tiny_mat, "--stages", "2", "--optimizer", optimizer)
    assert result.exit_code == 0, result.output
    cap = (LBFGS() if optimizer == "lbfgs" else Adam()).steps_for((64, 80))
    assert f"2 stages: 32x40 ({cap[0]}) → 64x80 (≤{cap[1]})" in result.stderr
    assert f"at most {sum(cap)} steps" in result.stderr and "up to about" in result.stderr
    assert "the last stage until the loss falls by less than 100% in 2 steps" in result.stderr
    history = rows(tmp_path / "out.csv")
    last = [int(r["step"]) for r in history if r["size"] == "64x80"]
    assert last == list(range(cap[0], cap[0] + 3))  # its window of 2 steps, then done
    assert "done: the loss fell by" in result.stdout and "less than 100%" in result.stdout


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_default_run_that_reaches_its_cap_says_so(tiny_mat, tmp_path, monkeypatch, optimizer):
    """Not "asked for": nobody asked; the cap of the defaults was reached while the loss was
    still falling faster than the stop rule's threshold, and the summary says by how much."""
    from vggcli.style import optim, stages

    monkeypatch.setattr(stages, "DEFAULT_STOP", StopRule(window=3, threshold=0.0))  # never
    monkeypatch.setattr(optim.LBFGS, "small_steps", (2, 5))
    monkeypatch.setattr(optim.Adam, "default_steps", (2, 5))
    result = stylize(tmp_path, tiny_mat, "--stages", "2", "--optimizer", optimizer)
    assert result.exit_code == 0, result.output
    totals = [float(r["total"]) for r in rows(tmp_path / "out.csv") if r["size"] == "64x80"]
    assert len(totals) == 6  # the stage's start and its 5 steps
    fall = (totals[-4] - totals[-1]) / totals[-4]
    said = " ".join(result.stdout.replace("│", " ").split())
    assert (
        f"made the stage's 5 steps at most; the loss still fell by {fall:.1%} over the last 3"
        in said
    )
    assert "asked for" not in said


def test_steps_given_explicitly_mean_exactly_that(tiny_mat, tmp_path, monkeypatch):
    from vggcli.style import stages

    monkeypatch.setattr(stages, "DEFAULT_STOP", StopRule(window=1, threshold=1.0))
    result = stylize(tmp_path, tiny_mat, "--stages", "2", "-n", "2,4")
    assert result.exit_code == 0, result.output
    assert "2 stages: 32x40 (2) → 64x80 (4) · lbfgs · 6 steps · about" in result.stderr
    assert [int(r["step"]) for r in rows(tmp_path / "out.csv")][-1] == 6
    assert "made the 4 steps asked for" in result.stdout  # in its last stage


def test_the_plan_says_the_peak_memory_it_estimates(tiny_mat, tmp_path):
    from vggcli.style.estimate import MEMORY_BASE, memory_needed

    result = stylize(tmp_path, tiny_mat, "--stages", "2", "-n", "1,1")
    assert result.exit_code == 0, result.output
    network = Network(read_matconvnet(tiny_mat), BACKENDS["winograd"]())
    needed = memory_needed(network.layers, (64, 80), LBFGS())
    assert needed > MEMORY_BASE
    assert re.search(rf"· about \d+ s and {needed / 1e9:.1f} GB of memory", result.stderr)


@pytest.mark.parametrize(
    ("optimizer", "steps", "stop_at"), [("adam", "3,3", 2), ("lbfgs", "3,6", 7)]
)
def test_interrupted_in_the_second_stage_resumes_like_a_straight_run(
    tiny_mat, tmp_path, monkeypatch, optimizer, steps, stop_at
):
    """Interrupted at the ``stop_at``-th evaluation at 64x80 and resumed: the image and history
    of a straight run, bit for bit (L-BFGS: from the curvature memory the state file kept)."""
    args = ["--stages", "2", "-n", steps, "--optimizer", optimizer]
    straight = stylize(tmp_path, tiny_mat, *args, name="straight.png")
    assert straight.exit_code == 0, straight.output
    with np.load(tmp_path / "straight.state.npz") as finished:  # no L-BFGS memory: 2·30 images
        assert ("opt_s" in finished.files) is False

    calls = itertools.count(1)
    real = Objective.evaluate

    def interrupted(self, x, gradient=True):
        if gradient and x.shape[2:] == (64, 80) and next(calls) == stop_at:
            raise KeyboardInterrupt
        return real(self, x, gradient)

    monkeypatch.setattr(Objective, "evaluate", interrupted)
    first = stylize(tmp_path, tiny_mat, *args)
    assert first.exit_code == 130 and "interrupted at step" in first.output
    assert pixels(tmp_path / "out.png").shape == (64, 80, 3)  # saved at the stage's size
    with np.load(tmp_path / "out.state.npz") as state:
        assert 3 < int(state["step"]) < 9
        if optimizer == "lbfgs":  # the memory of the saved step's iterate
            assert state["opt_s"].shape[1:] == state["opt_y"].shape[1:] == (1, 3, 64, 80)
            assert len(state["opt_s"]) >= 1
    monkeypatch.setattr(Objective, "evaluate", real)
    resumed = stylize(tmp_path, tiny_mat, *args, "--resume", tmp_path / "out.state.npz")
    assert resumed.exit_code == 0, resumed.output
    assert np.array_equal(pixels(tmp_path / "out.png"), pixels(tmp_path / "straight.png"))
    assert rows(tmp_path / "out.csv") == rows(tmp_path / "straight.csv")


def test_the_last_lbfgs_stage_follows_the_gradient_through_relu4_2(tiny_mat, tmp_path, monkeypatch):
    gradients = []  # (size, the deepest layer of the gradient) of each evaluation with one
    real = Objective.evaluate

    def spy(self, x, gradient=True):
        if gradient:
            deepest = None if self.gradient_taps is None else max(self.gradient_taps, key=order)
            gradients.append((x.shape[2:], deepest))
        return real(self, x, gradient)

    def order(tap):
        return CONV_PART_NAMES.index(tap)

    monkeypatch.setattr(Objective, "evaluate", spy)
    result = stylize(tmp_path, tiny_mat, "--stages", "2", "-n", "3,4")
    assert result.exit_code == 0, result.output
    assert {deepest for size, deepest in gradients if size == (32, 40)} == {None}
    assert {deepest for size, deepest in gradients if size == (64, 80)} == {"relu4_2"}
    history = rows(tmp_path / "out.csv")  # every row still holds every term's loss
    assert [int(r["step"]) for r in history if r["size"] == "64x80"] == list(range(3, 8))
    other_layers = stylize(
        tmp_path, tiny_mat, "--stages", "2", "-n", "3,4", "--style-layers", "relu3_1,relu4_1",
        name="other.png",
    )  # fmt: skip
    assert other_layers.exit_code == 0, other_layers.output  # every term in the gradient
    assert {deepest for _, deepest in gradients[-6:]} == {None}


def test_resume_with_another_stage_plan_is_refused(tiny_mat, tmp_path):
    assert stylize(tmp_path, tiny_mat, "--stages", "2", "-n", "1,1").exit_code == 0
    refused = stylize(
        tmp_path, tiny_mat, "--stages", "1", "-n", "2", "--resume", tmp_path / "out.state.npz"
    )
    assert refused.exit_code == 2 and "belongs to another run" in refused.output


def test_coarse_to_fine_ends_below_one_scale_at_the_same_cost(tiny_mat):
    """Two stages (a quarter of the pixels first) against one stage, for the same number of
    pixel-steps: 24 L-BFGS steps at 64x80 + 3 at 128x160 cost what 9 steps at 128x160 cost."""
    network = Network(read_matconvnet(tiny_mat), BACKENDS["img2col"]())
    options = StyleOptions(optimizer="lbfgs", init="content", clip=True)
    finals = {}
    for name, stages, steps in (("coarse-to-fine", 2, (24, 3)), ("one scale", 1, (9,))):
        job = StylizeJob(
            CONTENT, (STYLE,), (1.0,), options, size=(128, 160), stages=stages, steps=steps
        )
        final = Stylization(prepare(job, network), _NoFiles(), network.weights, False).run()
        assert final.image.shape[2:] == (128, 160)
        finals[name] = final.history[-1][4]
    assert finals["coarse-to-fine"] < finals["one scale"], finals


class _NoFiles:
    checkpoint_every = 0

    def is_checkpoint(self, step):
        return False


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_clip_keeps_the_image_a_picture_and_the_saved_loss_close(tiny_mat, tmp_path, optimizer):
    # Adam's steps of 20 per pixel (L-BFGS chooses its own) can end above the start: said,
    # exit status 1, the files kept
    lr = ["--lr", "20"] if optimizer == "adam" else []
    result = stylize(
        tmp_path, tiny_mat, "--optimizer", optimizer, *lr, "-n", "8", "--stages", "1",
        "--clip", "--init", "noise", "--tv-weight", "0",
    )  # fmt: skip
    assert result.exit_code == 0 or "made the picture worse" in result.output, result.output
    state = np.load(tmp_path / "out.state.npz")
    low, high = pixel_bounds(read_matconvnet(tiny_mat).preprocessing)
    assert np.all(state["image"] >= low - 1e-4) and np.all(state["image"] <= high + 1e-4)
    unbounded = stylize(
        tmp_path, tiny_mat, "--optimizer", optimizer, *lr, "-n", "8", "--stages", "1",
        "--no-clip", "--init", "noise", "--tv-weight", "0", name="free.png",
    )  # fmt: skip
    free = np.load(tmp_path / "free.state.npz")["image"]
    assert unbounded.exit_code == 0 or "made the picture worse" in unbounded.output
    if optimizer == "adam":  # steps of 20 per pixel leave the range without the projection
        assert np.any(free < low) or np.any(free > high)


def test_manual_is_the_old_default_bit_for_bit(tiny_mat, tmp_path):
    manual = stylize(tmp_path, tiny_mat, "--manual", "-n", "4", name="manual.png")
    explicit = stylize(
        tmp_path, tiny_mat, "--optimizer", "adam", "--lr", "1", "--init", "noise", "-n", "4",
        "--stages", "1", "--no-clip", "--tv-weight", "0", "--backend", "img2col",
        name="explicit.png",
    )  # fmt: skip
    assert manual.exit_code == explicit.exit_code == 0, manual.output + explicit.output
    assert np.array_equal(pixels(tmp_path / "manual.png"), pixels(tmp_path / "explicit.png"))
    assert "backend img2col" in manual.stderr and "adam" in manual.stderr
