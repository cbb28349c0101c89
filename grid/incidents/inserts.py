"""Writing a new report (网格发现) in as few round trips, and as little Python, as each store
allows.

Reporting is the one write every grid worker, hotline operator and vendor app makes all day,
so it skips the ORM's unit of work: the incident, its first step and its first reporter are
built as ordinary (transient) model objects — the caller shapes its answer from them without
reading anything back — and written with Core INSERTs built once per dialect, every value a
bound parameter (so SQLAlchemy neither rebuilds nor recompiles them per request). On PostGIS
the rows — incident, step, reporter and its outbox messages — go in one statement
(data-modifying CTEs chained on the new incident's id); SpatiaLite, in process and without
such CTEs, takes an INSERT each. Either way the objects get their ids.

The report's duplicate search (``grid.incidents.nearby``) can ride along: on PostGIS as one
more CTE of the same statement, read from the snapshot the statement starts with (so never
the new case itself) — no second statement or round trip; on SpatiaLite as a query after the
INSERTs.

A server process under load writes its reports through ``ReportWriter`` (group commit): the
reports that arrive while one transaction commits share the next, sent to psycopg in
pipeline mode, and each is answered once that transaction has committed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import cache
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import psycopg
from sqlalchemy import (
    ARRAY,
    Table,
    Text,
    bindparam,
    func,
    insert,
    inspect,
    literal_column,
    select,
    true,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from grid.incidents.models import Incident, IncidentReporter, IncidentStep, Notification
from grid.incidents.nearby import nearby_query
from grid.incidents.notify import QUEUE, outbox_rows

if TYPE_CHECKING:
    from grid.db import Database
    from grid.incidents.ladder import NewReport

INCIDENTS: Table = Incident.__table__
STEPS: Table = IncidentStep.__table__
REPORTERS: Table = IncidentReporter.__table__
NOTIFICATIONS: Table = Notification.__table__
#: Columns filled from the new incident's id rather than from the objects.
_LINKS = {STEPS.name: ("incident_id",), REPORTERS.name: ("incident_id", "original_incident_id")}
#: Columns a new report always leaves NULL (a rating comes with the callback, a merge later):
#: not sent, which keeps the chained INSERT within psycopg's 50 cached parameters.
_NULL_AT_REPORT = {INCIDENTS.name: ("rating", "merged_into")}


def insert_columns(table: Table) -> list[str]:
    """The columns a new row of ``table`` is given (all but its id, links to the new
    incident and the columns that start NULL)."""
    skip = ("id", *_LINKS.get(table.name, ()), *_NULL_AT_REPORT.get(table.name, ()))
    return [c.key for c in table.columns if c.key not in skip]


def _params(table: Table, prefix: str) -> dict[str, Any]:
    return {k: bindparam(f"{prefix}{k}", type_=table.c[k].type) for k in insert_columns(table)}


@cache
def _statements(dialect: str, nearby: bool = False):
    """The INSERTs for ``dialect``: one chained statement (with the duplicate search when
    ``nearby``: one row per candidate, or one with NULLs), or three."""
    if dialect == "postgresql":
        new = insert(INCIDENTS).values(_params(INCIDENTS, "i_")).returning(
            INCIDENTS.c.id).cte("new_incident")

        def chained(table: Table, prefix: str):
            links = _LINKS[table.name]
            row = select(*(new.c.id for _ in links), *_params(table, prefix).values())
            return insert(table).from_select([*links, *insert_columns(table)], row).returning(
                table.c.id).cte(f"new_{table.name}")

        new_step, new_reporter = chained(STEPS, "s_"), chained(REPORTERS, "r_")
        # The outbox rows (grid.incidents.notify): one per (kind, recipient, text) of the
        # bound arrays, keyed and numbered with the new ids. Constants are written into the
        # SQL, not bound: psycopg caches its conversion of a statement only up to 50
        # parameters (and each bound one costs a conversion per execution).
        colon = literal_column("':'")
        queued = func.unnest(*(bindparam(f"n_{k}", type_=ARRAY(Text))
                               for k in ("kinds", "recipients", "texts"))
                             ).table_valued("kind", "recipient", "text").render_derived("n")
        outbox = insert(NOTIFICATIONS).from_select(
            ["key", "incident_id", "recipient_kind", "recipient", "message", "created_at",
             "attempts", "last_error"],
            select(func.concat(new.c.id, colon, new_step.c.id, colon, queued.c.kind, colon,
                               queued.c.recipient),
                   new.c.id, queued.c.kind, queued.c.recipient,
                   func.concat(literal_column("'事件 '"), new.c.id, queued.c.text),
                   bindparam("s_at", type_=STEPS.c.at.type), literal_column("0"),
                   literal_column("''"))
            .select_from(new.join(new_step, true()).join(queued, true()))
        ).returning(NOTIFICATIONS.c.id).cte("new_notification")
        written = new.join(new_step, true()).join(new_reporter, true())
        columns = [new.c.id, new_step.c.id, new_reporter.c.id,
                   select(func.count()).select_from(outbox).scalar_subquery()]
        if nearby:
            near = nearby_query(dialect, exclude_self=False).cte("nearby")
            columns += [near.c.id, near.c.created_at, near.c.x, near.c.y]
            written = written.outerjoin(near, true())
        return select(*columns).select_from(written)
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
    return {f"{prefix}{k}": state.get(k) for k in insert_columns(table)}


def insert_report(session: Session, incident: Incident, step: IncidentStep,
                  reporter: IncidentReporter, queued: list[tuple[str, str, str]],
                  nearby: dict[str, Any] | None = None) -> list[tuple]:
    """Write a new incident with its ``report`` step, first reporter and outbox messages
    (``grid.incidents.notify.messages``); set the objects' ids. Every column must have been
    given a value on the objects (None for NULL). With ``nearby`` (``nearby_query``'s
    parameters but ``id``), answers that query's rows (id, created_at, x, y) for the cases
    filed before this one; otherwise []."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        values = _chained_values(incident, step, reporter, queued, nearby)
        rows = conn.execute(_statements(conn.dialect.name, nearby is not None), values).all()
        return _written(incident, step, reporter, rows, nearby)
    new_incident, new_step, new_reporter = _statements(conn.dialect.name)
    values = {**_bound(incident, INCIDENTS, "i_"), **_bound(step, STEPS, "s_"),
              **_bound(reporter, REPORTERS, "r_")}
    incident.id = conn.execute(new_incident, values).scalar_one()
    values["incident_id"] = incident.id
    step.id = conn.execute(new_step, values).scalar_one()
    reporter.id = conn.execute(new_reporter, values).scalar_one()
    if queued:
        conn.execute(QUEUE, outbox_rows(incident.id, step.id, step.at, queued))
    step.incident_id = reporter.incident_id = reporter.original_incident_id = incident.id
    if nearby is None:
        return []
    return [tuple(row) for row in conn.execute(nearby_query(conn.dialect.name),
                                               {"id": incident.id, **nearby})]


async def insert_report_async(conn: AsyncConnection, incident: Incident, step: IncidentStep,
                              reporter: IncidentReporter, queued: list[tuple[str, str, str]],
                              nearby: dict[str, Any] | None = None) -> list[tuple]:
    """``insert_report`` on PostGIS through an asyncio connection: the same one statement,
    awaited on the event loop instead of blocking a thread."""
    values = _chained_values(incident, step, reporter, queued, nearby)
    statement = _statements(conn.dialect.name, nearby is not None)
    rows = (await conn.execute(statement, values)).all()
    return _written(incident, step, reporter, rows, nearby)


def _chained_values(incident: Incident, step: IncidentStep, reporter: IncidentReporter,
                    queued: list[tuple[str, str, str]], nearby: dict[str, Any] | None
                    ) -> dict[str, Any]:
    values = {**_bound(incident, INCIDENTS, "i_"), **_bound(step, STEPS, "s_"),
              **_bound(reporter, REPORTERS, "r_"), **(nearby or {})}
    kinds, recipients, texts = (list(column) for column in zip(*queued, strict=True)) \
        if queued else ([], [], [])
    values.update(n_kinds=kinds, n_recipients=recipients, n_texts=texts)
    return values


def _written(incident: Incident, step: IncidentStep, reporter: IncidentReporter,
             rows: list[tuple], nearby: dict[str, Any] | None) -> list[tuple]:
    """Set the ids the chained statement answered; its duplicate candidates."""
    incident.id, step.id, reporter.id = rows[0][:3]
    step.incident_id = reporter.incident_id = reporter.original_incident_id = incident.id
    return [tuple(row[4:]) for row in rows if nearby is not None and row[4] is not None]


class ReportWriter:
    """Group commit for reports on PostGIS, one writer per event loop (server process).

    ``write`` queues a report (``Ladder.prepare_report``) and waits; the writer takes every
    report queued, up to ``max_batch``, and writes them in one transaction — each report's
    one chained statement (``insert_report_async``), in the order they came, then a single
    COMMIT — and only then answers each with its duplicate candidates (its objects' ids set).
    Reports that arrive while a transaction runs wait for the next, so the batch grows with
    the load and a lone report goes alone (one autocommit statement, as without the writer).
    The cost that scales with reports is then the statements themselves; the commit (its WAL
    flush), the connection's checkout and the transaction's round trips are shared.

    In a batch, each statement sees the reports written before it in the same transaction
    (PostgreSQL's READ COMMITTED reads a transaction's own rows), so the duplicate search
    finds earlier reports of the batch exactly as it would have found them committed.

    A statement that fails rolls the batch back; its reports are then written one by one,
    each in its own transaction, so the bad one gets its own error and the others their
    ids — none is answered before the commit holding its rows. A failed COMMIT fails every
    report of the batch (whether it was stored is unknown, as for any failed commit).
    """

    def __init__(self, db: Database, max_batch: int = 64) -> None:
        self.db, self.max_batch = db, max_batch
        self._queue: deque[tuple[NewReport, asyncio.Future]] = deque()
        self._task: asyncio.Task | None = None
        #: Transactions committed and reports written so far (for tests and benchmarks).
        self.commits = self.written = 0

    async def write(self, new: NewReport) -> list[tuple]:
        """Write ``new`` (with the reports queued with it); its duplicate candidates, once
        committed."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.append((new, done))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        return await done

    async def _run(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft()
                         for _ in range(min(len(self._queue), self.max_batch))]
                # A request gone before its turn (client disconnected) is not written.
                batch = [(new, done) for new, done in batch if not done.done()]
                try:
                    if len(batch) == 1:
                        await self._alone(*batch[0])
                    elif batch:
                        await self._together(batch)
                except BaseException:
                    for _, done in batch:
                        _answer(done, error=RuntimeError("report writer stopped"))
                    raise
        finally:  # cancelled (the loop is closing): nobody waits forever
            while self._queue:
                new, done = self._queue.popleft()
                if not done.done():
                    done.set_exception(RuntimeError("report writer stopped"))

    async def _alone(self, new: NewReport, done: asyncio.Future) -> None:
        """One report, in one autocommit statement."""
        try:
            async with self.db.async_statement() as conn:
                [candidates] = await _pipelined(conn, [new])
        except Exception as err:  # noqa: BLE001 — the report's own error, to its request
            _answer(done, error=err)
            return
        self.commits += 1
        self.written += 1
        _answer(done, candidates)

    async def _together(self, batch: list[tuple[NewReport, asyncio.Future]]) -> None:
        """Several reports in one transaction; one by one if a statement fails."""
        committed = False
        try:
            async with self.db.async_connection() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                try:  # psycopg begins the transaction at the first statement
                    found = await _pipelined(conn, [new for new, _ in batch])
                except BaseException:
                    await driver.rollback()
                    raise
                try:
                    await driver.commit()
                except Exception as err:  # noqa: BLE001 — stored or not, unknown: no retry
                    for _, done in batch:
                        _answer(done, error=err)
                    return
                committed = True
        except Exception:  # noqa: BLE001
            if not committed:  # a statement failed, nothing stored: each alone, own answer
                for new, done in batch:
                    await self._alone(new, done)
                return
            # Committed; only handing the connection back failed: the ids stand.
        self.commits += 1
        self.written += len(batch)
        for (_, done), candidates in zip(batch, found, strict=True):
            _answer(done, candidates)


def _answer(done: asyncio.Future, candidates: list[tuple] | None = None,
            error: BaseException | None = None) -> None:
    if done.done():  # its request was cancelled meanwhile
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(candidates)


async def _pipelined(conn: AsyncConnection, reports: list[NewReport]) -> list[list[tuple]]:
    """``insert_report_async`` for each of ``reports``, in order, on ``conn``'s psycopg
    connection in pipeline mode: every statement sent before any answer is awaited (one
    round trip for the batch), and without SQLAlchemy's per-execution work (about 1.1 ms
    of CPU a report, measured, against 0.2 ms). The SQL and the parameter and result
    conversions are SQLAlchemy's own for the statement, taken once from its compiled form
    (``_compiled``: SQLAlchemy's compiled ``_bind_processors`` and each column type's result
    processor — private names, pinned by tests/test_report_writer.py, which compares the
    rows written and answered this way with the ORM's)."""
    driver = (await conn.get_raw_connection()).driver_connection
    try:
        return await _send(conn, driver, reports)
    except psycopg.Error as err:  # as SQLAlchemy raises it (grid.api.errors reads that)
        gone = driver.broken or driver.closed or conn.dialect.is_disconnect(err, None, None)
        if gone:
            await conn.invalidate()
        raise sa_exc.DBAPIError.instance(
            "(report batch)", None, err, psycopg.Error, connection_invalidated=gone,
            dialect=conn.dialect) from err


async def _send(conn: AsyncConnection, driver, reports: list[NewReport]) -> list[list[tuple]]:
    sent = []
    async with driver.pipeline():
        for new in reports:
            sql, compiled, binds, results = _compiled(conn.dialect, new.nearby is not None)
            params = compiled.construct_params(_chained_values(
                new.incident, new.step, new.reporter, new.messages, new.nearby))
            for name, process in binds:
                params[name] = process(params[name])
            cursor = driver.cursor()
            await cursor.execute(sql, params)
            sent.append((cursor, results))
    found = []
    for new, (cursor, results) in zip(reports, sent, strict=True):
        if not results:  # first use: the conversions by the columns' types as sent
            results += _result_processors(conn.dialect, new.nearby is not None,
                                          [c.type_code for c in cursor.description])
        rows = [tuple(v if process is None else process(v)
                      for process, v in zip(results, row, strict=True))
                for row in await cursor.fetchall()]
        found.append(_written(new.incident, new.step, new.reporter, rows, new.nearby))
    return found


#: Per dialect (so per engine), per ``nearby``: see ``_compiled``.
_COMPILED: WeakKeyDictionary = WeakKeyDictionary()


def _compiled(dialect, nearby: bool) -> tuple:
    """The chained statement for ``dialect`` as (SQL, compiled, bind conversions, result
    conversions per column — filled at its first answer), made once."""
    made = _COMPILED.setdefault(dialect, {})
    found = made.get(nearby)
    if found is None:
        statement = _statements(dialect.name, nearby)
        compiled = statement.compile(dialect=dialect)
        binds = [(name, process) for name, process in compiled._bind_processors.items()
                 if process is not None]
        found = made[nearby] = (str(compiled), compiled, binds, [])
    return found


def _result_processors(dialect, nearby: bool, type_codes: list[int]) -> list:
    """SQLAlchemy's conversion of each answered column (None: as psycopg gives it)."""
    statement = _statements(dialect.name, nearby)
    return [column.type._cached_result_processor(dialect, code)
            for column, code in zip(statement.selected_columns, type_codes, strict=True)]
