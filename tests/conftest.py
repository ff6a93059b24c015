"""Shared fixtures: a local HTTP server on 127.0.0.1 standing in for dataset hosts.

It serves ``files`` by path, honours ``Range`` (or not), can drop a connection mid-file,
and plays Google Drive: ``/uc?export=download&id=<id>`` answers the "can't scan this file
for viruses" page (a ``download-form`` to ``/download`` with ``confirm`` and ``uuid``), and
only ``/download?id=<id>&confirm=t&uuid=...`` returns the file, as drive.google.com does
for large files. Ids in ``quota`` get Drive's quota-exceeded page instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from zsbir.split import wordnet

UUID = "3f1c2b7e-0000-4d2a-9c4e-5a6b7c8d9e0f"
CONFIRM_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>
<body><div class="uc-main"><p class="uc-warning-caption">Google Drive can't scan this file for
viruses.</p><p>{name} is too large for Google to scan for viruses. Would you still like to
download this file?</p><form id="download-form" action="/download" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="hidden" name="id" value="{id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="{uuid}">
</form></div></body></html>"""
QUOTA_PAGE = """<html><head><title>Google Drive - Quota exceeded</title></head><body>
<p>Sorry, you can't view or download this file at this time.</p><p>Too many users have viewed
or downloaded this file recently. Please try accessing the file again later.</p></body></html>"""


@dataclass
class Served:
    """What the server holds and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body
    drive: dict[str, bytes] = field(default_factory=dict)  # Drive file id -> body
    quota: set[str] = field(default_factory=set)  # Drive ids answering the quota page
    ranges: bool = True  # honour Range requests
    cut_after: int | None = None  # drop the next file response after this many body bytes
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: Served = self.server.state  # type: ignore[attr-defined]
        state.requests.append({"path": self.path, "range": self.headers.get("Range", "")})
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/uc" and query.get("id") in state.drive:
            page = QUOTA_PAGE if query["id"] in state.quota else CONFIRM_PAGE
            self._page(page.format(id=query["id"], name=f"file {query['id']}", uuid=UUID))
        elif parts.path == "/download" and query.get("confirm") == "t" and query.get("uuid"):
            self._file(state, state.drive.get(query.get("id", "")))
        else:
            self._file(state, state.files.get(self.path))

    def _page(self, html: str) -> None:
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, state: Served, body: bytes | None) -> None:
        if body is None:
            self.send_error(404)
            return
        start, wanted = 0, self.headers.get("Range")
        if wanted and state.ranges:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if state.cut_after is not None:  # simulate a dropped connection, once
            payload, state.cut_after = payload[: state.cut_after], None
            self.close_connection = True
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Served]:
    state = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = state  # type: ignore[attr-defined]
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def wordnet_installed() -> bool:
    """Whether live WordNet 3.0 is available (tests of the generated tables skip otherwise)."""
    try:
        wordnet.wordnet()
        return True
    except wordnet.WordNetUnavailable:
        return False


@pytest.fixture(autouse=True)
def _feature_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the extract stage's chunk cache out of the user's ~/.cache during tests."""
    monkeypatch.setenv("ZSBIR_FEATURE_CACHE", str(tmp_path_factory.mktemp("feature-cache")))
