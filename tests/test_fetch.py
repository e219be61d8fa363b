"""The real download code against a local HTTP server on 127.0.0.1 (no outside network)."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vggcli.errors import FetchError
from vggcli.weights.fetch import Checksums, download, hash_file

PAYLOAD = bytes(range(256)) * 4000  # about 1 MB, several chunks


def checksums(data: bytes) -> Checksums:
    return Checksums(len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())


class FileServer:
    """Serves ``data`` at /file with HTTP Range support and scripted misbehaviour."""

    def __init__(self) -> None:
        self.data = PAYLOAD
        self.ranges = True  # honour Range requests
        self.drop_after: list[int] = []  # per request: close the connection after N body bytes
        self.content_type = "application/octet-stream"
        self.requests: list[str | None] = []  # the Range header of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                if self.path != "/file":
                    self.send_error(404, "Not Found")
                    return
                start = 0
                range_header = self.headers.get("Range")
                if server.ranges and range_header:
                    start = int(range_header.split("=")[1].split("-")[0])
                    if start >= len(server.data):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}"
                    )
                else:
                    self.send_response(200)
                body = server.data[start:]
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drop_after:
                    body = body[: server.drop_after.pop(0)]
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FileServer()
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
    server.drop_after = [400_000]
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
    server.ranges = False
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
    server.content_type = "text/html; charset=utf-8"
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
    from vggcli.weights import cache as weights_cache

    release = weights_cache.Release("matconvnet", "test", server.url, "w.mat", checksums(PAYLOAD))
    monkeypatch.setitem(weights_cache.RELEASES, "matconvnet", release)
    seen = []

    def interrupting_report(done, total):
        seen.append(done)
        if done >= 300_000:
            raise KeyboardInterrupt

    import vggcli.ui

    monkeypatch.setattr(vggcli.ui, "ByteBar", lambda description: _Bar(interrupting_report))
    result = CliRunner().invoke(main, ["fetch-weights"])
    assert result.exit_code == 130 and "run the same command again to resume" in result.output
    part = weights_cache.downloads_dir() / "w.mat.part"
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
