"""What the fast paths of the workflow must keep true: the token cache forgets within its
bound, a write session holds no connection until it is used, and the incident columns the
three rates read always say what the steps say — kept by every move, and filled by the
migration for cases recorded before it."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg._queries as psycopg_queries
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

from grid.api.app import create_app
from grid.api.schemas import IncidentDetail, OwnerChainPublic
from grid.hierarchy import store
from grid.hierarchy.chain import owner_chain
from grid.hierarchy.levels import Level
from grid.incidents import duplicates
from grid.incidents.inserts import (
    INCIDENTS,
    REPORTERS,
    STEPS,
    _statements,
    insert_columns,
    insert_report,
)
from grid.incidents.models import Incident, IncidentReporter, IncidentStep, Notification
from grid.incidents.notify import messages, outbox_rows
from grid.migrate import upgrade
from grid.services import Services
from grid.users import TokenCache, User, add_user
from tests.conftest import auth


def test_token_cache_keeps_a_user_for_its_ttl_only():
    cache = TokenCache(ttl=0.05)
    user = User(name="a", role="admin", scope_code="", token_hash="x")
    cache.put("token", user)
    assert cache.get("token") is user and cache.get("other") is None
    time.sleep(0.06)
    assert cache.get("token") is None
    off = TokenCache(ttl=0)
    off.put("token", user)
    assert off.get("token") is None


def test_token_cache_drops_oldest_entries_when_full():
    cache = TokenCache(ttl=60, max_size=10)
    for i in range(25):
        cache.put(f"t{i}", User(name=f"u{i}", role="admin", scope_code="", token_hash=str(i)))
    assert cache.get("t24") is not None and cache.get("t0") is None
    assert len(cache._users) <= 10


@pytest.mark.parametrize("ttl", [0.0, 0.3])
def test_deactivated_user_is_refused_within_the_cache_bound(demo, ttl):
    with demo.db.write() as session:
        _, token = add_user(session, f"cache-{ttl}", "admin", "")
    settings = demo.settings.model_copy(update={"token_cache_seconds": ttl})
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/versions", headers=auth(token)).status_code == 200
        with demo.db.write() as session:
            session.execute(update(User).where(User.name == f"cache-{ttl}").values(active=False))
        time.sleep(ttl + 0.05)
        refused = client.get("/api/v1/versions", headers=auth(token))
        assert refused.status_code == 401, refused.text


def test_write_session_takes_no_connection_until_its_first_statement(demo):
    pool = demo.db.engine.pool
    before = pool.checkedout()
    with demo.db.write() as session:
        assert pool.checkedout() == before
        session.execute(select(Incident.id).limit(1)).all()
        assert pool.checkedout() == before + 1
    assert pool.checkedout() == before


def _from_steps(session) -> dict[int, tuple[bool, int, int]]:
    """(late, callbacks, satisfied) of every incident, worked out from its steps."""
    out = {}
    for incident_id, steps in _steps_by_incident(session).items():
        late = any((s.action == "escalate" and s.actor_role == "system")
                   or (s.action == "report_in" and s.reason.startswith("逾期报到"))
                   for s in steps)
        rates = [s for s in steps if s.action == "rate"]
        satisfied = [s for s in rates if not s.reason.startswith("不满意")]
        out[incident_id] = (late, len(rates), len(satisfied))
    return out


def _steps_by_incident(session) -> dict[int, list]:
    found: dict[int, list] = {}
    for step in session.scalars(select(IncidentStep)):
        found.setdefault(step.incident_id, []).append(step)
    return found


@dataclass(frozen=True)
class Admin:
    name: str = "admin-test"
    role: str = "admin"
    department: str | None = None

    def covers(self, code: str | None) -> bool:
        return True


def at(day: int, hour: int) -> datetime:
    # 2023: a year no other test files cases in, so the sweep below touches only these.
    return datetime(2023, 5, day, hour, tzinfo=UTC)


def test_every_move_keeps_the_rate_columns_equal_to_the_steps(demo):
    """Cases played through the sweep's escalation, a late report-in, a 不满意 callback that
    reopens and a satisfied one; then every case of the database (with those of the other
    workflow tests, when they ran first) is checked against its steps."""
    ladder, admin = demo.ladder, Admin()
    with demo.db.read() as session:
        grid = store.units(session, store.require_active_version(session).id, Level.grid)[0]
        point = store.shape_of(grid).representative_point()
    with demo.db.write() as s:
        a = ladder.report(s, admin, lon=point.x, lat=point.y, category="Z001", now=at(2, 9)).id
        b = ladder.report(s, admin, lon=point.x, lat=point.y, category="Z001", now=at(2, 9)).id
    assert a in ladder.escalate_due(demo.db, now=at(2, 20))
    with demo.db.write() as s:
        for note in ("不满意 太慢", "满意"):
            ladder.resolve(s, admin, a, "done", now=at(3, 9))
            ladder.close(s, admin, a, now=at(3, 10))
            ladder.rate(s, admin, a, note.split()[0], now=at(3, 11))
        ladder.escalate(s, admin, b, "needs the street", now=at(3, 9))
        ladder.whistle(s, admin, b, ["城管执法"], "summon", now=at(3, 10))
        ladder.report_in(s, admin, b, "城管执法", now=at(3, 12))  # 30 minutes allowed
    with demo.db.read() as session:
        assert _from_steps(session)[a] == (True, 2, 1)
        assert _from_steps(session)[b] == (True, 0, 0)
        expected = _from_steps(session)
        kept = {i.id: (i.late, i.callbacks, i.satisfied_callbacks)
                for i in session.scalars(select(Incident))}
    assert set(kept) == set(expected)
    assert kept == expected


def test_migration_fills_the_rate_columns_from_recorded_steps(databases, backend):
    svc = Services(databases.new(backend))
    try:
        upgrade(svc.db, "0006")  # the schema before the columns existed
        with svc.db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO boundary_version (id, label, note, created_at, is_active) "
                "VALUES (1, 'v', '', '2025-01-01 00:00:00', false)"))
            for i in (1, 2, 3):
                conn.execute(text(
                    "INSERT INTO incident (id, category, description, reporter, source, geom, "
                    "boundary_version, state, level, created_by, created_at, updated_at, "
                    "row_version, reopen_count) VALUES (:i, 'Z001', '', 'r', 'patrol', "
                    "ST_GeomFromText('POINT(116.4 39.9)', 4490), 1, 'open', 'grid', 'r', "
                    "'2025-01-01 00:00:00', '2025-01-01 00:00:00', 1, 0)"), {"i": i})
            steps = [(1, "escalate", "system", ""), (1, "rate", "community", "满意"),
                     (1, "rate", "community", "不满意 太慢"), (2, "report_in", "department",
                                                          "逾期报到 late report-in."),
                     (2, "escalate", "street", "by hand"), (3, "report_in", "department", "")]
            for incident_id, action, role, reason in steps:
                conn.execute(text(
                    "INSERT INTO incident_step (incident_id, at, action, actor, actor_role, "
                    "to_state, to_level, reason) VALUES (:i, '2025-01-02 00:00:00', :a, 'x', "
                    ":r, 'open', 'grid', :reason)"),
                    {"i": incident_id, "a": action, "r": role, "reason": reason})
        upgrade(svc.db)
        with svc.db.read() as session:
            rows = session.execute(text(
                "SELECT id, late, callbacks, satisfied_callbacks FROM incident ORDER BY id"))
            found = {r[0]: (bool(r[1]), r[2], r[3]) for r in rows}
            assert found == {1: (True, 2, 1), 2: (True, 0, 0), 3: (False, 0, 0)}
            assert found == _from_steps(session)
    finally:
        svc.close()


def test_a_report_queues_the_same_outbox_rows_as_any_other_step(demo):
    """The report's rows are written by one chained INSERT on PostGIS: they must read exactly
    as ``queue_for_step`` would have written them."""
    with demo.db.read() as session:
        grid = store.units(session, store.require_active_version(session).id, Level.grid)[0]
        point = store.shape_of(grid).representative_point()
    found = {}
    for category in ("Z001", "Z002"):  # grid start: one recipient; community start
        with demo.db.write() as s:
            incident = demo.ladder.file(s, Admin(), lon=point.x, lat=point.y,
                                        category=category, description="trailing  ",
                                        now=at(9, 9))
            step = incident.steps[0]
            expected = outbox_rows(incident.id, step.id, step.at, messages(
                incident, step, demo.categories.get(category)))
            rows = s.scalars(select(Notification).where(
                Notification.incident_id == incident.id)).all()
            found[category] = [{k: getattr(r, k) for k in expected[0]} for r in rows]
            assert found[category] == expected
            assert s.get(Incident, incident.id).steps[0].id == step.id
    assert found["Z001"][0]["key"].endswith(f":grid:{grid.code}")
    assert found["Z002"][0]["message"].startswith("事件 ") and "trailing" in \
        found["Z002"][0]["message"] and not found["Z002"][0]["message"].endswith(" ")


def test_report_insert_writes_every_queued_message(demo):
    """Several recipients (the unnest of the PostGIS statement) and none at all."""
    with demo.db.read() as session:
        grid = store.units(session, store.require_active_version(session).id, Level.grid)[0]
        point = store.shape_of(grid).representative_point()
    queued = [("street", "110105001", "「x」a"), ("leader", "副主任", "「x」b")]
    for messages_given in (queued, []):
        with demo.db.write() as s:
            incident = demo.ladder.file(s, Admin(), lon=point.x, lat=point.y, category="Z001",
                                        now=at(10, 9))
            step = incident.steps[0]
            copy = Incident(**{k: getattr(incident, k) for k in insert_columns(INCIDENTS)})
            copy_step = IncidentStep(**{k: getattr(step, k) for k in insert_columns(STEPS)})
            copy_reporter = IncidentReporter(**{k: getattr(incident.reporters[0], k)
                                                for k in insert_columns(REPORTERS)})
            insert_report(s, copy, copy_step, copy_reporter, messages_given)
            rows = s.scalars(select(Notification).where(Notification.incident_id == copy.id)
                             .order_by(Notification.id)).all()
            assert [(r.key, r.recipient_kind, r.recipient, r.message) for r in rows] == [
                (row["key"], row["recipient_kind"], row["recipient"], row["message"])
                for row in outbox_rows(copy.id, copy_step.id, copy_step.at, messages_given)]
            assert copy.id != incident.id and copy_reporter.original_incident_id == copy.id


def test_report_placed_from_memory_answers_what_the_database_says(demo, client, tokens):
    """POST /incidents places the point with the place directory once it is ready; the
    answer (owners, codes, version) must be what the database path gives, and the case must
    be stored as answered."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        building = store.units(session, version, Level.building)[3]
        point = store.shape_of(building).representative_point()
    body = {"lon": point.x, "lat": point.y, "category": "Z001", "source": "patrol"}
    client.post("/api/v1/incidents", json=body, headers=auth(tokens["admin"]))
    for _ in range(100):  # the directory is built in the background after first use
        if _places_ready(client):
            break
        time.sleep(0.05)
    assert _places_ready(client)
    answer = client.post("/api/v1/incidents", json=body, headers=auth(tokens["admin"]))
    assert answer.status_code == 201, answer.text
    shaped = IncidentDetail.model_validate(answer.json())
    with demo.db.read() as session:
        stored = session.get(Incident, shaped.id)
        codes = {Level.street: stored.street_code, Level.community: stored.community_code,
                 Level.grid: stored.grid_code, Level.building: stored.building_code}
        expected = owner_chain(session, stored.boundary_version, codes)
    assert stored.building_code == building.code and stored.boundary_version == version
    assert shaped.owners.model_dump() == OwnerChainPublic.model_validate(expected).model_dump()
    assert shaped.owners.resident_groups and shaped.owners.grid_workers
    assert [s.id for s in shaped.steps] == [s.id for s in stored.steps]


def _places_ready(client) -> bool:
    return client.app.state.services.places.ready


def test_report_suggests_what_a_search_after_it_finds(demo):
    """``file_suggesting`` searches for duplicates in the report's own statement (PostGIS) or
    after its INSERTs (SpatiaLite): the same cases as ``duplicates.suggest`` run afterwards,
    never the new case itself, and none of another category, a closed case or one outside
    the radius or the window."""
    ladder, admin = demo.ladder, Admin()
    with demo.db.read() as session:
        grid = store.units(session, store.require_active_version(session).id, Level.grid)[1]
        point = store.shape_of(grid).representative_point()
    rule = demo.categories.get("Z001").duplicates
    far = rule.radius_m * 3 / 111_000  # degrees of latitude: three radii north
    with demo.db.write() as s:
        near = [ladder.report(s, admin, lon=point.x + dx, lat=point.y, category="Z001",
                              now=at(20, 9)).id for dx in (0.0, 0.0001)]
        ladder.report(s, admin, lon=point.x, lat=point.y + far, category="Z001", now=at(20, 9))
        ladder.report(s, admin, lon=point.x, lat=point.y, category="Z002", now=at(20, 9))
        ladder.report(s, admin, lon=point.x, lat=point.y, category="Z001",
                      now=at(20, 9) - timedelta(hours=rule.window_hours + 1))
        closed = ladder.report(s, admin, lon=point.x, lat=point.y, category="Z001",
                               now=at(20, 9)).id
        ladder.resolve(s, admin, closed, "done", now=at(20, 10))
        ladder.close(s, admin, closed, now=at(20, 11))
    with demo.db.single_statement() as s:
        incident, suggested = ladder.file_suggesting(s, admin, lon=point.x, lat=point.y,
                                                     category="Z001", now=at(20, 12))
    with demo.db.read() as s:
        later = duplicates.suggest(s, ladder, s.get(Incident, incident.id), now=at(20, 12))
    assert [x.incident_id for x in suggested] == near
    assert suggested == later
    assert suggested[0].distance_m == 0.0 and 5 < suggested[1].distance_m < rule.radius_m
    assert suggested[0].created_at == at(20, 9)


def test_report_statement_stays_in_psycopgs_conversion_cache():
    """psycopg converts a statement's ``%(name)s`` placeholders once and caches the result
    only for statements of at most MAX_CACHED_STATEMENT_LENGTH bytes and
    MAX_CACHED_STATEMENT_PARAMS parameters; past either, the report's INSERT would be parsed
    again on every request (measured: +0.2 ms of Python per report)."""
    for nearby in (False, True):
        compiled = _statements("postgresql", nearby).compile(dialect=pg_psycopg.dialect())
        assert len(str(compiled).encode()) <= psycopg_queries.MAX_CACHED_STATEMENT_LENGTH
        assert len(compiled.params) <= psycopg_queries.MAX_CACHED_STATEMENT_PARAMS


def test_a_connection_idle_past_the_bound_is_pinged_and_replaced(postgis):
    """PostgreSQL connections are pinged before use only after ``db_ping_idle_seconds`` in
    the pool: one the server dropped meanwhile is replaced, not handed to a request."""
    svc = Services(postgis.settings.model_copy(update={"db_ping_idle_seconds": 0.05,
                                                     "db_pool_size": 1}))
    try:
        with svc.db.read() as s:
            pid = s.scalar(text("SELECT pg_backend_pid()"))
        with postgis.db.single_statement() as s:
            assert s.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        time.sleep(0.1)
        with svc.db.single_statement() as s:
            assert s.scalar(text("SELECT pg_backend_pid()")) != pid
        # Back within the bound: the same connection, not pinged (no statement in between).
        with svc.db.read() as s:
            pid = s.scalar(text("SELECT pg_backend_pid()"))
        with svc.db.read() as s:
            assert s.scalar(text("SELECT pg_backend_pid()")) == pid
    finally:
        svc.close()


def test_concurrent_reports_are_all_stored_as_answered(demo, backend, tokens):
    """Forty reports at once from eight threads, after the place directory is ready: on
    PostGIS they are written on the event loop (asyncio pool, no thread hop), on SpatiaLite
    through the thread pool. Every 201 is a stored case with the answered owners, first
    step and duplicates that exclude itself."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        buildings = store.units(session, version, Level.building)[:8]
        points = [store.shape_of(b).representative_point() for b in buildings]
    with TestClient(create_app(demo.settings)) as api:
        services = api.app.state.services
        body = {"lon": points[0].x, "lat": points[0].y, "category": "Z003"}
        assert api.post("/api/v1/incidents", json=body,
                        headers=auth(tokens["admin"])).status_code == 201
        for _ in range(100):
            if services.places.ready:
                break
            time.sleep(0.05)
        assert services.places.ready
        api.app.state.report_limiter = None  # the first report, placed from the database

        def post(i: int) -> dict:
            p = points[i % len(points)]
            answer = api.post("/api/v1/incidents", headers=auth(tokens["admin"]), json={
                "lon": p.x, "lat": p.y, "category": "Z003", "description": f"c{i}"})
            assert answer.status_code == 201, answer.text
            return answer.json()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(40)))
        # Which path wrote them: the thread pool's limiter exists only once it was used.
        threaded = getattr(api.app.state, "report_limiter", None) is not None
        assert threaded == (backend == "spatialite") and services.db.has_async == (
            backend == "postgis")
    with demo.db.read() as session:
        for answer in answers:
            stored = session.get(Incident, answer["id"])
            assert stored.description == answer["description"]
            assert stored.building_code == answer["building_code"]
            assert [s.id for s in stored.steps] == [s["id"] for s in answer["steps"]]
            assert [r.id for r in stored.reporters] == [r["id"] for r in answer["reporters"]]
            assert answer["owners"]["chain"][-1]["code"] == stored.building_code
            suggested = [d["incident_id"] for d in answer["possible_duplicates"]]
            assert answer["id"] not in suggested and all(i < answer["id"] for i in suggested)


def test_the_asyncio_pool_replaces_a_dropped_idle_connection(postgis):
    """The asyncio pool (reports on the event loop) pings as the other pool does."""
    svc = Services(postgis.settings.model_copy(update={"db_ping_idle_seconds": 0.05,
                                                     "db_pool_size": 1}))

    async def play() -> tuple[int, int]:
        svc.db.open_async()
        try:
            async with svc.db.async_statement() as conn:
                first = await conn.scalar(text("SELECT pg_backend_pid()"))
            with postgis.db.single_statement() as s:
                assert s.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            await asyncio.sleep(0.1)
            async with svc.db.async_statement() as conn:
                return first, await conn.scalar(text("SELECT pg_backend_pid()"))
        finally:
            await svc.db.close_async()

    try:
        first, second = asyncio.run(play())
        assert second != first and not svc.db.has_async
    finally:
        svc.close()
