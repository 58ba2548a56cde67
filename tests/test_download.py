"""Checked, resumable downloads against a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from benchfleet.models.download import DownloadError, fetch

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    ranges: list[str] = []

    def do_GET(self):  # noqa: N802
        rng = self.headers.get("Range")
        _Handler.ranges.append(rng or "")
        data = PAYLOAD
        if self.path == "/corrupt":
            data = b"x" + PAYLOAD[1:]
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = data[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture()
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Handler.ranges.clear()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_download_verifies_and_caches(server, tmp_path):
    dest = tmp_path / "m.onnx"
    assert fetch(f"{server}/model", dest, MD5) == dest
    assert dest.read_bytes() == PAYLOAD
    n = len(_Handler.ranges)
    fetch(f"{server}/model", dest, MD5)  # cached: no request
    assert len(_Handler.ranges) == n


def test_download_resumes_a_partial_file(server, tmp_path):
    dest = tmp_path / "m.onnx"
    (tmp_path / "m.onnx.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{server}/model", dest, MD5)
    assert _Handler.ranges[-1] == "bytes=1000-"
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    dest = tmp_path / "m.onnx"
    with pytest.raises(DownloadError, match="checksum mismatch.*deleted"):
        fetch(f"{server}/corrupt", dest, MD5)
    assert not dest.exists()
    assert not (tmp_path / "m.onnx.part").exists()


def test_file_url_and_unreachable_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "m.onnx"
    fetch(src.as_uri(), dest, MD5)
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="--model synthetic"):
        fetch("http://127.0.0.1:9/nothing", tmp_path / "x.onnx", MD5, timeout=2)
