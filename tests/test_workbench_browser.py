"""Issue 12's scenario in a real Chromium, driven only by clicks and typing, on both stores.

A grid worker reports from the phone with a photo and calls the community (社区呼叫); the
community calls the street; the street whistles two departments; each department reports in
and finishes from its own queue; the community verifies and closes; the callback is rated
不满意 and the case reopens; the street resolves it, the community closes it again and the
callback is rated 满意. The audit trail on the page must equal the API's. Every page is
photographed at desk (1440x900) and phone (390x844) size into build/screenshots/.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from grid.hierarchy import store
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, auth, served

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
DESK = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
STREET = "110105001"


def _jpeg(path: Path, colour: tuple[int, int, int]) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())
    return path


class Person:
    """One user in a browser context of their own, signed in by typing their token."""

    def __init__(self, browser, base: str, token: str, size: dict, **options) -> None:
        self.context = browser.new_context(**size, **options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.add_init_script("""window.__violations = [];
            document.addEventListener('securitypolicyviolation',
                e => window.__violations.push(e.violatedDirective));""")
        self.base = base
        self.page.goto(base + "/work")  # no session: the sign-in page, then back here
        assert "/signin" in self.page.url
        self.page.fill("#token", token)
        with self.page.expect_navigation():
            self.page.click("#sign-in")
        assert self.page.url.endswith("/work"), self.page.url

    def queue(self, box: str | None, incident: int) -> None:
        """From the header, to the queue (one box), search the case, open it."""
        page = self.page
        page.click("a.brand")
        if box:
            page.click(f"#counts li[data-box={box}] a")
        page.fill("#q", str(incident))
        with page.expect_navigation():
            page.click("#apply")
        assert page.locator(".queue-item").count() == 1, page.url
        with page.expect_navigation():
            page.click(f".queue-item[data-id='{incident}'] a.open-incident")
        page.wait_for_selector("#facts")

    def move(self, move: str, reason: str = "", photo: Path | None = None,
             departments: tuple[str, ...] = (), rating: str | None = None) -> None:
        """Click the move's button, fill its form, confirm; the page reloads."""
        page = self.page
        page.click(f"#move-{move}")
        form = page.locator(f"#form-{move}")
        for department in departments:
            form.locator(f"input[name=departments][value='{department}']").check()
        if rating:
            form.locator(f"input[name=rating][value='{rating}']").check()
        if reason:
            form.locator("textarea[name=reason]").fill(reason)
        if photo:
            form.locator("input[name=photo]").set_input_files(str(photo))
        with page.expect_navigation(timeout=15000):
            form.locator("button.confirm").click()
        page.wait_for_selector("#facts")

    def state(self) -> tuple[str, str]:
        facts = self.page.locator("#facts")
        return facts.get_attribute("data-state"), facts.get_attribute("data-level")

    def offered(self) -> list[str]:
        return [b.get_attribute("data-move") for b in self.page.locator("button.move").all()]

    def done(self) -> None:
        assert not self.errors, self.errors
        assert self.page.evaluate("() => window.__violations") == []
        self.context.close()


def _shoot(browser, base: str, token: str, name: str, paths: list[str], backend: str) -> None:
    """Every page of a role at desk and phone size."""
    for label, size in (("desk", DESK), ("phone", PHONE)):
        person = Person(browser, base, token, size)
        for path in paths:
            person.page.goto(base + path, wait_until="networkidle")
            slug = re.sub(r"[^0-9A-Za-z]+", "-", path).strip("-") or "root"
            SHOTS.mkdir(parents=True, exist_ok=True)
            person.page.screenshot(path=str(SHOTS / f"{backend}-{name}-{slug}-{label}.png"),
                                   full_page=True)
        person.done()


def test_whole_ladder_by_clicking(demo, tokens, client, backend, tmp_path):
    settings = demo.settings.model_copy(update={"attachments_dir": tmp_path / "attachments"})
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        spot = store.shape_of(store.get_unit(session, version, tokens["first_grid"])) \
            .representative_point()
    photo = _jpeg(tmp_path / "scene.jpg", (200, 80, 40))
    result = _jpeg(tmp_path / "result.jpg", (40, 160, 60))
    with served(settings) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            # 网格发现: the grid worker reports from the phone, with a photo.
            worker = Person(browser, base, tokens["grid_worker"], PHONE,
                            permissions=["geolocation"],
                            geolocation={"longitude": spot.x, "latitude": spot.y})
            page = worker.page
            page.click(".menu summary")
            with page.expect_navigation():
                page.click(".menu nav a[href='/report']")
            page.wait_for_load_state("networkidle")
            assert page.input_value("#category") == ""  # nothing preselected
            page.click("#locate")
            page.locator("#owner .owner-branch").wait_for(timeout=5000)
            page.click("#send")  # no category yet: refused on the page
            assert page.locator("#status.error").inner_text()
            page.select_option("#category", "Z003")
            page.click("#send")  # nor an empty report
            assert page.locator("#status.error").inner_text()
            page.fill("#note", "楼道堆物，堵塞消防通道")
            page.set_input_files("#photo", str(photo))
            page.click("#send")
            page.wait_for_function("() => document.body.dataset.sent", timeout=15000)
            incident = int(page.locator("body").get_attribute("data-sent"))
            page.locator(f"#mine a[href='/work/incidents/{incident}']").wait_for()
            assert page.locator("#mine .mine-state").first.get_attribute("data-state") == "open"
            # 社区呼叫: the grid cannot solve it.
            worker.queue("act", incident)
            assert worker.state() == ("open", "grid")
            assert worker.offered() == ["escalate", "resolve"]
            assert page.locator("#photos img").count() == 1
            worker.move("escalate", "需要社区协调")
            assert worker.state() == ("open", "community") and worker.offered() == []
            worker.done()

            community = Person(browser, base, tokens["community"], DESK)
            community.queue("act", incident)
            community.move("escalate", "物业拒不清理，呼叫街道")
            assert community.state() == ("open", "street")
            community.done()

            street = Person(browser, base, tokens["street"], DESK)
            street.queue("act", incident)
            street.page.click("#move-whistle")  # no department chosen: refused on the page
            street.page.locator("#form-whistle button.confirm").click()
            assert street.page.locator("#move-error").inner_text()
            street.move("whistle", "街乡吹哨，部门报到", departments=("城管执法", "住建"))
            assert street.state() == ("whistled", "street")
            street.done()

            for department in ("城管执法", "住建"):
                officer = Person(browser, base, tokens[department], DESK)
                officer.queue("report_in", incident)
                assert officer.offered() == ["report_in"]
                officer.move("report_in", "已到场")
                officer.queue("finish", incident)
                assert officer.offered() == ["finish"]
                officer.move("finish", f"{department}已处置", photo=result)
                officer.done()

            community = Person(browser, base, tokens["community"], DESK)
            community.queue("verify", incident)
            assert community.state() == ("resolved", "street")
            community.move("close", "现场核查通过")
            community.queue("callback", incident)
            community.move("rate", "居民反映仍有堆物", rating="不满意")
            assert community.state() == ("open", "street")  # reopened
            community.done()

            street = Person(browser, base, tokens["street"], DESK)
            street.queue("act", incident)
            street.move("resolve", "街道督促物业彻底清理", photo=result)
            street.done()
            community = Person(browser, base, tokens["community"], DESK)
            community.queue("verify", incident)
            community.move("close", "复查通过")
            community.queue("callback", incident)
            community.move("rate", "已清理干净", rating="满意")
            assert community.state() == ("rated", "street")
            assert community.offered() == []
            shown = [(li.get_attribute("data-action"), li.inner_text())
                     for li in community.page.locator("li.audit-step").all()]
            community.done()

            api = client.get(f"/api/v1/incidents/{incident}", headers=auth(tokens["street"]))
            got = api.json()
            assert got["state"] == "rated" and got["rating"] == "满意"
            assert [a for a, _ in shown] == [s["action"] for s in got["steps"]]
            for (_, text), step in zip(shown, got["steps"], strict=True):
                assert step["actor"] in text and (step["reason"] or "") in text
            assert [s["action"] for s in got["steps"]] == [
                "report", "escalate", "escalate", "whistle", "report_in", "finish",
                "report_in", "finish", "close", "rate", "reopen", "resolve", "close", "rate"]

            # Every page at desk and phone size.
            pages = {
                "grid_worker": ["/work", "/report", f"/work/incidents/{incident}"],
                "community": ["/work", "/work?box=verify", f"/work/incidents/{incident}"],
                "street": ["/work", f"/work/incidents/{incident}", f"/maps/streets/{STREET}",
                           f"/maps/incidents/{incident}", "/maps/city"],
                "城管执法": ["/work", f"/work/incidents/{incident}"],
            }
            for role, paths in pages.items():
                _shoot(browser, base, tokens[role], "dept" if role == "城管执法" else role,
                       paths, backend)
            signin = browser.new_context(**PHONE).new_page()
            signin.goto(base + "/signin")
            signin.screenshot(path=str(SHOTS / f"{backend}-signin-phone.png"))
            signin.context.close()
        finally:
            browser.close()


def test_access_log_never_holds_a_token(demo, tokens, client, backend):
    """Browse as users do — sign in by form and by one-time link, open maps, queues and an
    incident, make a move — with uvicorn's access log captured: no token and no session
    cookie value appears in it, and the sign-in link it shows is already spent."""
    import logging

    from grid.sessions import issue_link

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    access = logging.getLogger("uvicorn.access")
    handler, old_level = Keep(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    with demo.db.write() as session:
        code = issue_link(session, "和平街道办")
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        spot = store.shape_of(store.get_unit(session, version, tokens["first_grid"])) \
            .representative_point()
    r = client.post("/api/v1/incidents", headers=auth(tokens["grid_worker"]),
                    json={"lon": spot.x, "lat": spot.y, "category": "Z003"})
    incident = r.json()["id"]
    cookies = []
    try:
        with served(demo.settings, access_log=True) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                worker = Person(browser, base, tokens["grid_worker"], PHONE)
                worker.queue("act", incident)
                worker.move("escalate", "社区呼叫")
                worker.page.goto(base + "/report", wait_until="networkidle")
                cookies += [c["value"] for c in worker.context.cookies()]
                worker.done()
                context = browser.new_context(**DESK)
                page = context.new_page()
                page.goto(f"{base}/signin/link/{code}?next=/maps/streets/{STREET}",
                          wait_until="networkidle")
                assert page.url.endswith(f"/maps/streets/{STREET}")
                for path in ("/work", f"/work/incidents/{incident}", "/maps/city"):
                    page.goto(base + path, wait_until="networkidle")
                cookies += [c["value"] for c in context.cookies()]
                context.close()
                again = browser.new_context().new_page()
                again.goto(f"{base}/signin/link/{code}")
                assert "/signin/link/" in again.url and again.locator("#token").count() == 1
                again.context.close()
            finally:
                browser.close()
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
    log = "\n".join(lines)
    assert f"/work/incidents/{incident}" in log and "/api/v1/incidents/" in log
    secrets = [t for k, t in tokens.items() if k != "first_grid"] + \
        [c for c in cookies if len(c) > 20]
    assert secrets and not [s for s in secrets if s in log]
    assert "token=" not in log


def test_refusal_shown_in_the_page_language(demo, tokens, client, backend):
    """A move the server refuses (a merge into a case that does not exist) is explained on
    the page in the page's one language."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        spot = store.shape_of(store.get_unit(session, version, tokens["first_grid"])) \
            .representative_point()
    r = client.post("/api/v1/incidents", headers=auth(tokens["street"]),
                    json={"lon": spot.x, "lat": spot.y, "category": "Z003"})
    incident = r.json()["id"]
    with served(demo.settings) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for lang in ("en", "zh"):
                person = Person(browser, base, tokens["community"], PHONE)
                person.page.goto(f"{base}/work/incidents/{incident}?lang={lang}")
                person.page.click("#move-merge")
                person.page.fill("#form-merge input[name=into]", "99999999")
                person.page.click("#form-merge button.confirm")
                error = person.page.locator("#move-error")
                error.wait_for(state="visible")
                person.page.wait_for_function(
                    "() => !document.getElementById('move-error').textContent.endsWith('…')")
                text = error.inner_text()
                if lang == "en":
                    assert "not found" in text and not re.search("[\u4e00-\u9fff]", text)
                else:
                    assert "不存在" in text and not re.search("[A-Za-z]", text), text
                person.done()
        finally:
            browser.close()
