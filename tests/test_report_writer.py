"""Group commit of reports (``grid.incidents.inserts.ReportWriter``): reports queued together
are written in one transaction, each answered only after the commit that holds its rows;
a failing one gets its own error without sinking the others; the duplicate search inside a
batch sees the batch's earlier reports as it would have seen them committed."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from grid.api.app import create_app
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.inserts import ReportWriter
from grid.incidents.models import Incident, IncidentStep, Notification
from grid.services import Services
from tests.conftest import auth


@dataclass
class Admin:
    name: str = "writer-test"
    role: str = "admin"
    department: str | None = None

    def covers(self, code: str | None) -> bool:
        return True


def _points(svc: Services, n: int):
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        buildings = store.units(session, version, Level.building)[:n]
        return [store.shape_of(b).representative_point() for b in buildings]


def _prepare(svc: Services, points, n: int, description: str, key=lambda i: None):
    with svc.db.read() as session:
        return [svc.ladder.prepare_report(
            Admin(), lon=points[i % len(points)].x, lat=points[i % len(points)].y,
            category="Z003", description=f"{description}{i}", session=session,
            client_key=key(i)) for i in range(n)]


def _write_all(svc: Services, reports, max_batch: int = 64):
    """Write ``reports`` concurrently through one writer; (answers or errors, writer)."""
    async def play():
        svc.db.open_async()
        try:
            writer = ReportWriter(svc.db, max_batch)
            answers = await asyncio.gather(*(writer.write(new) for new in reports),
                                           return_exceptions=True)
            return answers, writer
        finally:
            await svc.db.close_async()
    return asyncio.run(play())


def _stored(svc: Services, ids: list[int]) -> tuple[int, int, int]:
    """(incidents, report steps, outbox rows) stored for ``ids``."""
    with svc.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Incident).where(
                Incident.id.in_(ids))),
            session.scalar(select(func.count()).select_from(IncidentStep).where(
                IncidentStep.incident_id.in_(ids), IncidentStep.action == "report")),
            session.scalar(select(func.count()).select_from(Notification).where(
                Notification.incident_id.in_(ids))))


def test_concurrent_reports_share_transactions_and_are_each_stored_once(demo, backend):
    """Sixty reports queued at once, at most 25 a transaction: three commits; every report
    answered with its own id, stored once with its report step and its outbox rows."""
    if backend != "postgis":
        assert not demo.db.has_async  # SpatiaLite reports go through the thread pool
        return
    points = _points(demo, 6)
    reports = _prepare(demo, points, 60, "batch-")
    answers, writer = _write_all(demo, reports, max_batch=25)
    assert not any(isinstance(a, BaseException) for a in answers), answers
    ids = [new.incident.id for new in reports]
    assert len(set(ids)) == 60 and None not in ids
    assert (writer.commits, writer.written) == (3, 60)
    incidents, steps, _ = _stored(demo, ids)
    assert incidents == steps == 60
    with demo.db.read() as session:
        for new in reports[::7]:
            stored = session.get(Incident, new.incident.id)
            assert stored.description == new.incident.description
            assert [s.id for s in stored.steps] == [new.step.id]
            assert [r.id for r in stored.reporters] == [new.reporter.id]


def test_a_failing_report_does_not_sink_the_batch(demo, backend):
    """Two reports of a batch with the same client key: the second violates the unique
    index, the batch is rolled back and each is written alone — the others get their ids
    and are stored once, the duplicate key gets its own IntegrityError, nothing is answered
    twice or stored without an answer."""
    if backend != "postgis":
        assert not demo.db.has_async
        return
    points = _points(demo, 6)
    tag = f"k{time.monotonic_ns()}"
    reports = _prepare(demo, points, 12, "fail-",
                       key=lambda i: f"{tag}:same" if i in (4, 9) else f"{tag}:{i}")
    answers, writer = _write_all(demo, reports)
    failed = [i for i, a in enumerate(answers) if isinstance(a, BaseException)]
    assert failed == [9] and isinstance(answers[9], IntegrityError)
    ids = [new.incident.id for i, new in enumerate(reports) if i != 9]
    assert len(set(ids)) == 11
    incidents, steps, _ = _stored(demo, ids)
    assert incidents == steps == 11
    with demo.db.read() as session:
        keyed = session.scalar(select(func.count()).select_from(Incident).where(
            Incident.client_key.like(f"{tag}:%")))
    assert keyed == 11
    # The batch's transaction was rolled back; then one transaction per report.
    assert writer.written == 11 and writer.commits == 11


def test_a_batch_suggests_its_earlier_reports_as_duplicates(demo, backend):
    """Three reports at one point in one transaction: each is offered the ones queued before
    it, as if they had been committed one by one."""
    if backend != "postgis":
        assert not demo.db.has_async
        return
    point = _points(demo, 1)[0]
    with demo.db.read() as session:
        reports = [demo.ladder.prepare_report(
            Admin(), lon=point.x, lat=point.y, category="Z002", description=f"dup{i}",
            session=session) for i in range(3)]
    before = _near(demo, "Z002", point)
    answers, writer = _write_all(demo, reports)
    assert writer.commits == 1
    suggested = [sorted(c[0] for c in found) for found in answers]
    ids = [new.incident.id for new in reports]
    assert suggested == [before, sorted(before + ids[:1]), sorted(before + ids[:2])]
    # The candidates as SQLAlchemy would give them: the stored time (aware), the point.
    with demo.db.read() as session:
        for found in answers:
            for other_id, created_at, x, y in found:
                stored = session.get(Incident, other_id)
                assert created_at.tzinfo is not None and created_at == stored.created_at
                assert (round(x, 7), round(y, 7)) == (round(point.x, 7), round(point.y, 7)) \
                    or other_id in before


def _near(svc: Services, category: str, point) -> list[int]:
    """Open cases of ``category`` within the rule's radius of ``point``, filed within its
    window (what the duplicate search finds), through the search itself run now."""
    from grid.incidents.nearby import nearby_query, search_params
    from grid.orm import utcnow

    rule = svc.categories.get(category).duplicates
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        locator = svc.ladder.locators.get(session, version)
        street = locator.locate(point.x, point.y)[Level.street]
        params = search_params(rule, category, street, point.x, point.y, utcnow())
        rows = session.execute(nearby_query("postgresql", exclude_self=False), params).all()
    return sorted(r[0] for r in rows)


@pytest.mark.parametrize("batch", [True, False])
def test_reports_over_http_are_stored_as_answered_with_or_without_batching(
        demo, backend, tokens, batch):
    """Thirty-two reports from eight threads through the API, with group commit on and off
    (``GRID_REPORT_BATCH``): every 201 is one stored case with its step; on PostGIS with
    batching the writer wrote them, in fewer transactions than reports."""
    points = _points(demo, 8)
    settings = demo.settings.model_copy(update={"report_batch": batch})
    with TestClient(create_app(settings)) as api:
        services = api.app.state.services
        first = {"lon": points[0].x, "lat": points[0].y, "category": "Z003"}
        assert api.post("/api/v1/incidents", json=first,
                        headers=auth(tokens["admin"])).status_code == 201
        for _ in range(100):
            if services.places.ready:
                break
            time.sleep(0.05)
        assert services.places.ready

        def post(i: int) -> dict:
            p = points[i % len(points)]
            answer = api.post("/api/v1/incidents", headers=auth(tokens["admin"]), json={
                "lon": p.x, "lat": p.y, "category": "Z003", "description": f"h{batch}{i}"})
            assert answer.status_code == 201, answer.text
            return answer.json()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(32)))
        writer = getattr(api.app.state, "report_writer", None)
        if backend == "postgis" and batch:
            assert writer is not None and writer.written == 32
            assert writer.commits <= writer.written
        else:
            assert writer is None
    ids = [a["id"] for a in answers]
    assert len(set(ids)) == 32
    incidents, steps, _ = _stored(demo, ids)
    assert incidents == steps == 32
    with demo.db.read() as session:
        for answer in answers:
            stored = session.get(Incident, answer["id"])
            assert stored.description == answer["description"]
            assert [s.id for s in stored.steps] == [s["id"] for s in answer["steps"]]
