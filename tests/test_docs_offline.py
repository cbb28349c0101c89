"""The API docs pages (/docs, /redoc) open with no internet: every script and stylesheet comes
from the package, and the operations are listed. Driven in Debian's headless Chromium."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import served

pytestmark = pytest.mark.browser
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def base(demo):
    with served(demo.settings) as url:
        yield url


def _open(base: str, path: str, ready: str) -> tuple[list[str], list[str], str]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page()
        requests: list[str] = []
        failed: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(base + path)
        page.wait_for_selector(ready, timeout=30000)
        text = page.inner_text("body")
        browser.close()
    return requests, failed, text


def _off_machine(requests: list[str], base: str) -> list[str]:
    host = urlparse(base).netloc
    return [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
            and urlparse(u).netloc != host]


def test_swagger_ui_offline(base, client):
    requests, failed, text = _open(base, "/docs", ".opblock")
    assert not _off_machine(requests, base), _off_machine(requests, base)
    assert not failed, failed
    assert any("/static/vendor/swagger-ui" in u for u in requests)
    # Every operation of the OpenAPI document is listed on the page.
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/locate" in text and "/api/v1/incidents" in text
    listed = sum(1 for path in paths if path in text)
    assert listed == len(paths), (listed, len(paths))


def test_redoc_offline(base):
    requests, failed, text = _open(base, "/redoc", "[data-section-id]")
    assert not _off_machine(requests, base), _off_machine(requests, base)
    assert not failed, failed
    assert any("/static/vendor/redoc" in u for u in requests)
    assert "locate" in text.lower()
