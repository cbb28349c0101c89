"""The people pages in a real headless Chromium (Debian's, through Playwright), on both stores:
a volunteer registers on the phone and the community confirms at the desk; a grid worker
places an order that is offered to the nearest matching volunteers, one takes it and reports it
done with a photo, the grid worker rates it; a deliberation is walked through all five
Haidian steps at the desk to a decision and evaluation, its public notice shown to a reader who
is not signed in; a grid worker's 民情日志 entry becomes an incident, and a round recorded offline
is sent when the network returns. No request leaves the machine. Screenshots go to
artifacts/screenshots/people-*.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect, sync_playwright

from grid.people.config import load_people
from grid.people.models import Round
from grid.settings import PACKAGE_DATA
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, served, sign_in
from tests.helpers import people as helpers
from tests.helpers.people import auth

pytestmark = pytest.mark.browser
town = helpers.town  # fixtures: a fresh sample street per module and backend
api = helpers.api
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
DESK = {"viewport": {"width": 1440, "height": 900}}
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture(scope="module")
def server(town):
    with served(town.svc.settings) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


FLAGS = CHROMIUM_FLAGS


class Opened:
    """A signed-in page in its own context, watching requests and script errors."""

    def __init__(self, browser, base, token, path, **options):
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        url = sign_in(self.page, base, token, path) if token else base + path
        self.page.goto(url, wait_until="networkidle")
        self.base = base

    def close(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"people-{name}.png"), full_page=True)
        host = urlparse(self.base).netloc
        outside = [u for u in self.requests if urlparse(u).scheme in ("http", "https")
                   and urlparse(u).netloc != host]
        assert not outside, outside
        assert not self.errors, self.errors
        self.context.close()


def _local(dt: datetime) -> str:
    return dt.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M")


def test_member_registers_order_offered_taken_done_rated(town, api, server, browser, backend):
    # Two confirmed volunteers registered through the API, farther from the order's building.
    others = []
    for i, building in enumerate(town.buildings[3:5]):
        token = town.user("volunteer", town.community, name=f"b-vol-{i}-{backend}")
        r = api.post("/api/v1/members", headers=auth(token), json={
            "name": f"远邻{i}", "workplace_org": "区教委党委", "building_code": building,
            "skills": ["elderly"]})
        api.post(f"/api/v1/members/{r.json()['id']}/confirm",
                 headers=auth(town.tokens["community"]))
        others.append(token)
    # 1. The volunteer registers on the phone.
    volunteer = town.user("volunteer", town.community, name=f"b-vol-me-{backend}")
    phone = Opened(browser, server, volunteer, "/people/volunteer", **PHONE)
    page = phone.page
    expect(page.locator("#member-state")).to_have_attribute("data-state", "none")
    page.fill("input[name=name]", "李党员")
    page.fill("input[name=workplace_org]", "区卫健委党委")
    page.select_option("#home-building", town.buildings[1])
    page.fill("input[name=phone]", "13700001111")
    page.check("input[name=skills][value=elderly]")
    page.check("input[name=availability][value='6']")
    page.check("input[name=availability][value='7']")
    page.click("#register-send")
    expect(page.locator("#member-state")).to_have_attribute("data-state", "pending")
    phone.close("volunteer-registered")
    member = api.get("/api/v1/members/me", headers=auth(volunteer)).json()
    assert member["skills"] == ["elderly"] and member["availability"] == [6, 7]
    # 2. The community confirms at the desk.
    desk = Opened(browser, server, town.tokens["community"], "/people/members", **DESK)
    desk.page.click(f"#confirm-{member['id']}")
    expect(desk.page.locator(f"#member-{member['id']}")).to_have_attribute("data-state",
                                                                          "confirmed")
    desk.close("community-confirms")
    # 3. The grid worker places an order on the phone for a Saturday (the volunteer's day).
    saturday = datetime.now(UTC) + timedelta(days=(5 - datetime.now(UTC).weekday()) % 7 or 7)
    worker = Opened(browser, server, town.tokens["grid_worker"], "/people/orders", **PHONE)
    page = worker.page
    page.fill("input[name=title]", "帮独居老人取药")
    page.select_option("#order-building", town.buildings[0])
    page.fill("#needed-at", _local(saturday.replace(hour=2, minute=0)))
    page.check("input[name=skills][value=elderly]")
    page.fill("input[name=requester_name]", "赵奶奶")
    page.click("#place-send")
    card = page.locator("article.order").first
    expect(card).to_have_attribute("data-state", "open")
    order_id = int(card.get_attribute("id").split("-")[1])
    offered = api.get(f"/api/v1/orders/{order_id}", headers=auth(town.tokens["community"])
                      ).json()["offers"]
    assert offered[0]["member_name"] == "李党员"  # the nearest of the three
    assert [o["distance_m"] for o in offered] == sorted(o["distance_m"] for o in offered)
    assert len(offered) == 3
    expect(card.locator(".offer").first).to_contain_text("李党员")
    worker.close("order-placed")
    # 4. The volunteer takes it and reports it done with a photo.
    phone = Opened(browser, server, volunteer, "/people/volunteer", **PHONE)
    page = phone.page
    page.click(f"#take-{order_id}")
    expect(page.locator(f"#order-{order_id}")).to_have_attribute("data-state", "taken")
    page.click(f"#open-finish-{order_id}")
    page.fill(f"#form-finish-{order_id} textarea[name=note]", "已取药送到家")
    page.fill(f"#form-finish-{order_id} input[name=hours]", "1.5")
    page.set_input_files(f"#form-finish-{order_id} input[type=file]",
                         files=[{"name": "done.png", "mimeType": "image/png", "buffer": PNG}])
    page.click(f"#submit-finish-{order_id}")
    expect(page.locator(f"#order-{order_id}")).to_have_attribute("data-state", "done")
    phone.close("volunteer-done")
    # 5. The grid worker records the rating (回单).
    worker = Opened(browser, server, town.tokens["grid_worker"], "/people/orders", **PHONE)
    page = worker.page
    page.click(f"#open-rate-{order_id}")
    page.select_option(f"#form-rate-{order_id} select[name=rating]", "满意")
    page.click(f"#submit-rate-{order_id}")
    expect(page.locator(f"#order-{order_id}")).to_have_attribute("data-state", "rated")
    worker.close("order-rated")
    done = api.get(f"/api/v1/orders/{order_id}", headers=auth(town.tokens["community"])).json()
    assert [s["move"] for s in done["steps"]] == ["place", "take", "finish", "rate"]
    assert done["taker"] == "李党员" and done["hours"] == 1.5 and done["rating"] == "满意"
    assert done["steps"][2]["attachments"]  # the photo went with the report
    # The workplace organisation's page shows hours, and no order or resident.
    org = Opened(browser, server, town.tokens["party_org"], "/people/members", **DESK)
    row = org.page.locator(f"#service tr[data-member='{member['id']}']")
    expect(row.locator(".hours")).to_have_text("1.5")
    assert org.page.locator("#registrations").count() == 0
    assert "赵奶奶" not in org.page.content()
    org.close("party-org-service")


def _walk_step(page, town, action: str) -> None:
    """Do one action of the current step through its form."""
    page.click(f"#open-{action}")
    form = page.locator(f"#form-{action}")
    if action == "describe":
        form.locator("textarea[name=description]").fill("小区北侧空地闲置多年")
    elif action == "invite":
        form.locator("input[name='participants.0.name']").fill("居民代表王五")
    elif action == "meeting":
        form.locator("input[name=held_at]").fill(_local(datetime.now(UTC)))
        form.locator("input[name=place]").fill("社区议事厅")
        form.locator("textarea[name=minutes]").fill("王五：建议建口袋公园。")
        form.locator("input[name=attendees]").fill("21")
    elif action == "option":
        form.locator("input[name=text]").fill("改建口袋公园")
    elif action == "decide":
        form.locator("input[name='votes.0.votes_for']").fill("18")
        form.locator("input[name='votes.0.votes_against']").fill("3")
        form.locator("textarea[name=decision]").fill("空地改建口袋公园")
    elif action == "task":
        form.locator("input[name=title]").fill("清运建筑垃圾")
        form.locator("select[name=category]").select_option("Z003")
    elif action == "evaluate":
        form.locator("input[name='counts.满意']").fill("30")
        form.locator("input[name='counts.不满意']").fill("1")
    page.click(f"#submit-{action}")
    page.wait_for_load_state("networkidle")


def test_deliberation_walked_through_five_steps_and_published(town, server, browser, api):
    steps = load_people(PACKAGE_DATA / "people.yaml").procedure("haidian").steps
    desk = Opened(browser, server, town.tokens["community"], "/people/topics", **DESK)
    page = desk.page
    page.fill("#raise input[name=title]", "北侧空地怎么用")
    page.select_option("#procedure", "haidian")
    page.select_option("#topic-building", town.buildings[2])
    page.click("#raise-send")
    page.wait_for_url("**/people/topics/*")
    topic_id = int(page.url.rsplit("/", 1)[1])
    for index, step in enumerate(steps):
        expect(page.locator("#steps li.current")).to_have_attribute("data-step", step.code)
        actions = list(step.requires or step.does[:1])
        if "decide" in actions:
            actions.insert(actions.index("decide"), "option")
        for action in actions:
            before = len(page.locator("#log li").all())
            _walk_step(page, town, action)
            expect(page.locator("#log li")).to_have_count(before + 1)
        page.click("#open-advance")
        page.click("#submit-advance")
        page.wait_for_load_state("networkidle")
        if index + 1 < len(steps):
            expect(page.locator("#steps li.current")).to_have_attribute(
                "data-step", steps[index + 1].code)
    expect(page.locator("#topic-state")).to_have_attribute("data-state", "closed")
    expect(page.locator("#decision")).to_have_text("空地改建口袋公园")
    expect(page.locator("#evaluation")).to_contain_text("30")
    desk.close("deliberation-closed")
    topic = api.get(f"/api/v1/topics/{topic_id}", headers=auth(town.tokens["community"])).json()
    assert topic["state"] == "closed" and topic["tasks"][0]["incident_id"]
    assert [o["votes_for"] for o in topic["options"] if o["chosen"]] == [18]
    # The public notice, read by someone not signed in: the decision, no personal data.
    reader = Opened(browser, server, None, f"/public/topics/{topic_id}", **PHONE)
    text = reader.page.content()
    expect(reader.page.locator("#decision")).to_have_text("空地改建口袋公园")
    expect(reader.page.locator("#steps li.done")).to_have_count(len(steps))
    assert "王五" not in text and "议事厅" not in text  # participants and minutes stay out
    reader.close("public-notice")


def test_visit_becomes_incident_and_offline_round_is_sent(town, server, browser, api):
    lon, lat = town.points[town.buildings[0]]
    worker = Opened(browser, server, town.tokens["grid_worker"], "/people/rounds",
                    geolocation={"longitude": lon, "latitude": lat},
                    permissions=["geolocation"], **PHONE)
    page = worker.page
    page.select_option("#visit-building", town.buildings[4])
    page.fill("#visit input[name=household]", "3-201")
    page.fill("#visit-heard", "楼道灯坏了两周，老人夜里摔倒过")
    page.fill("#visit input[name=follow_up]", "报物业")
    page.click("#visit-send")
    entry = page.locator("article.entry").first
    expect(entry).to_contain_text("楼道灯坏了两周")
    entry_id = int(entry.get_attribute("id").split("-")[1])
    page.click(f"#to-incident-{entry_id}")
    link = page.locator(f"#entry-{entry_id} .incident-link")
    expect(link).to_be_visible()
    incident_id = int(link.inner_text().rsplit("#", 1)[1])
    case = api.get(f"/api/v1/incidents/{incident_id}",
                   headers=auth(town.tokens["grid_worker"])).json()
    assert case["building_code"] == town.buildings[4] and "楼道灯" in case["description"]
    # The community turns that incident into an order at the desk (事件转订单).
    desk = Opened(browser, server, town.tokens["community"], "/people/orders", **DESK)
    form = desk.page.locator("#from-incident")
    form.locator("#from-incident-id").fill(str(incident_id))
    form.locator("input[name=title]").fill("志愿者陪护摔倒老人")
    form.locator("input[name=needed_at]").fill(_local(datetime.now(UTC) + timedelta(hours=4)))
    form.locator("input[name=skills][value=elderly]").check()
    desk.page.click("#from-incident-send")
    # The page reloads once the order is stored; its card then shows the incident it came from.
    card = desk.page.locator("article.order", has_text="志愿者陪护摔倒老人")
    expect(card).to_contain_text(f"#{incident_id}", timeout=20000)
    linked = api.get(f"/api/v1/orders?incident={incident_id}",
                     headers=auth(town.tokens["community"])).json()
    assert [o["link"] for o in linked] == ["from_incident"]
    expect(desk.page.locator(f"#order-{linked[0]['id']}")).to_contain_text("志愿者陪护摔倒老人")
    desk.close("order-from-incident")
    # A round: positions recorded, the network drops before the batch goes, it is kept and
    # sent when the network returns.
    page.click("#round-start")
    expect(page.locator("#round-id")).to_contain_text("#")
    round_id = int(page.locator("#round-id").inner_text().lstrip("#"))
    page.wait_for_timeout(500)
    worker.context.set_geolocation({"longitude": lon + 1e-4, "latitude": lat})
    page.wait_for_timeout(500)
    worker.context.set_offline(True)
    page.click("#round-stop")
    expect(page.locator("#round-waiting")).to_have_text("1")
    worker.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#round-waiting")).to_have_text("0")
    with town.svc.db.read() as session:
        walk = session.get(Round, round_id)
        assert walk.points >= 1 and [b.seq for b in walk.batches] == [0]
        assert walk.batches[0].points[0][0] == pytest.approx(lon, abs=2e-4)
    worker.close("rounds")
