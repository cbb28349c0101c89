"""``escalate-due``: overdue incidents climb one level, and concurrent sweeps never escalate
anything twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

from sqlalchemy import func, select

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.ladder import SYSTEM
from grid.incidents.models import Incident, IncidentStep
from grid.orm import utcnow
from grid.services import Services


def _overdue(svc: Services, count: int, category: str = "Z005") -> list[int]:
    """Report ``count`` incidents ten days ago, so their grid-level limit has run out."""
    past = utcnow() - timedelta(days=10)
    with svc.db.write() as session:
        version = store.require_active_version(session).id
        buildings = store.units(session, version, Level.building)
        ids = []
        for i in range(count):
            p = store.shape_of(buildings[i % len(buildings)]).representative_point()
            ids.append(svc.ladder.report(session, SYSTEM, lon=p.x, lat=p.y, category=category,
                                         now=past).id)
    return ids


def _escalations(svc: Services, ids: list[int]) -> dict[int, int]:
    with svc.db.read() as session:
        rows = session.execute(
            select(IncidentStep.incident_id, func.count())
            .where(IncidentStep.incident_id.in_(ids), IncidentStep.action == "escalate")
            .group_by(IncidentStep.incident_id))
        return dict(rows.all())


def test_overdue_incident_climbs_one_level(demo):
    ids = _overdue(demo, 3)
    demo.ladder.escalate_due(demo.db)
    with demo.db.read() as session:
        levels = {session.get(Incident, i).level for i in ids}
        due = [session.get(Incident, i).due_at for i in ids]
    assert levels == {"community"}
    assert all(d > utcnow() for d in due)  # the community's clock restarted
    demo.ladder.escalate_due(demo.db)  # nothing is due now
    assert _escalations(demo, ids) == {i: 1 for i in ids}


def test_concurrent_sweeps_never_escalate_twice(demo):
    ids = _overdue(demo, 60)
    sweeps = [Services(demo.settings) for _ in range(4)]
    barrier = threading.Barrier(len(sweeps))
    moved: list[list[int]] = [[] for _ in sweeps]
    errors: list[BaseException] = []

    def sweep(i: int) -> None:
        try:
            barrier.wait()
            moved[i] = sweeps[i].ladder.escalate_due(sweeps[i].db, batch=7)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(len(sweeps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for svc in sweeps:
        svc.close()
    assert not errors, errors
    ours = [i for m in moved for i in m if i in set(ids)]
    assert sorted(ours) == sorted(ids)  # each incident moved by exactly one sweep
    assert _escalations(demo, ids) == {i: 1 for i in ids}


def test_two_cli_sweeps_at_once(demo):
    ids = _overdue(demo, 40, category="Z001")
    env = {**os.environ, "GRID_DATABASE_URL": demo.settings.database_url}
    procs = [subprocess.Popen([sys.executable, "-m", "grid.cli", "escalate-due"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert _escalations(demo, ids) == {i: 1 for i in ids}
