"""zsbir serve: the JSON API and the page in a real (headless Chromium) browser."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsbir.search.gallery import index_folder
from zsbir.search.retriever import Retriever
from zsbir.search.serve_config import ServeConfig
from zsbir.search.web import MAX_UPLOAD_BYTES, create_app, running

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, search_pipeline: Path):
    root = tmp_path_factory.mktemp("web")
    bundle = search_pipeline / "models/bundle"
    photos = root / "photos"
    for path in sorted((search_pipeline / "data/raw/synthetic/photo").rglob("*.jpg"))[::3]:
        (photos / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, photos / path.parent.name / path.name)
    (root / "secret.txt").write_text("outside the photo folder")
    index_folder(photos, bundle, root / "index")
    retriever = Retriever.for_index(root / "index")
    with running(create_app(retriever, ServeConfig(k=6))) as url:
        yield url, retriever, search_pipeline


def _post(url: str, body: bytes, k: int = 6) -> tuple[int, dict]:
    req = urllib.request.Request(f"{url}/api/search?k={k}", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_api_answers_the_python_api_ranking(served) -> None:
    url, retriever, root = served
    sketch = sorted((root / "data/raw/synthetic/sketch").rglob("*.png"))[4]
    status, body = _post(url, sketch.read_bytes())
    assert status == 200
    api = retriever.search(sketch, 6)
    assert [r["path"] for r in body["results"]] == [h.path for h in api]
    np.testing.assert_allclose([r["score"] for r in body["results"]], [h.score for h in api],
                               atol=1e-6)
    code, data = _get(url + body["results"][0]["url"])
    assert code == 200 and data == (retriever.index.photo_root / api[0].path).read_bytes()


def test_bad_uploads_get_a_4xx_with_a_message(served, tmp_path: Path) -> None:
    url, _, _ = served
    status, body = _post(url, b"<html>not an image</html>")
    assert status == 400 and "not a readable image" in body["detail"]
    status, body = _post(url, b"")
    assert status == 400 and "empty" in body["detail"]
    status, body = _post(url, b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert status == 413 and "exceeds" in body["detail"]
    big = tmp_path / "big.png"
    Image.new("1", (6000, 6000), 1).save(big)  # 36 Mpx, a few kB
    status, body = _post(url, big.read_bytes())
    assert status == 413 and "6000x6000" in body["detail"]
    status, body = _post(url, (tmp_path / "big.png").read_bytes()[:40])
    assert status == 400


def test_only_indexed_photos_are_served(served) -> None:
    url, _, _ = served
    for path in ("../secret.txt", "%2E%2E/secret.txt", "/etc/passwd", "nope.jpg"):
        code, _ = _get(f"{url}/photo?path={path}")
        assert code == 404
    code, page = _get(url + "/")
    assert code == 200 and b"<canvas" in page and b"https://" not in page


def _browser():
    """Headless Debian Chromium through selenium, or a skip (never in CI) saying why."""
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
    except ImportError:
        webdriver = None
    if webdriver is None or not chromium or not driver:
        reason = ("no browser: needs selenium and Debian's chromium + chromium-driver "
                  "(bash scripts/install_browser.sh)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='zsbir-chromium-')}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts)


@contextmanager
def _api_load(url: str, sketch: bytes, clients: int) -> Iterator[list[int]]:
    """``clients`` threads posting ``sketch`` back to back until the block ends; their codes."""
    codes: list[int] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            codes.append(_post(url, sketch)[0])

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    try:
        yield codes
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)


@pytest.mark.parametrize("clients", [0, 4], ids=["alone", "under-api-load"])
def test_page_draws_and_shows_the_api_results(served, clients: int) -> None:
    """Draw, search, see the thumbnails; also while 4 API clients keep the server busy."""
    url, retriever, root = served
    other = sorted((root / "data/raw/synthetic/sketch").rglob("*.png"))[0].read_bytes()
    browser = _browser()
    with _api_load(url, other, clients) as codes:
        _draw_and_check(browser, url, retriever, screenshot=clients == 0)
    assert len(codes) >= clients and set(codes) <= {200}


def _draw_and_check(browser, url: str, retriever: Retriever, screenshot: bool) -> None:
    """Two strokes on the canvas; the page must show the API's top 6 for the drawing."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        browser.get(url + "/")
        canvas = browser.find_element(By.ID, "canvas")
        actions = ActionChains(browser)
        roof = [(-120, -40), (0, -140), (120, -40)]
        walls = [(-90, -40), (-90, 120), (90, 120), (90, -40)]
        for stroke in (roof, walls):
            actions.move_to_element_with_offset(canvas, *stroke[0]).click_and_hold()
            for x, y in stroke[1:]:
                actions.move_to_element_with_offset(canvas, x, y)
            actions.release()
        actions.perform()
        WebDriverWait(browser, 60).until(
            lambda b: canvas.get_attribute("data-searched-strokes") == "2"
            and len(b.find_elements(By.CSS_SELECTOR, "#results .hit img")) == 6
        )
        loaded = ("return [...document.querySelectorAll('#results img')]"
                  ".every(i => i.complete && i.naturalWidth > 0)")
        WebDriverWait(browser, 30).until(lambda b: b.execute_script(loaded))
        hits = browser.find_elements(By.CSS_SELECTOR, "#results .hit")
        shown = [e.get_attribute("data-path") for e in hits]
        png = browser.execute_script("return document.getElementById('canvas').toDataURL()")
        if screenshot:
            (REPO / "reports").mkdir(exist_ok=True)
            browser.save_screenshot(str(REPO / "reports/search_page.png"))
    finally:
        browser.quit()
    import base64

    drawn = base64.b64decode(png.split(",", 1)[1])
    assert shown == [h.path for h in retriever.search(drawn, 6)]
