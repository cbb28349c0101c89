"""The hotline queue page in a real headless Chromium, at desk (1440x900) and phone (390x844):
an operator enters an address, places a queued one on a building code keeping the wording as an
alias, sees the next identical address placed, revokes the alias, and picks a candidate — all
through the page, with no request leaving the machine."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import auth, served, sign_in

pytestmark = pytest.mark.browser
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
SIZES = {"desk": {"viewport": {"width": 1440, "height": 900}},
         "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                   "has_touch": True}}


@pytest.fixture(scope="module")
def server(demo):
    with served(demo.settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        yield chromium
        chromium.close()


def _submit(page, address: str) -> str:
    page.evaluate("delete document.body.dataset.lastStatus")
    page.fill("#address", address)
    page.click("#submit")
    # A selector, not wait_for_function: the page's CSP refuses the eval that one needs.
    page.wait_for_selector("body[data-last-status]", state="attached", timeout=10000)
    return page.evaluate("document.body.dataset.lastStatus")


@pytest.mark.parametrize("size", ["desk", "phone"])
def test_operator_works_the_queue_in_the_page(server, browser, tokens, size, client):
    context = browser.new_context(**SIZES[size])
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(sign_in(page, server, tokens["street"], "/hotline"), wait_until="networkidle")
    assert page.locator("main h1").inner_text() == "12345 地址待办"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES[size]["viewport"]["width"]              # nothing runs off the side

    building = tokens["first_grid"] + "002"
    wording = f"原毛纺{size}厂宿舍5号楼"                            # an old name, per size
    assert _submit(page, wording + "2单元") == "queued"
    card = page.locator("#queue li", has_text=wording)
    card.locator("input.code").fill(building)
    card.locator("input.keep-alias").check()
    card.locator("button.use-code").click()
    page.locator("#aliases li", has_text=wording).wait_for(timeout=10000)
    # The page reloads the queue and the aliases with two requests at once (hotline.js
    # refresh): the alias may be drawn before the queue is; wait for the card to go.
    expect(page.locator("#queue li", has_text=wording)).to_have_count(0, timeout=10000)
    assert _submit(page, wording + "3单元301") == "placed"
    assert building in page.locator("#status").inner_text()

    page.locator("#aliases li", has_text=wording).locator("button.revoke").click()
    page.locator("#aliases li", has_text=wording).wait_for(state="detached", timeout=10000)
    assert _submit(page, wording) == "queued"

    assert _submit(page, "和平院8号楼") == "queued"               # near readings: both offered
    near = page.locator("#queue li", has_text="和平院8号楼").first
    near.locator("button.choose").nth(1).wait_for(timeout=10000)
    chosen = near.locator("button.choose").first.get_attribute("data-code")
    near.locator("button.choose").first.click()
    page.locator("#status", has_text="已处理").wait_for(timeout=10000)
    resolved = client.get("/api/v1/hotline/queue", params={"status": "resolved"},
                          headers=auth(tokens["street"])).json()
    assert chosen in [r["building_code"] for r in resolved]

    assert not errors, errors
    host = urlparse(server).netloc
    assert all(urlparse(u).netloc == host for u in requests if u.startswith("http")), requests
    context.close()


def test_page_refused_to_roles_outside_the_queue(client, tokens):
    assert client.get("/hotline", headers=auth(tokens["grid_worker"])).status_code == 403
    r = client.get("/hotline", follow_redirects=False)  # no session: to the sign-in page
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
