"""``vgg fetch-weights`` through click's CliRunner: from a local copy, downloaded and verified,
and offline."""

from __future__ import annotations

import json

from tests.test_cli_classify import CAT, assert_one_line_error, run
from tests.test_fetch import FileServer, checksums
from vggcli.storage.paths import downloads_dir
from vggcli.weights import releases
from vggcli.weights.fetch import Checksums


def test_fetch_weights_from_a_local_copy_then_classify_by_default(tiny_mat):
    result = run("fetch-weights", "--from", tiny_mat)
    assert result.exit_code == 0, result.output
    assert "does not match a published release" in result.stderr
    assert "installed: MatConvNet VGG19 (current format)" in result.stdout
    assert "classifier yes" in result.stdout
    again = run("fetch-weights", "--from", tiny_mat)
    assert "already installed" in again.stdout
    doc = json.loads(run("classify", CAT, "--json").stdout)
    assert doc["weights"]["source"] == "matconvnet"
    assert_one_line_error(run("fetch-weights", "--from", "nope.mat"), "no such file")


def test_fetch_weights_downloads_and_verifies(tiny_mat, monkeypatch):
    server = FileServer(tiny_mat.read_bytes())
    try:
        sums = checksums(server.data)
        release = releases.Release("matconvnet", "test release", server.url, "vgg.mat", sums)
        monkeypatch.setitem(releases.RELEASES, "matconvnet", release)
        result = run("fetch-weights")
        assert result.exit_code == 0, result.output
        assert "installed: test release" in result.stdout and sums.sha256 in result.stdout
        # the .mat is removed after conversion, and its lock file when the lock is let go
        assert list(downloads_dir().iterdir()) == []
        assert (
            json.loads(run("classify", CAT, "--json").stdout)["weights"]["source"] == "matconvnet"
        )
    finally:
        server.close()


def test_fetch_weights_offline_explains_the_manual_route(monkeypatch):
    release = releases.Release(
        "matconvnet", "x", "http://127.0.0.1:9/vgg.mat", "vgg.mat", Checksums()
    )
    monkeypatch.setitem(releases.RELEASES, "matconvnet", release)
    assert_one_line_error(run("fetch-weights"), "vgg fetch-weights --from FILE")
