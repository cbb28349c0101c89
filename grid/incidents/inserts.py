"""Writing a new report (网格发现) in as few round trips, and as little Python, as each store
allows.

Reporting is the one write every grid worker, hotline operator and vendor app makes all day,
so it skips the ORM's unit of work: the incident, its first step and its first reporter are
built as ordinary (transient) model objects — the caller shapes its answer from them without
reading anything back — and written with Core INSERTs built once per dialect, every value a
bound parameter (so SQLAlchemy neither rebuilds nor recompiles them per request). On PostGIS
the three rows go in one statement (data-modifying CTEs chained on the new incident's id);
SpatiaLite, in process and without such CTEs, takes three INSERT … RETURNING. Either way the
objects get their ids.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, inspect, select, true
from sqlalchemy.orm import Session

from grid.incidents.models import Incident, IncidentReporter, IncidentStep

INCIDENTS: Table = Incident.__table__
STEPS: Table = IncidentStep.__table__
REPORTERS: Table = IncidentReporter.__table__
#: Columns filled from the new incident's id rather than from the objects.
_LINKS = {STEPS.name: ("incident_id",), REPORTERS.name: ("incident_id", "original_incident_id")}


def _columns(table: Table) -> list[str]:
    return [c.key for c in table.columns if c.key != "id" and c.key not in _LINKS.get(
        table.name, ())]


def _params(table: Table, prefix: str) -> dict[str, Any]:
    return {k: bindparam(f"{prefix}{k}", type_=table.c[k].type) for k in _columns(table)}


@cache
def _statements(dialect: str):
    """The INSERTs for ``dialect``: one chained statement, or three."""
    if dialect == "postgresql":
        new = insert(INCIDENTS).values(_params(INCIDENTS, "i_")).returning(
            INCIDENTS.c.id).cte("new_incident")

        def chained(table: Table, prefix: str):
            links = _LINKS[table.name]
            row = select(*(new.c.id for _ in links), *_params(table, prefix).values())
            return insert(table).from_select([*links, *_columns(table)], row).returning(
                table.c.id).cte(f"new_{table.name}")

        new_step, new_reporter = chained(STEPS, "s_"), chained(REPORTERS, "r_")
        return select(new.c.id, new_step.c.id, new_reporter.c.id).select_from(
            new.join(new_step, true()).join(new_reporter, true()))
    link = bindparam("incident_id")
    return (
        insert(INCIDENTS).values(_params(INCIDENTS, "i_")).returning(INCIDENTS.c.id),
        insert(STEPS).values(incident_id=link, **_params(STEPS, "s_")).returning(STEPS.c.id),
        insert(REPORTERS).values(incident_id=link, original_incident_id=link,
                                 **_params(REPORTERS, "r_")).returning(REPORTERS.c.id),
    )


def _bound(obj: Any, table: Table, prefix: str) -> dict[str, Any]:
    """Every column value of a transient model object, as the statements' parameters."""
    state = inspect(obj).dict
    return {f"{prefix}{k}": state.get(k) for k in _columns(table)}


def insert_report(session: Session, incident: Incident, step: IncidentStep,
                  reporter: IncidentReporter) -> None:
    """Write a new incident with its ``report`` step and first reporter; set their ids.
    Every column must have been given a value on the objects (None for NULL)."""
    conn = session.connection()
    statements = _statements(conn.dialect.name)
    values = {**_bound(incident, INCIDENTS, "i_"), **_bound(step, STEPS, "s_"),
              **_bound(reporter, REPORTERS, "r_")}
    if conn.dialect.name == "postgresql":
        incident.id, step.id, reporter.id = conn.execute(statements, values).one()
    else:
        new_incident, new_step, new_reporter = statements
        incident.id = conn.execute(new_incident, values).scalar_one()
        values["incident_id"] = incident.id
        step.id = conn.execute(new_step, values).scalar_one()
        reporter.id = conn.execute(new_reporter, values).scalar_one()
    step.incident_id = reporter.incident_id = reporter.original_incident_id = incident.id
