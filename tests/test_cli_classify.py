"""`vgg classify` through click's CliRunner, including every error path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests import matfiles
from vggcli.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CAT = str(EXAMPLES / "chelsea.png")


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def assert_one_line_error(result, fragment):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert fragment in errors[0], result.output


def test_classify_prints_a_top5_table(tiny_mat):
    result = run("classify", CAT, "--weights", tiny_mat)
    assert result.exit_code == 0, result.output
    assert "chelsea.png" in result.stdout and "probability" in result.stdout
    assert "backend winograd" in result.stderr and "MatConvNet VGG19" in result.stderr
    ranks = [
        line.split("│")[1].strip()
        for line in result.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip().isdigit()
    ]
    assert ranks == ["1", "2", "3", "4", "5"]


def test_json_output_follows_the_contract(tiny_mat):
    result = run(
        "classify", CAT, EXAMPLES / "coffee.png", "--weights", tiny_mat, "--json", "--top", "1000"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["backend"] == "winograd"  # the default
    assert doc["weights"]["source"] == "matconvnet" and Path(doc["weights"]["path"]).is_dir()
    assert [r["image"] for r in doc["results"]] == [CAT, str(EXAMPLES / "coffee.png")]
    top = doc["results"][0]["top"]
    assert len(top) == 1000 and [t["rank"] for t in top] == list(range(1, 1001))
    assert sorted(t["class_id"] for t in top) == list(range(1000))
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert {"rank", "class_id", "label", "probability"} == set(top[0])
    assert doc["results"][0]["forward_seconds"] > 0
    assert "summary" not in doc and "label_id" not in doc["results"][0]


def test_file_list_reports_accuracy(tiny_mat, tmp_path):
    # label one image with the class the network predicts and one with a class it ranks last
    first = json.loads(
        run(
            "classify",
            CAT,
            EXAMPLES / "rocket.jpg",
            "--weights",
            tiny_mat,
            "--json",
            "--top",
            "1000",
        ).stdout
    )["results"]
    right, wrong = first[0]["top"][0]["class_id"], first[1]["top"][-1]["class_id"]
    listing = tmp_path / "val.txt"
    listing.write_text(f"# a comment\n{CAT} {right}\n\n{EXAMPLES / 'rocket.jpg'} {wrong}\n")
    doc = json.loads(
        run("classify", "--file-list", listing, "--weights", tiny_mat, "--json").stdout
    )
    assert doc["summary"]["count"] == 2
    assert doc["summary"]["top1_accuracy"] == 0.5 and doc["summary"]["top5_accuracy"] == 0.5
    assert doc["summary"]["seconds"] > 0
    assert [r["label_id"] for r in doc["results"]] == [right, wrong]

    human = run("classify", "--file-list", listing, "--weights", tiny_mat)
    assert human.exit_code == 0
    assert "top-1 accuracy" in human.stdout and "0.5000 (1/2)" in human.stdout


def test_relative_paths_in_a_file_list_are_relative_to_the_list(tiny_mat, tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.open(CAT).save(tmp_path / "imgs" / "cat.png")
    (tmp_path / "list.txt").write_text("imgs/cat.png 281\n")
    result = run("classify", "-f", tmp_path / "list.txt", "--weights", tiny_mat, "--json")
    assert result.exit_code == 0, result.output


def test_random_weights_are_marked_and_seeded():
    a = run("classify", CAT, "--weights", "random", "--seed", "0", "--json")
    assert a.exit_code == 0
    assert "meaningless" in a.stderr
    doc = json.loads(a.stdout)
    assert doc["weights"] == {"source": "random", "path": None}
    again = json.loads(run("classify", CAT, "--weights", "random", "--seed", "0", "--json").stdout)
    other = json.loads(run("classify", CAT, "--weights", "random", "--seed", "1", "--json").stdout)
    assert doc["results"][0]["top"] == again["results"][0]["top"]
    assert doc["results"][0]["top"] != other["results"][0]["top"]


@pytest.mark.slow
def test_loops_and_img2col_agree_on_the_ranking(tiny_mat):
    docs = [
        json.loads(
            run(
                "classify", CAT, "--weights", tiny_mat, "--json", "--top", "5", "--backend", backend
            ).stdout
        )
        for backend in ("loops", "img2col")
    ]
    tops = [d["results"][0]["top"] for d in docs]
    assert [t["class_id"] for t in tops[0]] == [t["class_id"] for t in tops[1]]
    np.testing.assert_allclose(
        [t["probability"] for t in tops[0]], [t["probability"] for t in tops[1]], rtol=1e-3
    )
    assert docs[0]["backend"] == "loops"


def test_odd_image_modes_are_converted_not_refused(tiny_mat, tmp_path):
    base = Image.open(CAT).convert("RGB")
    paths = [
        tmp_path / "gray.png",
        tmp_path / "rgba.png",
        tmp_path / "pal.gif",
        tmp_path / "g16.png",
        tmp_path / "cmyk.jpg",
    ]
    base.convert("L").save(paths[0])
    base.convert("RGBA").save(paths[1])
    base.convert("P").save(paths[2])
    Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257).save(paths[3])
    base.convert("CMYK").save(paths[4])
    result = run("classify", *paths, "--weights", tiny_mat, "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["results"]) == 5


@pytest.mark.parametrize(
    "args,fragment",
    [
        ((), "give at least one IMAGE or --file-list"),
        (("missing.png",), "image not found: missing.png"),
        ((CAT, "--backend", "cuda"), "unknown backend 'cuda'; choose one of: loops, img2col"),
        ((CAT, "--weights", "nowhere.mat"), "weights not found"),
    ],
)
def test_usage_errors(tiny_mat, args, fragment):
    assert_one_line_error(run("classify", *args), fragment)


def test_missing_weights_say_how_to_get_them():
    assert_one_line_error(run("classify", CAT), "run `vgg fetch-weights`")


@pytest.mark.parametrize(
    "content,fragment",
    [
        (b"<html><body>Sorry</body></html>", "HTML page"),
        (b"", "is empty"),
    ],
)
def test_bad_weight_files(tmp_path, content, fragment):
    path = tmp_path / "w.mat"
    path.write_bytes(content)
    assert_one_line_error(run("classify", CAT, "--weights", path), fragment)


def test_truncated_weights_file(tiny_mat, tmp_path):
    path = tmp_path / "cut.mat"
    path.write_bytes(tiny_mat.read_bytes()[:50_000])
    assert_one_line_error(run("classify", CAT, "--weights", path), "truncated")


def test_corrupt_and_huge_images(tiny_mat, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((EXAMPLES / "china.jpg").read_bytes()[:5000])
    assert_one_line_error(run("classify", broken, "--weights", tiny_mat), "damaged or truncated")
    text = tmp_path / "text.png"
    text.write_text("not an image")
    assert_one_line_error(run("classify", text, "--weights", tiny_mat), "is not an image")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10000, 10000)).save(bomb)
    assert_one_line_error(run("classify", bomb, "--weights", tiny_mat), "too large")


@pytest.mark.parametrize(
    "listing,fragment",
    [
        ("", "lists no images"),
        ("# only a comment\n\n", "lists no images"),
        (f"{CAT}\n", "val.txt:1: expected 'IMAGE LABEL'"),
        (f"{CAT} 281\n{CAT} tabby\n", "val.txt:2: expected 'IMAGE LABEL'"),
        (f"{CAT} 1000\n", "val.txt:1: label 1000 is not a class number 0-999"),
        ("\n\nmissing.png 3\n", "val.txt:3: image not found"),
        (f"{CAT} --5\n", "val.txt:1: expected 'IMAGE LABEL'"),
        (f"{CAT} ²\n", "val.txt:1: expected 'IMAGE LABEL'"),
        (f"{CAT} ٣\n", "val.txt:1: expected 'IMAGE LABEL'"),  # an Arabic-Indic 3
        (f"{CAT} -5\n", "val.txt:1: label -5 is not a class number"),
    ],
)
def test_file_list_errors_name_the_line(tiny_mat, tmp_path, listing, fragment):
    path = tmp_path / "val.txt"
    path.write_text(listing)
    result = run("classify", "-f", path, "--weights", tiny_mat)
    assert_one_line_error(result, fragment)
    assert result.exit_code == 2


def test_a_file_list_saved_with_a_byte_order_mark(tiny_mat, tmp_path):
    path = tmp_path / "val.txt"
    path.write_bytes("\ufeff".encode() + f"{CAT} 281\n".encode())
    result = run("classify", "-f", path, "--weights", tiny_mat, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["label_id"] == 281


def test_missing_file_list(tiny_mat, tmp_path):
    assert_one_line_error(
        run("classify", "-f", tmp_path / "no.txt", "--weights", tiny_mat), "file list not found"
    )


def test_matfiles_helper_writes_a_loadable_file(tiny_raw, tmp_path):
    # guards the fixtures above: the generated file is a real v5 .mat with 43 layers
    import scipy.io

    path = matfiles.write_matconvnet(tmp_path / "x.mat", tiny_raw)
    assert path.read_bytes().startswith(b"MATLAB 5.0 MAT-file")
    assert scipy.io.loadmat(str(path))["layers"].shape == (1, 43)


def test_ctrl_c_during_a_file_list_prints_the_accuracy_so_far(tiny_mat, tmp_path, monkeypatch):
    from vggcli.classify import Classifier

    listing = tmp_path / "val.txt"
    listing.write_text(f"{CAT} 281\n{EXAMPLES / 'coffee.png'} 967\n{EXAMPLES / 'rocket.jpg'} 657\n")
    real = Classifier._forward
    calls = []

    def interrupted(self, jobs, *args, **kw):
        calls.append(jobs)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, jobs, *args, **kw)

    monkeypatch.setattr(Classifier, "_forward", interrupted)
    result = run("classify", "-f", listing, "--weights", tiny_mat)
    assert result.exit_code == 130
    assert "accuracy (interrupted: images so far)" in result.stdout
    images_row = [line for line in result.stdout.splitlines() if "│ images" in line]
    assert images_row and images_row[0].split("│")[2].strip() == "1"  # the one done


def test_a_damaged_image_in_a_file_list_is_reported_and_the_list_goes_on(tiny_mat, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "cat.png").write_bytes(Path(CAT).read_bytes())
    listing = tmp_path / "list.txt"
    listing.write_text("broken.jpg 281\ncat.png 281\n")
    result = run("classify", "--file-list", listing, "--weights", tiny_mat, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    broken, cat = doc["results"]
    assert broken["error"] and broken["top"] == [] and broken["label_id"] == 281
    assert cat["top"] and "error" not in cat
    assert doc["summary"]["count"] == 2 and doc["summary"]["failed"] == 1
    assert "1 of 2 images could not be classified" in result.stderr
    table = run("classify", "--file-list", listing, "--weights", tiny_mat)
    assert table.exit_code == 1 and "accuracy" in table.stdout  # the list was reported
    assert "1 of 2 images could not be classified" in table.stderr


def test_a_narrow_table_shows_file_names_not_a_shared_prefix():
    from vggcli.cli.render.classify import short_names

    deep = "/data/a/very/long/folder/of/validation/images"
    folder, names = short_names([f"{deep}/cat.png", f"{deep}/sub/dog.jpg"])
    assert folder == deep and names == ["cat.png", "sub/dog.jpg"]
    assert short_names(["cat.png", "dog.png"]) == ("", ["cat.png", "dog.png"])
    assert short_names([f"{deep}/cat.png"]) == ("", [f"{deep}/cat.png"])
    assert short_names(["/x/cat.png", "rel/dog.png"]) == ("", ["/x/cat.png", "rel/dog.png"])


def test_an_image_folder_in_the_imagefolder_layout(tiny_mat, tmp_path):
    data = tmp_path / "val"
    (data / "n02123045").mkdir(parents=True)  # WordNet id of class 281, "tabby, tabby cat"
    (data / "n02123045" / "cat.png").write_bytes(Path(CAT).read_bytes())
    (data / "7").mkdir()  # a class number
    (data / "7" / "cat.png").write_bytes(Path(CAT).read_bytes())
    (data / "7" / "notes.txt").write_text("not an image")  # reported in its row
    (data / ".cache").mkdir()  # hidden: skipped
    result = run("classify", "--file-list", data, "--weights", tiny_mat, "--json")
    assert result.exit_code == 1  # one file could not be classified, as with a file list
    rows = json.loads(result.stdout)["results"]
    assert [(Path(r["image"]).relative_to(data).as_posix(), r["label_id"]) for r in rows] == [
        ("7/cat.png", 7), ("7/notes.txt", 7), ("n02123045/cat.png", 281)
    ]  # fmt: skip
    assert rows[1]["error"] and json.loads(result.stdout)["summary"]["count"] == 3
    (data / "kittens").mkdir()
    assert_one_line_error(run("classify", "-f", data, "--weights", tiny_mat), "kittens")
    empty = tmp_path / "empty"
    (empty / "n02123045").mkdir(parents=True)
    assert_one_line_error(run("classify", "-f", empty, "--weights", tiny_mat), "holds no images")
