"""``zsbir serve``: a page to draw (or upload) a sketch and see the matching photos.

Routes (FastAPI; uvicorn binds 127.0.0.1 by default):

* ``GET /`` — the page (``static/``: vanilla HTML/CSS/JS, no CDN);
* ``POST /api/search?k=10`` — body: the bytes of an image (PNG, JPEG, …); answer
  ``{"results": [{"rank", "score", "path", "url"}], "ms"}``. A body over
  :data:`MAX_UPLOAD_BYTES` is a 413 (read no further), an image over :data:`MAX_PIXELS`
  pixels (decompression bomb) a 413, anything that is not a readable image a 400, each
  with a message. Searches are answered in micro-batches by a worker thread
  (:mod:`zsbir.search.batcher`), never on the event loop; past ``max_queue`` searches in
  flight the answer is ``503`` with ``Retry-After``, past ``timeout_s`` a ``504``;
* ``GET /photo?path=REL`` — an indexed photo. Only paths listed in the index table are
  served (no path traversal); anything else, or an indexed photo deleted since, is a 404;
* ``GET /api/health`` — index size and kind, bundle fingerprint, queue depth, batch counters.

With a token (required off loopback, :mod:`zsbir.search.serve_config`) every route needs
``Authorization: Bearer TOKEN`` or the cookie that a one-time ``/?token=TOKEN`` link sets
(HttpOnly, SameSite=Strict; the link redirects to the same page without the token).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import importlib.resources
import io as _io
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from PIL import Image

from zsbir.features.images import ImageReadError
from zsbir.search.batcher import Batcher, QueueFull, SearchFn, search_batch
from zsbir.search.retriever import Retriever
from zsbir.search.serve_config import ServeConfig, ServeError, check_access

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


class TokenGuard:
    """The access check of a server started with a token (constant-time comparisons)."""

    COOKIE = "zsbir_token"

    def __init__(self, token: str) -> None:
        self.token = token

    def matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, request: Request, call_next: Any) -> Response:
        given = request.query_params.get("token")
        if given is not None:  # the one-time link: set the cookie, drop the token from the URL
            if not self.matches(given):
                return JSONResponse({"detail": "wrong token in the link"}, status_code=401)
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(self.COOKIE, self.token, httponly=True, samesite="strict")
            return response
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.matches(bearer or None) or self.matches(request.cookies.get(self.COOKIE)):
            return await call_next(request)
        return JSONResponse(
            {"detail": "this server needs its token: open the link with ?token=… that whoever "
                       "runs it gave you, or send the header Authorization: Bearer …"},
            status_code=401,
        )


async def read_body(request: Request) -> bytes:
    """The request body; past :data:`MAX_UPLOAD_BYTES` a 413, read to its end but not kept.

    The rest of an oversized body is drained in constant memory (answering before the
    client has finished sending would reset its connection instead of telling it why).
    """
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_UPLOAD_BYTES:
            chunks.append(chunk)
        else:
            chunks.clear()
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(413, f"upload of {size} bytes exceeds {MAX_UPLOAD_BYTES} bytes")
    return b"".join(chunks)


def create_app(
    retriever: Retriever, config: ServeConfig | None = None, search: SearchFn | None = None
) -> FastAPI:
    """The FastAPI application over a retriever with an attached photo index.

    ``search`` answers a batch (default :func:`~zsbir.search.batcher.search_batch` over
    ``retriever``); tests pass a slow one.
    """
    if retriever.index is None:
        raise ValueError("create_app needs a retriever with a photo index")
    cfg = config if config is not None else ServeConfig()
    index = retriever.index
    run = search if search is not None else functools.partial(search_batch, retriever)
    batcher = Batcher(run, cfg.max_batch, cfg.batch_wait_ms, cfg.max_queue)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(title="zsbir: search photos with a sketch", lifespan=lifespan)
    app.state.batcher = batcher
    if cfg.token is not None:
        app.middleware("http")(TokenGuard(cfg.token))

    @app.get("/")
    def page() -> Response:
        html = static_text("index.html").replace("{{K}}", str(cfg.k))
        return Response(html.replace("{{N}}", str(len(index.table))), media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "not found")
        return Response(static_text(name), media_type=STATIC[name])

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok", "photos": len(index.table), "kind": index.meta.get("kind"),
            "bundle": retriever.bundle.fingerprint, "queue": batcher.depth,
            "max_queue": cfg.max_queue, "max_batch": cfg.max_batch, **batcher.stats.to_dict(),
        }

    @app.post("/api/search")
    async def api_search(request: Request, k: int = cfg.k) -> JSONResponse:
        start = time.perf_counter()
        try:
            data = await read_body(request)
            check_upload(data)
            if not 1 <= k <= MAX_K:
                raise UploadError(400, f"k must be between 1 and {MAX_K}, got {k}")
            future = batcher.submit(data, k)
        except UploadError as err:
            return JSONResponse({"detail": str(err)}, status_code=err.status)
        except QueueFull:
            wait = batcher.retry_after_s()
            return JSONResponse(
                {"detail": f"busy: {cfg.max_queue} searches in flight; retry in {wait} s"},
                status_code=503, headers={"Retry-After": str(wait)},
            )
        try:
            hits = await asyncio.wait_for(asyncio.wrap_future(future), cfg.timeout_s)
        except TimeoutError:
            return JSONResponse({"detail": f"search took over {cfg.timeout_s:g} s; retry later"},
                                status_code=504)
        except ImageReadError as err:
            text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the upload", str(err))
            return JSONResponse({"detail": text}, status_code=400)
        results = [h.to_dict() | {"url": f"/photo?path={quote(h.path)}"} for h in hits]
        ms = (time.perf_counter() - start) * 1000
        return JSONResponse({"results": results, "ms": round(ms, 1)})

    @app.get("/photo")
    def photo(path: str) -> FileResponse:
        try:
            file = index.file(path)
        except KeyError:
            raise HTTPException(404, "not an indexed photo") from None
        if not file.is_file():
            raise HTTPException(
                404, f"{path}: indexed, but no longer in {index.photo_root}; re-run zsbir index"
            )
        return FileResponse(file)

    return app


def check_port(host: str, port: int) -> None:
    """Fail with the fix when ``host:port`` cannot be bound (in use, or not this machine's)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise ServeError(
                f"cannot listen on {host}:{port} ({err.strerror}); pick another --port "
                "or stop the program using it"
            ) from None


def serve(index: str | Path, bundle: str | Path | None, config: ServeConfig) -> None:
    """Load the index (and its bundle) and serve the page until interrupted."""
    import uvicorn

    check_access(config)
    check_port(config.host, config.port)
    app = create_app(Retriever.for_index(index, bundle), config)
    link = f"http://{config.host}:{config.port}/"
    if config.token is not None:
        link += "?token=" + quote(config.token)  # a one-time link: the page then sets a cookie
    print(f"zsbir serve: {link}  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")


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
