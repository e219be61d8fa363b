"""``vgg classify --results FILE.jsonl``: one line per image as it finishes, in list order, and
the same command again continues where any stop left it, each image once, no torn line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults import kill_at
from tests.test_cli_classify import CAT, assert_one_line_error, run
from vggcli.cli.exits import Exit

COFFEE = str(Path(CAT).parent / "coffee.png")


@pytest.fixture
def listing(tmp_path):
    path = tmp_path / "val.txt"
    path.write_text(
        "".join(f"{image} {label}\n" for image, label in [(CAT, 281), (COFFEE, 967)] * 3)
    )
    return path


def lines(path: Path) -> list[dict]:
    """The records, without the times (they differ between runs)."""
    found = [json.loads(line) for line in path.read_text().splitlines()]
    for record in found[1:]:
        record.pop("forward_seconds")
    return found


def classify(listing, results, tiny_mat, *extra):
    return run("classify", "-f", listing, "--weights", tiny_mat, "--results", results, *extra)


def test_one_line_per_image_and_nothing_twice(tiny_mat, listing, tmp_path):
    results = tmp_path / "r.jsonl"
    first = classify(listing, results, tiny_mat, "--json")
    assert first.exit_code == 0, first.output
    records = lines(results)
    assert records[0]["format"] == "vggcli classify results 1" and len(records) == 7
    assert [r["label_id"] for r in records[1:]] == [281, 967] * 3
    document = json.loads(first.stdout)
    again = classify(listing, results, tiny_mat, "--json")
    assert "6 of 6 images done" in again.stderr
    assert lines(results) == records  # nothing classified twice, nothing added
    assert (
        json.loads(again.stdout)["summary"]["top1_accuracy"] == document["summary"]["top1_accuracy"]
    )


@pytest.mark.parametrize("nth", [1, 3, 6])
def test_a_kill_at_any_image_then_the_same_command(tiny_mat, listing, tmp_path, nth):
    straight = tmp_path / "straight.jsonl"
    assert classify(listing, straight, tiny_mat).exit_code == 0
    results = tmp_path / "r.jsonl"
    code = (
        "from click.testing import CliRunner\nfrom vggcli.cli import main\n"
        f"CliRunner().invoke(main, {['classify', '-f', str(listing), '--weights', str(tiny_mat), '--results', str(results)]!r})\n"  # noqa: E501
    )
    killed = kill_at("vggcli.classify:Classifier._forward", code, nth=nth)
    assert killed.returncode == -9
    assert len(lines(results)) == nth  # the header and the images before the kill
    assert classify(listing, results, tiny_mat).exit_code == 0
    assert lines(results) == lines(straight)


def test_a_torn_last_line_is_written_again(tiny_mat, listing, tmp_path):
    straight = tmp_path / "straight.jsonl"
    assert classify(listing, straight, tiny_mat).exit_code == 0
    results = tmp_path / "r.jsonl"
    text = straight.read_text().splitlines(keepends=True)
    results.write_text("".join(text[:3]) + text[3][: len(text[3]) // 2])  # killed mid-write
    assert classify(listing, results, tiny_mat).exit_code == 0
    assert lines(results) == lines(straight)


def test_a_results_file_of_other_options_or_no_results_file_is_refused(tiny_mat, listing, tmp_path):
    results = tmp_path / "r.jsonl"
    assert classify(listing, results, tiny_mat).exit_code == 0
    before = results.read_text()
    other = classify(listing, results, tiny_mat, "--top", "3")
    assert_one_line_error(other, "belongs to another run: top 5 in the file, 3 now")
    assert other.exit_code == Exit.USAGE and results.read_text() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nmore\n")
    assert_one_line_error(classify(listing, notes, tiny_mat), "is not a vggcli results file")
    assert notes.read_text() == "my notes\nmore\n"  # never truncated


@pytest.mark.parametrize("backend", ["img2col", "winograd"])
def test_a_batched_run_gives_the_one_image_runs_probabilities(tiny_mat, listing, backend):
    def probabilities(*extra):
        result = run("classify", "-f", listing, "--weights", tiny_mat, "-b", backend,
                     "--top", "1000", "--json", *extra)  # fmt: skip
        assert result.exit_code == 0, result.output
        return [
            {p["class_id"]: p["probability"] for p in r["top"]}
            for r in json.loads(result.stdout)["results"]
        ]

    one, batched = probabilities(), probabilities("--batch-size", "4")  # 6 images: 4 + 2
    for a, b in zip(one, batched, strict=True):
        # float32: a batch's GEMMs add in other orders (up to 8e-6 seen at 0.5)
        assert max(abs(a[k] - b[k]) for k in a) <= 1e-4


def test_compare_backends_on_the_same_list(tiny_mat, listing):
    """The DLP lab's table: accuracy of each backend, top-1 agreement, |Δp| of the true class."""
    result = run("classify", "-f", listing, "--weights", tiny_mat, "--compare",
                 "img2col,winograd,dlp", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["backends"] == ["img2col", "winograd", "dlp"]
    assert all(doc["summaries"][b]["count"] == 6 for b in doc["backends"])
    float_pair, int8_pair = doc["agreement"]
    assert (float_pair["a"], float_pair["b"], float_pair["images"]) == ("img2col", "winograd", 6)
    assert float_pair["top1_agreement"] == 1.0 and float_pair["max_abs_dp_true"] < 1e-4
    assert int8_pair["b"] == "dlp" and int8_pair["max_abs_dp_true"] >= int8_pair["mean_abs_dp_true"]
    rows = {b: doc["results"][b] for b in doc["backends"]}
    dp = [abs(x["true_probability"] - y["true_probability"])
          for x, y in zip(rows["img2col"], rows["dlp"], strict=True)]  # fmt: skip
    assert int8_pair["max_abs_dp_true"] == pytest.approx(max(dp))
    table = run("classify", "-f", listing, "--weights", tiny_mat, "--compare", "img2col,dlp")
    assert "dlp against img2col on 6 images: top-1 the same on" in table.stdout
    assert_one_line_error(
        run("classify", "-f", listing, "--weights", tiny_mat, "--compare", "dlp,dlp-pycnml"),
        "two or more different backends",
    )
