"""``vgg stylize FOLDER|LIST.txt STYLE``: one picture per content picture, names that cannot
collide, a run that continues picture by picture after any stop, and the same on a cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults import kill_at
from tests.test_cli_classify import CAT, assert_one_line_error, run
from vggcli.style.album import contents_of, output_names

EXAMPLES = Path(CAT).parent
STYLE = str(EXAMPLES / "starry_night.jpg")
QUICK = ["--weights", "random", "--size", "32x32", "-n", "2", "--checkpoint-every", "1"]


@pytest.fixture
def album(tmp_path) -> Path:
    """chelsea.png, coffee.png, notes.txt (not a picture) and sub/coffee.png."""
    folder = tmp_path / "album"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(CAT, folder / "chelsea.png")
    shutil.copy(EXAMPLES / "coffee.png", folder / "coffee.png")
    shutil.copy(EXAMPLES / "coffee.png", folder / "sub" / "coffee.png")
    (folder / "notes.txt").write_text("not a picture")
    (folder / ".hidden.png").write_text("skipped")
    return folder


def records(folder: Path) -> list[dict]:
    """The run's records without their times."""
    found = [json.loads(line) for line in (folder / "stylize.jsonl").read_text().splitlines()]
    for record in found[1:]:
        record.pop("seconds")
    return found[1:]


def stylize(album, out, *extra):
    return run("stylize", album, STYLE, *QUICK, "-o", out, *extra)


def test_a_folder_gives_one_picture_each_and_a_failed_row(album, tmp_path):
    result = stylize(album, tmp_path / "out")
    assert result.exit_code == 1
    assert_one_line_error(result, "1 of 4 pictures failed (first: ")
    assert "notes.txt is not an image" in result.output
    names = [r["output"] for r in records(tmp_path / "out")]
    assert names == [
        "chelsea-starry_night.png", "coffee-starry_night.png", "notes-starry_night.png",
        "sub-coffee-starry_night.png",
    ]  # fmt: skip
    for name in names[:2] + names[3:]:
        assert (tmp_path / "out" / name).is_file()
        assert (tmp_path / "out" / name).with_suffix(".csv").is_file()
    assert [r["steps"] for r in records(tmp_path / "out") if "error" not in r] == [2, 2, 2]
    again = stylize(album, tmp_path / "out")
    assert "4 of 4 pictures done, continuing" in again.stderr
    assert len(records(tmp_path / "out")) == 4
    shutil.copy(CAT, album / "later.png")  # another album now: refused, not mixed
    other = stylize(album, tmp_path / "out")
    assert other.exit_code == 2
    assert_one_line_error(other, "belongs to another run: pictures 4 in the file, 5 now")
    assert len(records(tmp_path / "out")) == 4


def test_names_never_collide(tmp_path):
    folder = tmp_path / "f"
    for name in ("a.jpg", "a.png", "A.jpg", "sub/a.jpg", "sub-a.jpg"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    contents = contents_of(folder)
    names = output_names(contents, folder, (Path("s.jpg"),))
    assert len({n.casefold() for n in names}) == len(names) == 5
    assert names == output_names(contents, folder, (Path("s.jpg"),))  # the same every run
    listing = tmp_path / "list.txt"
    listing.write_text("# from two folders\nf/a.jpg\n\nf/sub/a.jpg\n")
    assert output_names(contents_of(listing), listing, (Path("s.jpg"),)) == [
        "a-s.png", "a-2-s.png",
    ]  # fmt: skip


def test_a_list_naming_a_missing_picture_is_refused_up_front(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{CAT}\nnowhere.jpg\n")
    result = stylize(listing, tmp_path / "out")
    assert result.exit_code == 2
    assert_one_line_error(result, "list.txt:2: picture not found: nowhere.jpg")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "target, nth, after",
    [
        ("vggcli.style.job:Stylization.run", 2, False),  # as the second picture starts
        ("vggcli.style.job:Stylization.save", 2, True),  # saved, before its record
    ],
)
def test_a_kill_then_the_same_command_ends_as_a_straight_run(album, tmp_path, target, nth, after):
    (album / "notes.txt").unlink()
    straight = tmp_path / "straight"
    assert stylize(album, straight).exit_code == 0
    out = tmp_path / "out"
    args = ["stylize", str(album), STYLE, *QUICK, "-o", str(out)]
    code = (
        "from click.testing import CliRunner\nfrom vggcli.cli import main\n"
        f"CliRunner().invoke(main, {args!r})\n"
    )
    assert kill_at(target, code, nth=nth, after=after).returncode == -9
    assert len(records(out)) < 3
    again = stylize(album, out)
    assert again.exit_code == 0, again.output
    assert records(out) == records(straight)
    for record in records(straight):
        assert (out / record["output"]).read_bytes() == (straight / record["output"]).read_bytes()


def test_a_picture_killed_mid_way_continues_from_its_checkpoint(album, tmp_path):
    (album / "notes.txt").unlink()
    out = tmp_path / "out"
    args = ["stylize", str(album), STYLE, *QUICK, "-n", "3", "-o", str(out)]
    code = (
        "from click.testing import CliRunner\nfrom vggcli.cli import main\n"
        f"CliRunner().invoke(main, {args!r})\n"
    )
    # per picture: the state at steps 1, 2 and 3 (checkpoints), then at the end
    killed = kill_at("vggcli.style.job:Stylization._save_state", code, nth=6, after=True)
    assert killed.returncode == -9
    assert len(records(out)) == 1  # the first picture; the second stopped after its step 2
    again = run(*args[:1], *args[1:])
    assert again.exit_code == 0, again.output
    assert "1 of 3 pictures done, continuing" in again.stderr
    assert "continuing it from step 2 (its state file)" in again.stderr
    history = (out / "coffee-starry_night.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["0", "1", "2", "3"]
    assert [r["steps"] for r in records(out)] == [3, 3, 3]


def test_a_local_cluster_writes_the_same_pictures(album, tmp_path):
    pytest.importorskip("distributed")
    here = tmp_path / "here"
    stylize(album, here)
    there = tmp_path / "there"
    done = subprocess.run(
        [sys.executable, "-m", "vggcli", "stylize", str(album), STYLE, *QUICK, "-o", str(there),
         "--cluster", "local:2"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert records(there) == records(here)
    for record in records(here):
        if "error" not in record:
            assert (there / record["output"]).read_bytes() == (here / record["output"]).read_bytes()


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--resume", "x.state.npz"], "a run of many continues by itself"),
        (["--force"], "for many, give another -o folder"),
        (["--checkpoint-dir", "c"], "with many, each picture's are beside it"),
    ],
)
def test_options_of_one_picture_are_refused_with_many(album, tmp_path, extra, fragment):
    result = stylize(album, tmp_path / "out", *extra)
    assert result.exit_code == 2
    assert_one_line_error(result, fragment)


def test_an_image_name_as_the_output_folder_is_refused(album, tmp_path):
    result = stylize(album, tmp_path / "out.png")
    assert_one_line_error(result, "many pictures go into a folder")
