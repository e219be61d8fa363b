"""The real download code against a local HTTP server on 127.0.0.1 (no outside network)."""

from __future__ import annotations

import hashlib
import socket

import pytest

from tests.faults import FileServer, run_together
from vggcli.errors import FetchError
from vggcli.weights.fetch import Checksums, download, hash_file

PAYLOAD = bytes(range(256)) * 4000  # about 1 MB, several chunks


def checksums(data: bytes) -> Checksums:
    return Checksums(len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())


@pytest.fixture
def server():
    s = FileServer(PAYLOAD)
    yield s
    s.close()


def test_download_verifies_and_renames(server, tmp_path):
    dest = tmp_path / "w.mat"
    progress = []
    got = download(
        server.url, dest, checksums(PAYLOAD), report=lambda d, t: progress.append((d, t))
    )
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "w.mat.part").exists()
    assert got == checksums(PAYLOAD)
    assert progress[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    dest = tmp_path / "w.mat"
    server.faults.drop_after = [400_000]
    with pytest.raises(FetchError, match=r"broke off.*kept in .*run the command again to resume"):
        download(server.url, dest, checksums(PAYLOAD))
    part = tmp_path / "w.mat.part"
    assert part.stat().st_size == 400_000 and not dest.exists()
    download(server.url, dest, checksums(PAYLOAD))
    assert server.requests == [None, "bytes=400000-"]
    assert dest.read_bytes() == PAYLOAD


def test_resume_against_a_server_without_ranges_starts_over(server, tmp_path):
    dest = tmp_path / "w.mat"
    (tmp_path / "w.mat.part").write_bytes(PAYLOAD[:1000])
    server.faults.ranges = False
    download(server.url, dest, checksums(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


def test_a_complete_part_is_only_verified(server, tmp_path):
    dest = tmp_path / "w.mat"
    (tmp_path / "w.mat.part").write_bytes(PAYLOAD)
    download(server.url, dest, checksums(PAYLOAD))
    assert server.requests == [] and dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    dest = tmp_path / "w.mat"
    wrong = Checksums(len(PAYLOAD), "0" * 64, None)
    with pytest.raises(FetchError, match=r"not the expected one.*SHA-256"):
        download(server.url, dest, wrong)
    assert not dest.exists() and not (tmp_path / "w.mat.part").exists()


def test_a_truncated_file_on_the_server_fails_the_size_check(server, tmp_path):
    expected = checksums(PAYLOAD)
    server.data = PAYLOAD[: len(PAYLOAD) // 2]
    with pytest.raises(FetchError, match=r"size 512,000 bytes instead of 1,024,000"):
        download(server.url, tmp_path / "w.mat", expected)


def test_html_answers_and_http_errors(server, tmp_path):
    server.faults.content_type = "text/html; charset=utf-8"
    with pytest.raises(FetchError, match="HTML page"):
        download(server.url, tmp_path / "a.mat", checksums(PAYLOAD))
    with pytest.raises(FetchError, match="HTTP 404"):
        download(server.url + "-missing", tmp_path / "b.mat", checksums(PAYLOAD))


def test_unreachable_host(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="cannot reach"):
        download(f"http://127.0.0.1:{port}/file", tmp_path / "w.mat", timeout=5)


def test_hash_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    assert hash_file(path) == (
        hashlib.sha256(PAYLOAD).hexdigest(),
        hashlib.md5(PAYLOAD).hexdigest(),
    )


def test_ctrl_c_keeps_the_partial_download_for_the_next_run(server, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from vggcli.cli import main
    from vggcli.storage.paths import downloads_dir
    from vggcli.weights import releases

    release = releases.Release("matconvnet", "test", server.url, "w.mat", checksums(PAYLOAD))
    monkeypatch.setitem(releases.RELEASES, "matconvnet", release)
    seen = []

    def interrupting_report(done, total):
        seen.append(done)
        if done >= 300_000:
            raise KeyboardInterrupt

    from vggcli.cli import fetch as fetch_command

    monkeypatch.setattr(fetch_command, "ByteBar", lambda description: _Bar(interrupting_report))
    result = CliRunner().invoke(main, ["fetch-weights"])
    assert result.exit_code == 130 and "run the same command again to resume" in result.output
    part = downloads_dir() / "w.mat.part"
    assert part.stat().st_size >= 300_000


class _Bar:
    def __init__(self, report):
        self.report = report

    def __call__(self, done, total):
        self.report(done, total)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


DOWNLOAD = """
from vggcli.weights.fetch import Checksums, download
start_together()
got = download({url!r}, {dest!r}, Checksums({size}, {sha!r}, None),
               on_wait=lambda: print("waiting", flush=True))
print(got.sha256)
"""


def test_two_downloads_at_once_install_one_verified_file(server, tmp_path):
    server.faults.chunk_delay = 0.02  # both are still streaming when the second one starts
    dest = tmp_path / "w.mat"
    expected = checksums(PAYLOAD)
    code = DOWNLOAD.format(url=server.url, dest=str(dest), size=len(PAYLOAD), sha=expected.sha256)
    results = run_together(code, count=2)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert dest.read_bytes() == PAYLOAD
    assert all(r.stdout.split()[-1] == expected.sha256 for r in results)
    assert "waiting" in results[0].stdout + results[1].stdout
    assert len(server.requests) == 1  # the second found the first one's verified file


def test_the_file_on_disk_is_verified_not_the_bytes_received(server, tmp_path, monkeypatch):
    """A part file that changes under the download (another writer, a bad disk) is caught."""
    from vggcli.weights import fetch

    dest = tmp_path / "w.mat"
    real_stream = fetch._stream

    def stream_then_damage(url, part, *args):
        real_stream(url, part, *args)
        with open(part, "r+b") as f:
            f.seek(1000)
            f.write(b"\0" * 10)

    monkeypatch.setattr(fetch, "_stream", stream_then_damage)
    with pytest.raises(FetchError, match="not the expected one"):
        download(server.url, dest, checksums(PAYLOAD))
    assert not dest.exists()


def test_a_server_sending_other_bytes_is_caught(server, tmp_path):
    server.faults.wrong_bytes = True
    with pytest.raises(FetchError, match="not the expected one"):
        download(server.url, tmp_path / "w.mat", checksums(PAYLOAD))
    assert not (tmp_path / "w.mat").exists() and not (tmp_path / "w.mat.part").exists()


def test_a_stalled_server_times_out(server, tmp_path):
    server.faults.stall = 3.0
    with pytest.raises(FetchError, match=r"broke off|cannot reach"):
        download(server.url, tmp_path / "w.mat", checksums(PAYLOAD), timeout=0.5)


@pytest.mark.parametrize("url", ["notaurl", "ftp//x", ""])
def test_an_address_that_is_not_a_url(url, tmp_path):
    with pytest.raises(FetchError, match="not a download address"):
        download(url, tmp_path / "w.mat")


def test_fetch_weights_with_a_bad_url_is_one_line():
    from click.testing import CliRunner

    from tests.test_cli_classify import assert_one_line_error
    from vggcli.cli import main

    result = CliRunner().invoke(main, ["fetch-weights", "--url", "notaurl"])
    assert_one_line_error(result, "not a download address")
