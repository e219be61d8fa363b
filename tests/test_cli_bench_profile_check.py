"""`vgg bench`, `vgg profile` and `vgg check` through CliRunner: JSON schemas, the budget
extrapolation, and a deliberately broken backend that `vgg check` must catch and point at.
No timing assertions: only the structure of the reports and the correctness figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_cli_classify import assert_one_line_error
from vggcli.cli import main
from vggcli.engine.backends.img2col import Img2colBackend

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMING_KEYS = {"median_s", "min_s", "max_s"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def run_json(*args) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def check_bench_schema(doc: dict, kind: str, backends: list[str], backward: bool) -> None:
    assert doc["kind"] == kind and isinstance(doc["config"], dict)
    assert [r["backend"] for r in doc["results"]] == backends
    for r in doc["results"]:
        assert set(r["forward"]) == TIMING_KEYS
        assert r["forward"]["min_s"] <= r["forward"]["median_s"] <= r["forward"]["max_s"]
        if backward and not r["extrapolated"]:
            assert set(r["backward"]) == TIMING_KEYS
        assert isinstance(r["gflops_forward"], float) and r["gflops_forward"] > 0
        assert isinstance(r["max_rel_error"], dict)
    first = doc["results"][0]
    assert first["speedup_forward"] == 1.0
    assert all(v == 0.0 for v in first["max_rel_error"].values())


def test_bench_conv_json(torch):
    doc = run_json(
        "bench",
        "conv",
        "--shape",
        "2x5x9x11",
        "--cout",
        "6",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--pad",
        "1",
        "--compare",
        "loops,img2col,torch",
        "--repeat",
        "2",
    )
    check_bench_schema(doc, "conv", ["loops", "img2col", "torch"], backward=True)
    assert doc["config"]["input_shape"] == [2, 5, 9, 11] and doc["config"]["cout"] == 6
    for r in doc["results"][1:]:
        assert set(r["max_rel_error"]) == {"y", "dx", "dw", "db"}
        assert max(r["max_rel_error"].values()) < 1e-4
        assert r["speedup_backward"] > 0 and not r["extrapolated"]


def test_bench_pool_from_a_vgg_layer():
    doc = run_json("bench", "pool", "--layer", "pool2", "--size", "64", "--repeat", "1")
    check_bench_schema(doc, "pool", ["loops", "img2col"], backward=True)
    assert doc["config"]["layer"] == "pool2" and doc["config"]["input_shape"] == [1, 128, 32, 32]
    assert doc["results"][1]["max_rel_error"] == {"y": 0.0, "dx": 0.0}


def test_bench_budget_times_a_share_of_the_channels_and_says_so():
    result = run(
        "bench",
        "conv",
        "--layer",
        "conv2_1",
        "--size",
        "32",
        "--budget",
        "0.2",
        "--repeat",
        "1",
        "--warmup",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert "of 128 output channels, scaled up" in result.stdout
    doc = run_json(
        "bench", "conv", "--layer", "conv2_1", "--size", "32", "--budget", "0.2", "--repeat", "1"
    )
    loops, img2col = doc["results"]
    assert loops["extrapolated"] and 0 < loops["fraction_timed"] < 1 and loops["note"]
    assert not img2col["extrapolated"] and img2col["fraction_timed"] == 1.0
    # errors were computed on the channels both computed
    assert max(img2col["max_rel_error"].values()) < 1e-4


def test_bench_vgg19_estimates_loops_and_compares_torch(torch):
    doc = run_json(
        "bench",
        "vgg19",
        "--size",
        "32",
        "--compare",
        "img2col,torch,loops",
        "--budget",
        "3",  # img2col's first run must fit 1.5 s on a busy machine; loops needs far more
        "--repeat",
        "1",
    )
    check_bench_schema(doc, "vgg19", ["img2col", "torch", "loops"], backward=False)
    assert doc["config"]["taps"] == ["pool5"]
    _, torch_result, loops = doc["results"]
    assert torch_result["max_rel_error"]["pool5"] < 1e-4
    assert loops["extrapolated"] and loops["max_rel_error"] == {}
    assert "estimated layer by layer" in loops["note"]


def test_bench_stylize_step_matches_torch(torch):
    doc = run_json(
        "bench", "stylize", "--size", "32x48", "--compare", "img2col,torch", "--repeat", "1"
    )
    check_bench_schema(doc, "stylize", ["img2col", "torch"], backward=True)
    errors = doc["results"][1]["max_rel_error"]
    assert errors["total"] < 1e-4 and errors["dx"] < 1e-4


def test_bench_human_table_and_errors():
    result = run("bench", "pool", "--shape", "1x4x8x8", "--repeat", "1")
    assert result.exit_code == 0
    assert "speed-ups and errors relative to loops" in result.stdout
    assert_one_line_error(
        run("bench", "conv", "--compare", "loops,cuda"), "unknown implementation 'cuda'"
    )
    assert_one_line_error(run("bench", "conv", "--shape", "1x3x8x8"), "--shape needs --cout")
    assert_one_line_error(run("bench", "conv", "--layer", "fc6"), "--layer takes a conv or pool")
    assert_one_line_error(run("bench", "conv", "--layer", "pool1"), "is not a conv layer")
    assert_one_line_error(
        run("bench", "conv", "--shape", "1x3x2x2", "--cout", "4", "--kernel", "5", "--pad", "0"),
        "does not fit",
    )


def test_bench_without_torch_says_it_is_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert_one_line_error(
        run("bench", "conv", "--compare", "img2col,torch"),
        "torch is not installed; it is only an optional reference",
    )


def test_profile_json_schema_and_totals():
    doc = run_json(
        "profile", EXAMPLES / "chelsea.png", "--size", "48x64", "--repeat", "1", "--backward"
    )
    assert doc["backend"] == "winograd" and doc["input_shape"] == [1, 3, 48, 64]
    layers = doc["layers"]
    assert [la["name"] for la in layers][:3] == ["conv1_1", "relu1_1", "conv1_2"]
    assert layers[-1]["name"] == "pool5" and layers[-1]["output_shape"] == [1, 512, 1, 2]
    conv1_2 = layers[2]
    assert conv1_2["mults"] == conv1_2["adds"] == 64 * 48 * 64 * 64 * 9
    assert conv1_2["params"] == 64 * 64 * 9 + 64
    assert all(la["forward_ms"] > 0 and la["backward_ms"] > 0 for la in layers)
    assert doc["total_forward_ms"] == pytest.approx(sum(la["forward_ms"] for la in layers))
    assert doc["total_backward_ms"] == pytest.approx(sum(la["backward_ms"] for la in layers))
    plain = run_json("profile", "--size", "32", "--repeat", "1")
    assert plain["total_backward_ms"] is None and plain["layers"][0]["backward_ms"] is None


def test_profile_table_highlights_and_summarises():
    result = run("profile", "--size", "32", "--repeat", "1", "--backward", "--top", "2")
    assert result.exit_code == 0, result.output
    assert "total" in result.stdout and "forward: conv layers take" in result.stdout
    assert "backward: conv layers take" in result.stdout


def test_check_passes_on_a_correct_backend():
    doc = run_json("check", "--backend", "img2col")
    assert doc["passed"] is True
    names = [c["name"] for c in doc["checks"]]
    assert any("vs loops" in n for n in names) and any("central differences" in n for n in names)
    assert any(n.startswith("style loss") for n in names)
    for c in doc["checks"]:
        assert set(c) == {"name", "max_rel_error", "tolerance", "passed"}
        assert c["passed"] and c["max_rel_error"] <= c["tolerance"]


def _broken_pool(self, x, kernel=2, stride=2, tick=None):
    y, cache = Img2colBackend.__dict__["_real_pool"](self, x, kernel, stride, tick)
    return y * np.float32(1.01), cache


def test_check_catches_a_broken_backend(monkeypatch):
    monkeypatch.setattr(
        Img2colBackend, "_real_pool", Img2colBackend.maxpool2d_forward, raising=False
    )
    monkeypatch.setattr(Img2colBackend, "maxpool2d_forward", _broken_pool)
    result = run("check", "--backend", "img2col")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "first failure: maxpool" in result.stdout
    doc = json.loads(run("check", "--backend", "img2col", "--json").stdout)
    assert doc["passed"] is False
    failed = {c["name"].split()[0] for c in doc["checks"] if not c["passed"]}
    assert failed == {"maxpool"}


def test_check_points_at_the_first_layer_that_goes_wrong(monkeypatch):
    monkeypatch.setattr(
        Img2colBackend, "_real_pool", Img2colBackend.maxpool2d_forward, raising=False
    )
    monkeypatch.setattr(Img2colBackend, "maxpool2d_forward", _broken_pool)
    args = (
        "check",
        EXAMPLES / "chelsea.png",
        "--compare",
        "loops,img2col",
        "--size",
        "32",
        "--weights",
        "random",
    )
    result = run(*args)
    assert result.exit_code == 1
    assert "first layer that goes wrong: pool1 (relative error 1.00e-02" in result.stdout
    doc = json.loads(run(*args, "--json").stdout)
    rows = {c["name"]: c for c in doc["checks"]}
    assert not rows["pool1"]["passed"] and rows["conv2_1"]["passed"]  # isolated: conv is fine
    assert rows["conv2_1"]["propagated_rel_error"] > 1e-3  # …but it inherits pool1's error


def test_check_compare_agrees_on_a_correct_pair():
    doc = run_json(
        "check",
        EXAMPLES / "chelsea.png",
        "--compare",
        "img2col,loops",
        "--size",
        "32",
        "--weights",
        "random",
    )
    assert doc["passed"] and len(doc["checks"]) == 37  # conv1_1 … pool5
    assert_one_line_error(run("check", "--compare", "img2col,loops"), "--compare needs an IMAGE")


def test_bench_says_what_it_timed():
    conv = run("bench", "conv", "--size", "32", "--repeat", "1", "--compare", "img2col,winograd")
    assert conv.exit_code == 0, conv.output
    lines = conv.stdout.splitlines()  # on stdout: `> file` keeps what was measured
    assert lines[:2] == [
        "conv3_1 as VGG19 runs it on a 32x32 image",
        "layer input 1x128x8x8 (NCHW) → 256 channels, 3x3 stride 1 pad 1",
    ]
    assert "OPENBLAS_CORETYPE=" in conv.stdout and "measured on" in conv.stdout
    assert "mults" in conv.stdout  # the multiplications each performs
    shape = run(
        "bench", "conv", "--shape", "1x16x10x12", "--cout", "8", "--repeat", "1",
        "--compare", "img2col",
    )  # fmt: skip
    assert shape.stdout.startswith("layer input 1x16x10x12 (NCHW) → 8 channels, 3x3 stride 1 pad 1")
