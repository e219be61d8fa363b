"""A state file is trusted only when it belongs to the run: every field of a hand-made or
damaged one is checked against the run before its first step, and refused in one line naming
the field, never resized, never a traceback."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from tests.test_cli_classify import assert_one_line_error
from tests.test_cli_stylize import CONTENT, STYLE, run
from vggcli.cli.exits import Exit

ARGS = ["--size", "40x48", "--stages", "1", "--checkpoint-every", "0"]


@pytest.fixture
def state(tiny_mat, tmp_path):
    """(the arrays of a real run's state file after 2 L-BFGS steps, a function that writes
    them changed and resumes from them with 4 steps)."""
    first = run("stylize", CONTENT, STYLE, "-o", tmp_path / "o.png", "-n", "2", *ARGS,
                "--weights", tiny_mat)  # fmt: skip
    assert first.exit_code == 0, first.output
    with np.load(tmp_path / "o.state.npz") as data:
        arrays = {key: data[key] for key in data.files}

    def resume(**changes):
        path = tmp_path / "changed.state.npz"
        np.savez(path, **{**arrays, **changes})
        return run("stylize", CONTENT, STYLE, "-o", tmp_path / "o.png", "-n", "4", *ARGS,
                   "--weights", tiny_mat, "--resume", path)  # fmt: skip

    return arrays, resume


def fingerprint(arrays, **changes) -> np.ndarray:
    saved = json.loads(str(arrays["fingerprint"]))
    return np.array(json.dumps({**saved, **changes}))


def test_the_unchanged_state_resumes(state):
    _, resume = state
    result = resume()
    assert result.exit_code == 0, result.output
    assert "2 → 4" in result.output


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda a: {"image": a["image"][0, 0]}, "image is float32 [40, 48]"),
        (lambda a: {"image": a["image"][None]}, "image is float32 [1, 1, 3, 40, 48]"),
        (lambda a: {"image": a["image"].astype(np.complex64)}, "image is complex64"),
        (lambda a: {"image": a["image"].astype(np.int8)}, "image is int8"),
        (lambda a: {"image": np.zeros((1, 3, 480, 640), np.float32)}, "image is 480x640"),
        (lambda a: {"image": a["image"] * np.float32(np.nan)}, "image holds values"),
        (lambda a: {"image": np.frombuffer(pickle.dumps([1]), np.uint8)}, "image is uint8"),
        (lambda a: {"stage": np.array(6)}, "stage is 7, this run has 1"),
        (lambda a: {"step": np.array(-5)}, "step is -5"),
        (lambda a: {"step": np.array(9)}, "is at step 9: it has already made the 4 steps"),
        (lambda a: {"history": a["history"] * np.nan}, "history holds values"),
        (lambda a: {"history": a["history"][:, :5]}, "history is float64 [3, 5]"),
        (lambda a: {"history": a["history"][::-1]}, "history does not lead up to step 2"),
        (lambda a: {"fingerprint": np.array("[1, 2]")}, "fingerprint is not a JSON object"),
        (lambda a: {"fingerprint": np.array("null")}, "fingerprint is not a JSON object"),
        (lambda a: {"fingerprint": np.array(nested(100_000))}, "not a vggcli state file"),
        (lambda a: {"fingerprint": fingerprint(a, weights="other")}, "belongs to another run"),
        (lambda a: {"opt_s": np.zeros((2, 1, 3, 8, 8), np.float32)}, "curvature memory"),
        (lambda a: {"opt_m": np.zeros((1, 3, 40, 48), np.float32)}, "curvature memory holds"),
    ],
)
def test_a_state_file_that_does_not_fit_the_run_is_refused(state, change, field):
    arrays, resume = state
    result = resume(**change(arrays))
    assert_one_line_error(result, field)
    assert result.exit_code == Exit.USAGE


def test_an_image_stored_as_pickled_objects_is_refused_unread(state):
    _, resume = state
    result = resume(image=np.array([{"not": "an image"}], dtype=object))
    assert_one_line_error(result, "pickled objects, which vggcli never loads")
