"""The monthly three-rate ranking over a year of synthetic cases on PostGIS; the peer, in the
same run and database, is a plain ``count(*)`` of the month's cases.

    python benchmarks/workflow_rates_bench.py [--cases 200000] [--admin-url URL]
    # Beijing scale, in three steps so only the timing needs a quiet machine:
    python benchmarks/workflow_rates_bench.py --cases 24000000 --database NAME --phase fill
    python benchmarks/workflow_rates_bench.py --database NAME --phase time
    python benchmarks/workflow_rates_bench.py --database NAME --phase drop

Cases are generated in SQL (``generate_series``, one statement per month) and spread evenly
over 2025 across Beijing-sized codes: 330 streets of 21 communities (6,930 communities) of
5 grids. States cycle open/resolved/closed/rated (1 in 50 merged); 10 % of cases get a system
escalation step, 2 % a late report-in, 30 % a callback (1 in 5 不满意), so every part of the
rate queries has real work. Secondary indexes are dropped during the fill and rebuilt after
it (as a bulk load would), so the timed database has exactly the schema's indexes. Prints
the ranking time (community and street level), the count time and their ratio; the output
also goes to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from grid.demo import load_sample
from grid.incidents.models import Incident
from grid.incidents.rates import monthly_ranking
from grid.migrate import upgrade
from grid.services import Services
from grid.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
STREETS, COMMUNITIES, GRIDS = 330, 21, 5
#: One month of cases: numbers g in [lo, hi) of the year's ``cases``, created evenly in time.
FILL = """
INSERT INTO incident (id, category, description, reporter, source, geom, boundary_version,
    street_code, community_code, grid_code, building_code, state, level, due_at, rating,
    created_by, created_at, updated_at, row_version, reopen_count, late, callbacks,
    satisfied_callbacks)
SELECT g, 'Z001', '', 'bench', CASE WHEN g % 3 = 0 THEN 'hotline' ELSE 'patrol' END,
    ST_SetSRID(ST_MakePoint(116.0 + (g % 997) * 0.001, 39.6 + (g % 991) * 0.0008), 4490),
    :version, s, c, c || lpad((1 + g % :grids)::text, 3, '0'), NULL,
    CASE WHEN g % 50 = 7 THEN 'merged'
         ELSE (ARRAY['open','resolved','closed','rated'])[1 + g % 4] END,
    'grid', NULL, NULL, 'bench', created, created, 1, 0,
    -- the columns every ladder move keeps, consistent with the steps written below
    g % 10 = 0 OR g % 50 = 5, CASE WHEN g % 10 IN (1, 2, 3) THEN 1 ELSE 0 END,
    CASE WHEN g % 10 IN (1, 2, 3) AND (g / 10) % 5 <> 0 THEN 1 ELSE 0 END
FROM (SELECT g,
             '110105' || lpad((1 + g % :streets)::text, 3, '0') AS s,
             '110105' || lpad((1 + g % :streets)::text, 3, '0')
                      || lpad((1 + (g / :streets) % :communities)::text, 3, '0') AS c,
             timestamptz '2025-01-01 00:00+00'
                 + (g * (365.0 * 86400 / :cases)) * interval '1 second' AS created
      FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS g) AS t
"""
STEPS = """
INSERT INTO incident_step (incident_id, at, action, actor, actor_role, from_state, to_state,
    from_level, to_level, reason)
SELECT id, created_at, 'escalate', 'system', 'system', 'open', 'open', 'grid', 'community', ''
FROM incident WHERE id % 10 = 0
UNION ALL
SELECT id, created_at, 'report_in', 'bench', 'department', 'whistled', 'whistled', 'street',
    'street', '逾期报到 late report-in.'
FROM incident WHERE id % 50 = 5
UNION ALL
SELECT id, created_at, 'rate', 'bench', 'community', 'closed', 'rated', 'grid', 'grid',
    CASE WHEN (id / 10) % 5 = 0 THEN '不满意' ELSE '满意' END
FROM incident WHERE id % 10 IN (1, 2, 3)
"""
CHECK = """
SELECT (SELECT count(DISTINCT incident_id) FROM incident_step
        WHERE (action = 'escalate' AND actor_role = 'system')
           OR (action = 'report_in' AND reason LIKE '逾期报到%')),
       count(*) FILTER (WHERE action = 'rate'),
       count(*) FILTER (WHERE action = 'rate' AND reason NOT LIKE '不满意%')
FROM incident_step
"""
#: The previous formulation, timed as a peer: the same community figures from a join with
#: the step table (late cases and callbacks counted from steps, not from incident columns).
STEP_JOIN = ("""
SELECT i.community_code, count(*),
    sum(CASE WHEN late.incident_id IS NULL THEN 1 ELSE 0 END),
    sum(CASE WHEN i.state IN ('resolved', 'closed', 'rated') THEN 1 ELSE 0 END),
    sum(CASE WHEN i.source IN ('hotline', 'resident') THEN 1 ELSE 0 END)
FROM incident i LEFT JOIN (
    SELECT DISTINCT incident_id FROM incident_step
    WHERE (action = 'escalate' AND actor_role = 'system')
       OR (action = 'report_in' AND reason LIKE '逾期报到%')) late ON late.incident_id = i.id
WHERE i.created_at >= :start AND i.created_at < :end AND i.state <> 'merged'
GROUP BY i.community_code""", """
SELECT i.community_code, count(*),
    sum(CASE WHEN s.reason LIKE '不满意%' THEN 0 ELSE 1 END)
FROM incident i JOIN incident_step s ON s.incident_id = i.id
WHERE i.created_at >= :start AND i.created_at < :end AND i.state <> 'merged'
    AND s.action = 'rate'
GROUP BY i.community_code""")
MONTH_START = datetime(2025, 6, 1, tzinfo=UTC)
MONTH_END = datetime(2025, 7, 1, tzinfo=UTC)


def _url(admin_url: str, name: str) -> str:
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _secondary_indexes(conn) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the workflow tables' indexes that back no constraint."""
    rows = conn.execute(text("""
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename IN ('incident', 'incident_step') AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""))
    return [(r.indexname, r.indexdef) for r in rows]


def fill(args, name: str) -> str:
    """Create and fill the database; returns a line saying how long it took."""
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    svc = Services(Settings(database_url=_url(args.admin_url, name)))
    try:
        upgrade(svc.db)
        load_sample(svc, ROOT / "data" / "boundaries", say=lambda _line: None)
        started = time.perf_counter()
        with svc.db.engine.begin() as conn:
            version = conn.scalar(text("SELECT id FROM boundary_version WHERE is_active"))
            indexes = _secondary_indexes(conn)
            for index, _ in indexes:
                conn.execute(text(f'DROP INDEX "{index}"'))
        bounds = [args.cases * m // 12 for m in range(13)]
        for month, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False), 1):
            with svc.db.engine.begin() as conn:
                conn.execute(text(FILL), {
                    "version": version, "cases": args.cases, "lo": lo + 1, "hi": hi + 1,
                    "streets": STREETS, "communities": COMMUNITIES, "grids": GRIDS})
            print(f"  month {month}: {hi} cases, {time.perf_counter() - started:.0f} s",
                  flush=True)
        with svc.db.engine.begin() as conn:
            conn.execute(text(STEPS))
            conn.execute(text("SELECT setval('incident_id_seq', :n)"), {"n": args.cases})
        print(f"  steps: {time.perf_counter() - started:.0f} s", flush=True)
        with svc.db.engine.begin() as conn:
            conn.execute(text("SET maintenance_work_mem = '1GB'"))
            for _, definition in indexes:
                conn.execute(text(definition))
        with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE incident"))
            conn.execute(text("VACUUM ANALYZE incident_step"))
            # The incident columns must say what the steps say, or the timing compares
            # different figures.
            columns = conn.execute(text(
                "SELECT sum(late::int), sum(callbacks), sum(satisfied_callbacks) FROM incident"
            )).one()
            steps = conn.execute(text(CHECK)).one()
            if tuple(columns) != tuple(steps):
                raise RuntimeError(f"rate columns {tuple(columns)} != steps {tuple(steps)}")
        return f"cases {args.cases} over 2025, loaded and indexed in " \
               f"{time.perf_counter() - started:.1f} s"
    finally:
        svc.close()


def timing(args, name: str) -> list[str]:
    """Time the community and street rankings of June, and the peers: the previous
    formulation (a join with the step table) and a plain count of the month's cases."""
    svc = Services(Settings(database_url=_url(args.admin_url, name)))
    community_s, street_s, join_s, count_s = [], [], [], []
    bounds = {"start": MONTH_START.replace(tzinfo=None), "end": MONTH_END.replace(tzinfo=None)}
    try:
        for _ in range(args.repeat):
            with svc.db.read() as session:
                t0 = time.perf_counter()
                ranking = monthly_ranking(session, "community", MONTH_START, MONTH_END,
                                          svc.settings.rate_weights)
                t1 = time.perf_counter()
                streets = monthly_ranking(session, "street", MONTH_START, MONTH_END,
                                          svc.settings.rate_weights)
                t2 = time.perf_counter()
                peer = [session.execute(text(statement), bounds).all()
                        for statement in STEP_JOIN]
                t3 = time.perf_counter()
                month = session.scalar(select(func.count()).select_from(Incident).where(
                    Incident.created_at >= MONTH_START, Incident.created_at < MONTH_END))
                t4 = time.perf_counter()
            community_s.append(t1 - t0)
            street_s.append(t2 - t1)
            join_s.append(t3 - t2)
            count_s.append(t4 - t3)
        with svc.db.read() as session:
            total = session.scalar(select(func.max(Incident.id)))
    finally:
        svc.close()
    _agree(ranking, peer)

    def runs(seconds: list[float]) -> str:
        return (f"runs {', '.join(f'{s * 1000:.0f}' for s in seconds)} ms, "
                f"median {statistics.median(seconds) * 1000:.1f} ms")

    return [
        f"cases in database: {total}; June 2025: {month}",
        f"monthly community ranking ({len(ranking.units)} communities): {runs(community_s)}; "
        f"lowest {ranking.lowest}",
        f"monthly street ranking ({len(streets.units)} streets): {runs(street_s)}; "
        f"lowest {streets.lowest}",
        f"peer, previous design (community figures joined from the step table): "
        f"{runs(join_s)}; same figures for every community (asserted); ranking is "
        f"{statistics.median(join_s) / statistics.median(community_s):.1f}× faster (medians)",
        f"peer, count(*) of the month: {runs(count_s)}; ranking / count = "
        f"{statistics.median(community_s) / statistics.median(count_s):.1f}× (medians)",
        f"load average: {open('/proc/loadavg').read().split()[:3]}",
    ]


def _agree(ranking, peer: list[list]) -> None:
    """The ranking's community figures equal the step-table join's, community by community:
    the speed is printed only for the same answer."""
    mine = {u.code: (u.received, u.in_time, u.solved, u.complaints, u.rated, u.satisfied)
            for u in ranking.units}
    rated = {row[0]: (int(row[1]), int(row[2])) for row in peer[1]}
    theirs = {row[0]: (*(int(x) for x in row[1:5]), *rated.get(row[0], (0, 0)))
              for row in peer[0]}
    differ = [code for code in mine.keys() | theirs.keys() if mine.get(code) != theirs.get(code)]
    assert not differ, f"ranking and step join disagree for {len(differ)} communities, " \
        f"e.g. {differ[0]}: {mine.get(differ[0])} vs {theirs.get(differ[0])}"


def drop(args, name: str) -> None:
    """Drop the benchmark database."""
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    """Fill, time, drop — all at once, or one phase of a named database."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--admin-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="name of the benchmark database (kept between "
                                           "phases); default: a throwaway one")
    parser.add_argument("--phase", choices=("all", "fill", "time", "drop"), default="all")
    args = parser.parse_args()
    name = args.database or f"grid_bench_{uuid.uuid4().hex[:8]}"
    if args.phase != "all" and not args.database:
        parser.error("--phase needs --database NAME")
    lines = []
    try:
        if args.phase in ("all", "fill"):
            lines.append(fill(args, name))
        if args.phase in ("all", "time"):
            lines += timing(args, name)
    finally:
        if args.phase in ("all", "drop"):
            drop(args, name)
    if lines:
        print("\n".join(lines))
        OUT.mkdir(parents=True, exist_ok=True)
        with (OUT / "workflow_rates_bench.txt").open("a", encoding="utf-8") as out:
            out.write(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} {args.phase} {name}\n"
                      + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
