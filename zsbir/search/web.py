"""``zsbir serve``: a local page to draw (or upload) a sketch and see the matching photos.

Routes (FastAPI; uvicorn binds 127.0.0.1 by default):

* ``GET /`` — the page (``static/``: vanilla HTML/CSS/JS, no CDN);
* ``POST /api/search?k=10`` — body: the bytes of an image (PNG, JPEG, …); answer
  ``{"results": [{"rank", "score", "path", "url"}], "ms"}``. A body over
  :data:`MAX_UPLOAD_BYTES` is a 413, an image over :data:`MAX_PIXELS` pixels (decompression
  bomb) a 413, anything that is not a readable image a 400, each with a message;
* ``GET /photo?path=REL`` — an indexed photo. Only paths listed in the index table are
  served (no path traversal); anything else is a 404.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io as _io
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from PIL import Image

from zsbir.features.images import ImageReadError
from zsbir.search.retriever import Retriever

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 25_000_000
MAX_K = 1000
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}


class UploadError(ValueError):
    """A bad upload; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_upload(data: bytes) -> None:
    """Refuse empty, oversized, non-image or too-many-pixel uploads before decoding them."""
    if not data:
        raise UploadError(400, "empty request body: send the bytes of an image (PNG, JPEG, …)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(413, f"upload of {len(data)} bytes exceeds {MAX_UPLOAD_BYTES} bytes")
    try:
        with Image.open(_io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the upload", str(exc))
        raise UploadError(400, f"not a readable image ({type(exc).__name__}: {text})") from exc
    if width * height > MAX_PIXELS:
        raise UploadError(413, f"image of {width}x{height} pixels exceeds {MAX_PIXELS} pixels")


def static_text(name: str) -> str:
    return importlib.resources.files("zsbir.search").joinpath("static", name).read_text()


def create_app(retriever: Retriever, default_k: int = 12) -> FastAPI:
    """The FastAPI application over a retriever with an attached photo index."""
    if retriever.index is None:
        raise ValueError("create_app needs a retriever with a photo index")
    index = retriever.index
    lock = threading.Lock()  # one network pass at a time (torch already uses every core)
    app = FastAPI(title="zsbir: search photos with a sketch")

    @app.get("/")
    def page() -> Response:
        html = static_text("index.html").replace("{{K}}", str(default_k))
        return Response(html.replace("{{N}}", str(len(index.table))), media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "not found")
        return Response(static_text(name), media_type=STATIC[name])

    @app.post("/api/search")
    async def api_search(request: Request, k: int = default_k) -> JSONResponse:
        start = time.perf_counter()
        data = await request.body()
        try:
            check_upload(data)
            if not 1 <= k <= MAX_K:
                raise UploadError(400, f"k must be between 1 and {MAX_K}, got {k}")
            with lock:
                hits = retriever.search(data, k)
        except UploadError as err:
            return JSONResponse({"detail": str(err)}, status_code=err.status)
        except ImageReadError as err:
            text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the upload", str(err))
            return JSONResponse({"detail": text}, status_code=400)
        results = [h.to_dict() | {"url": f"/photo?path={quote(h.path)}"} for h in hits]
        ms = (time.perf_counter() - start) * 1000
        return JSONResponse({"results": results, "ms": round(ms, 1)})

    @app.get("/photo")
    def photo(path: str) -> FileResponse:
        try:
            return FileResponse(index.file(path))
        except KeyError:
            raise HTTPException(404, "not an indexed photo") from None

    return app


def serve(
    index: str | Path, bundle: str | Path | None, host: str, port: int, k: int = 12
) -> None:
    """Load the index (and its bundle) and serve the page until interrupted."""
    import uvicorn

    app = create_app(Retriever.for_index(index, bundle), k)
    print(f"zsbir serve: http://{host}:{port}/  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", timeout_s: float = 60.0) -> Iterator[str]:
    """Serve ``app`` from a background thread on a free port; yields its base URL."""
    import uvicorn

    port = free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"zsbir serve: server on {host}:{port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
