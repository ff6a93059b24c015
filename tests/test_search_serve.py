"""zsbir serve under load: batching, bounds, a responsive loop, errors, and the token."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from zsbir.search import cli
from zsbir.search.batcher import Batcher, QueueFull, search_batch
from zsbir.search.gallery import index_folder
from zsbir.search.retriever import Retriever
from zsbir.search.serve_config import ServeConfig, ServeError, check_access, is_loopback
from zsbir.search.web import check_port, create_app, running

TOKEN = "s3cret-token-for-tests-0123"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, search_pipeline: Path):
    """A copied photo folder (photos may be deleted), its index, the retriever, sketches."""
    root = tmp_path_factory.mktemp("serve")
    photos = root / "photos"
    for path in sorted((search_pipeline / "data/raw/synthetic/photo").rglob("*.jpg"))[::4]:
        (photos / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, photos / path.parent.name / path.name)
    index_folder(photos, search_pipeline / "models/bundle", root / "index")
    retriever = Retriever.for_index(root / "index")
    sketches = sorted((search_pipeline / "data/raw/synthetic/sketch").rglob("*.png"))[:12]
    return retriever, [p.read_bytes() for p in sketches], root


def _request(url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_a_batch_answers_each_search_as_it_would_be_answered_alone(gallery) -> None:
    retriever, sketches, _ = gallery
    ks = [3, 7, 1, 12, 5, 7]
    batched = search_batch(retriever, sketches[:6], ks)
    for sketch, k, answer in zip(sketches, ks, batched):
        alone = retriever.search(sketch, k)  # the Python API, one sketch per forward pass
        assert [h.path for h in answer] == [h.path for h in alone]
        assert [h.rank for h in answer] == list(range(1, k + 1))
        np.testing.assert_allclose([h.score for h in answer], [h.score for h in alone],
                                   atol=1e-5)
    broken = search_batch(retriever, [b"not an image", sketches[0]], [3, 3])
    assert isinstance(broken[0], Exception) and "cannot read" in str(broken[0])
    assert [h.path for h in broken[1]] == [h.path for h in batched[0]]


def test_concurrent_searches_share_forward_passes_and_get_their_own_answers(gallery) -> None:
    retriever, sketches, _ = gallery
    app = create_app(retriever, ServeConfig(batch_wait_ms=200, max_batch=8))
    with running(app) as url:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda s: _request(f"{url}/api/search?k=5", s), sketches[:8]))
        health = json.loads(_request(f"{url}/api/health")[2])
    assert all(code == 200 for code, _, _ in answers)
    for sketch, (_, _, body) in zip(sketches, answers):
        alone = retriever.search(sketch, 5)
        assert [r["path"] for r in json.loads(body)["results"]] == [h.path for h in alone]
    assert health["searches"] == 8 and health["batches"] < 8  # some searches shared a pass
    assert health["photos"] == len(retriever.index.table)
    assert health["bundle"] == retriever.bundle.fingerprint and health["queue"] == 0


def _slow(retriever: Retriever, seconds: float, started: threading.Event):
    def run(sketches, ks):
        started.set()
        time.sleep(seconds)  # a deliberately slow model
        return search_batch(retriever, sketches, ks)
    return run


def test_page_and_photos_answer_while_a_slow_search_runs(gallery) -> None:
    retriever, sketches, _ = gallery
    started = threading.Event()
    app = create_app(retriever, ServeConfig(), search=_slow(retriever, 3.0, started))
    with running(app) as url, ThreadPoolExecutor(1) as pool:
        search = pool.submit(_request, f"{url}/api/search?k=3", sketches[0])
        assert started.wait(30)
        t0 = time.perf_counter()
        page = _request(url + "/")
        path = retriever.index.table["path"].iloc[0]
        photo = _request(f"{url}/photo?path={path}")
        elapsed = time.perf_counter() - t0
        assert not search.done()  # still searching while the page was served
        assert page[0] == 200 and photo[0] == 200 and elapsed < 1.0
        assert search.result()[0] == 200


def test_overload_is_a_clean_503_and_a_stuck_search_a_504(gallery) -> None:
    retriever, sketches, _ = gallery
    started = threading.Event()
    cfg = ServeConfig(max_queue=2, max_batch=1, batch_wait_ms=0, timeout_s=1.0)
    app = create_app(retriever, cfg, search=_slow(retriever, 2.5, started))
    with running(app) as url, ThreadPoolExecutor(6) as pool:
        codes = [f for f in pool.map(
            lambda s: _request(f"{url}/api/search?k=3", s), sketches[:6])]
    statuses = sorted(code for code, _, _ in codes)
    assert statuses.count(503) == 4 and statuses.count(504) == 2
    for code, headers, body in codes:
        if code == 503:
            assert int(headers["Retry-After"]) >= 1 and "busy" in json.loads(body)["detail"]


def test_the_queue_limit_counts_searches_in_flight() -> None:
    gate = threading.Event()
    batcher = Batcher(lambda s, k: [gate.wait() and [] for _ in s], max_batch=1,
                      batch_wait_ms=0, max_queue=2)
    first, second = batcher.submit(b"a", 1), batcher.submit(b"b", 1)
    with pytest.raises(QueueFull):
        batcher.submit(b"c", 1)
    gate.set()
    assert first.result(10) == [] and second.result(10) == []
    assert batcher.submit(b"d", 1).result(10) == []  # room again
    batcher.close()


def test_a_deleted_photo_is_a_404_naming_it(gallery) -> None:
    retriever, _, root = gallery
    path = retriever.index.table["path"].iloc[-1]
    moved = root / "moved.jpg"
    shutil.move(retriever.index.photo_root / path, moved)
    try:
        with running(create_app(retriever)) as url:
            code, _, body = _request(f"{url}/photo?path={path}")
    finally:
        shutil.move(moved, retriever.index.photo_root / path)
    assert code == 404 and path in json.loads(body)["detail"]


def test_off_loopback_needs_a_token_which_the_page_and_api_then_require(gallery) -> None:
    retriever, sketches, _ = gallery
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    with pytest.raises(ServeError, match="--token"):
        check_access(ServeConfig(host="0.0.0.0"))
    with pytest.raises(ServeError, match="at least 16"):
        check_access(ServeConfig(host="0.0.0.0", token="short"))
    check_access(ServeConfig(host="0.0.0.0", token=TOKEN))
    app = create_app(retriever, ServeConfig(token=TOKEN))
    with running(app) as url:
        for route in ("/", "/api/health", "/static/app.js"):
            assert _request(url + route)[0] == 401
        assert _request(f"{url}/api/search?k=2", sketches[0])[0] == 401
        assert _request(url + "/?token=wrong-token-wrong-token")[0] == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert _request(f"{url}/api/search?k=2", sketches[0], bearer)[0] == 200
        # the one-time link: a 303 to the bare page and an HttpOnly, SameSite cookie
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(f"{url}/?token={TOKEN}", timeout=30)
            raise AssertionError("expected a redirect")
        except urllib.error.HTTPError as err:
            assert err.code == 303 and err.headers["Location"] == "/"
            cookie = err.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        jar = {"Cookie": cookie.split(";", 1)[0]}
        assert _request(url + "/", headers=jar)[0] == 200
        assert _request(f"{url}/api/search?k=2", sketches[0], jar)[0] == 200


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("zsbir ")]  # not tqdm's
    assert len(lines) == 1 and lines[0].startswith(f"zsbir {argv[0]}: error: "), err
    return lines[0]


def test_cli_errors_are_one_line_naming_the_file_and_the_fix(
    gallery, search_pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    retriever, sketches, root = gallery
    bundle = str(search_pipeline / "models/bundle")
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copyfile(next(retriever.index.photo_root.rglob("*.jpg")), photos / "good.jpg")
    (photos / "broken.jpg").write_bytes(b"this is no jpeg")
    err = _cli_error(capsys, ["index", str(photos), "--bundle", bundle, "--out",
                              str(tmp_path / "ix")])
    assert "broken.jpg" in err and "--skip-unreadable" in err
    err = _cli_error(capsys, ["index", str(photos), "--bundle", str(tmp_path / "nobundle"),
                              "--out", str(tmp_path / "ix")])
    assert "nobundle" in err
    sketch = tmp_path / "s.png"
    sketch.write_bytes(sketches[0])
    err = _cli_error(capsys, ["query", str(sketch), "--index", str(tmp_path / "noindex")])
    assert "noindex" in err and "zsbir index" in err
    err = _cli_error(capsys, ["serve", "--index", str(root / "index"), "--host", "0.0.0.0"])
    assert "--token" in err
    err = _cli_error(capsys, ["serve", "--index", str(root / "index"), "--max-batch", "0"])
    assert "--max-batch" in err
    with pytest.raises(Exception):  # --debug: the traceback, not the line
        cli.main(["query", str(sketch), "--index", str(tmp_path / "noindex"), "--debug"])


def test_a_port_in_use_is_named_before_loading_anything() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServeError, match=f"127.0.0.1:{port}.*--port"):
            check_port("127.0.0.1", port)
