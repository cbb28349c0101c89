"""A world for the scope tests: the sample street loaded twice (two versions, so a rollback
has somewhere to go), users of every role scoped to community A, and in community B (and in
A, for departments not summoned) cases, residents, hotline addresses, an attachment and a
boundary upload, each carrying a marker string that must never reach a caller outside."""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from sqlalchemy import func, select

from grid.api import gis as gis_api
from grid.demo import load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import BoundaryVersion
from grid.hotline.models import AddressStatus, HotlineAddress
from grid.incidents import attachments
from grid.incidents.models import Attachment, Incident
from grid.residents.models import Resident
from grid.residents.pii import generate_key
from grid.residents.register import import_rows, parse_register
from grid.residents.sample import HEADINGS, sample_rows
from grid.users import add_user

DATA = Path(__file__).resolve().parents[2] / "data" / "boundaries"
#: The roles, in the order the matrix runs them (admin last: its writes are real).
ROLES = ("grid_worker", "community", "street", "department", "gis", "admin")
DEPARTMENT = "城管执法"
OTHER_DEPARTMENT = "住建"
#: Typed into every case's description: the public Open311 read must never show it.
TYPED_PHONE = "13812345678"
JPEG = b"\xff\xd8\xff\xe0" + b"scope-test-photo" * 8


@dataclass
class World:
    """What the tests need to know about the seeded world."""

    street: str
    a: str                       # community A (every scoped user's scope)
    b: str                       # community B
    a_grid: str
    b_grid: str
    a_building: str
    b_building: str
    a_point: tuple[float, float]
    b_point: tuple[float, float]
    category: str
    near_a: tuple[float, float] = (0.0, 0.0)  # a few metres from B's line, inside A
    tokens: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    upload_id: str | None = None
    version: int = 0
    b_resident_id_number: str = ""
    contacts: dict[str, str] = field(default_factory=dict)   # unit code → secretary contact
    #: Strings nobody scoped to A may receive from a scoped route.
    b_markers: tuple[str, ...] = ("SECRET-B-CASE", "SECRET-B-STEP", "SECRET-B-NEAR",
                                  "SECRET-B-ADDR", "SECRET-B-QUEUE", "秘乙")
    #: Strings a department summoned only in A may not receive either.
    unsummoned_markers: tuple[str, ...] = ("SECRET-A-ZHUJIAN",)
    #: Personal data the public reads must never carry.
    public_markers: tuple[str, ...] = (TYPED_PHONE, "REPORTER-A", "REPORTER-B", "秘乙", "秘甲")


def _inside(polygon) -> tuple[float, float]:
    p = polygon.representative_point()
    return p.x, p.y


def _near_pair(a_poly, b_poly) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two points a few metres apart across the line between A and B."""
    edge = a_poly.boundary.intersection(b_poly.boundary)
    mid = edge.interpolate(0.5, normalized=True)
    step = 0.00003  # ~3 m
    for dx, dy in ((step, 0), (0, step), (step, step), (step, -step)):
        p, q = shapely.Point(mid.x + dx, mid.y + dy), shapely.Point(mid.x - dx, mid.y - dy)
        if a_poly.contains(p) and b_poly.contains(q):
            return (p.x, p.y), (q.x, q.y)
        if a_poly.contains(q) and b_poly.contains(p):
            return (q.x, q.y), (p.x, p.y)
    raise AssertionError("communities A and B share no edge in the sample")


def _register(buildings: list[dict], seed: int, prefix: str) -> list[list[str]]:
    rows = sample_rows(buildings, 4, seed=seed)
    for k, row in enumerate(rows):
        row[0] = f"{prefix}{'一二三四'[k]}"
    return rows


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADINGS)
    writer.writerows(rows)
    return out.getvalue().encode()


def build(svc, client_factory) -> World:  # noqa: PLR0915 - one seeding script, read top-down
    """Seed ``svc`` (a migrated, empty database with ``pii_key`` set) and return the World."""
    load_sample(svc, DATA, say=lambda _l: None)
    version = load_sample(svc, DATA, say=lambda _l: None)
    with svc.db.write() as session:
        communities = store.units(session, version, Level.community)
        a, b = communities[0], communities[1]
        a_grid = store.units(session, version, Level.grid, parent_code=a.code)[0]
        b_grid = store.units(session, version, Level.grid, parent_code=b.code)[0]
        a_building = store.units(session, version, Level.building, parent_code=a_grid.code)[0]
        b_building = store.units(session, version, Level.building, parent_code=b_grid.code)[0]
        category = next(c for c in svc.ladder.categories.categories
                        if c.start_level == "grid" and DEPARTMENT in c.departments)
        world = World(
            street=a.parent_code, a=a.code, b=b.code, a_grid=a_grid.code, b_grid=b_grid.code,
            a_building=a_building.code, b_building=b_building.code,
            a_point=_inside(store.shape_of(a_grid)), b_point=_inside(store.shape_of(b_grid)),
            category=category.code, version=version)
        near_a, near_b = _near_pair(store.shape_of(a), store.shape_of(b))
        world.near_a = near_a
        users = {role: add_user(session, f"scope-{role}", role, "" if role == "admin" else a.code,
                                DEPARTMENT if role == "department" else None)
                 for role in ROLES}
        users["b_worker"] = add_user(session, "scope-b-worker", "grid_worker", b.code)
        world.tokens = {role: token for role, (_, token) in users.items()}
        world.names = {role: user.name for role, (user, _) in users.items()}
        admin, b_worker = users["admin"][0], users["b_worker"][0]

        def file(actor, point, text, reporter):
            return svc.ladder.file(session, actor, lon=point[0], lat=point[1],
                                   category=category.code, description=f"{text} 联系{TYPED_PHONE}",
                                   reporter=reporter, source="patrol", contact=TYPED_PHONE).id

        def whistled(actor, point, text, department, reporter):
            case = file(actor, point, text, reporter)
            svc.ladder.escalate(session, admin, case, "上报 up")
            svc.ladder.escalate(session, admin, case, "上报 up")
            svc.ladder.whistle(session, admin, case, [department], f"{text}-STEP")
            return case

        world.ids["b_case"] = whistled(b_worker, world.b_point, "SECRET-B", DEPARTMENT,
                                       "REPORTER-B")
        world.ids["a_dept"] = whistled(admin, world.a_point, "A-DEPT", DEPARTMENT, "REPORTER-A")
        world.ids["a_zhujian"] = whistled(admin, world.a_point, "SECRET-A-ZHUJIAN",
                                          OTHER_DEPARTMENT, "REPORTER-A")
        world.ids["b_near"] = file(b_worker, near_b, "SECRET-B-NEAR", "REPORTER-B")
        world.ids["a_near"] = file(admin, near_a, "A-NEAR", "REPORTER-A")
        storage = attachments.DiskStorage(svc.settings.attachments_dir)
        world.ids["b_attachment"] = attachments.store(
            session, storage, filename="b.jpg", data=JPEG, uploaded_by=b_worker.name,
            max_bytes=10**6).id
        for key, status, code, text, candidates in (
                ("b_placed", AddressStatus.placed, b_building.code, "SECRET-B-ADDR", []),
                ("b_queued", AddressStatus.queued, None, "SECRET-B-QUEUE", [b_building.code]),
                ("a_queued", AddressStatus.queued, None, "A-QUEUE", [a_building.code])):
            row = HotlineAddress(address=text, ref="", building_code=code, score=0.5,
                                 status=status, boundary_version=version, candidates=[
                                     {"code": c, "name": "楼", "score": 0.5, "reason": "x"}
                                     for c in candidates])
            session.add(row)
            session.flush()
            world.ids[key] = row.id
        buildings = {u.code: {"code": u.code, "name": u.name, **(u.attrs or {})}
                     for u in (a_building, b_building)}
    rows = (_register([buildings[world.a_building]], 31, "秘甲")
            + _register([buildings[world.b_building]], 32, "秘乙"))
    world.b_resident_id_number = rows[-1][1]
    report = import_rows(svc.db, parse_register(_csv(rows), "r.csv"), svc.settings.pii_key,
                         commit=True)
    assert report.committed, report.problems
    with open(DATA / "party_orgs.csv", encoding="utf-8") as handle:
        world.contacts = {r["unit_code"]: r["contact"] for r in csv.DictReader(handle)
                          if r["contact"]}
    # A boundary upload checked by the admin and left for a commit.
    with client_factory() as client:
        answer = client.post("/api/v1/gis/uploads", headers=auth(world.tokens["admin"]),
                             data={"level": "community"},
                             files={"file": ("c.geojson", (DATA / "community.geojson")
                                             .read_bytes(), "application/geo+json")})
        assert answer.status_code == 200, answer.text
        world.upload_id = answer.json()["upload_id"]
        assert world.upload_id, answer.json()
    return world


def auth(token: str) -> dict[str, str]:
    """Headers for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def register_csv(building: str, id_number: str) -> bytes:
    """A one-row register for ``building`` with ``id_number``."""
    rng = random.Random(5)
    row = sample_rows([{"code": building, "name": "楼", "units": 1, "floors": 6}], 1,
                      seed=rng.randint(0, 999))[0]
    row[1] = id_number
    return _csv([row])


def fingerprint(svc, world: World, role: str) -> str:
    """What an A-scoped ``role`` must never change: B's cases, attachment, addresses and
    residents, (for a department) A's case it was not summoned to, the boundary versions and
    the admin's upload."""
    cases = [world.ids["b_case"], world.ids["b_near"]]
    if role == "department":
        cases.append(world.ids["a_zhujian"])
    with svc.db.read() as session:
        state = {
            "cases": [(i.id, i.state, i.level, str(i.updated_at), len(i.steps), i.merged_into,
                       len(i.reporters)) for i in session.scalars(
                           select(Incident).where(Incident.id.in_(cases)).order_by(Incident.id))],
            "attachment": session.get(Attachment, world.ids["b_attachment"]).incident_id,
            "addresses": [(h.id, h.status, h.building_code, h.resolved_by)
                          for h in session.scalars(select(HotlineAddress).where(
                              HotlineAddress.id.in_([world.ids["b_placed"],
                                                     world.ids["b_queued"]])))],
            "residents": session.scalar(select(func.count()).select_from(Resident).where(
                Resident.building_code.startswith(world.b))),
            "versions": [(v.id, v.is_active, str(v.activated_at)) for v in session.scalars(
                select(BoundaryVersion).order_by(BoundaryVersion.id))],
            "upload": (gis_api.UPLOAD_ROOT / (world.upload_id or "-")).exists(),
        }
    return json.dumps(state, sort_keys=True, default=str)


def new_key() -> str:
    """A PII key for the world's settings."""
    return generate_key()
