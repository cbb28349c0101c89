"""The monthly three-rate ranking over a year of synthetic cases on PostGIS; the peer, in the
same run and database, is a plain ``count(*)`` of the month's cases.

    python benchmarks/workflow_rates_bench.py [--cases 200000] [--admin-url URL]
    python benchmarks/workflow_rates_bench.py --cases 24000000   # Beijing scale (hours to load)

Cases are generated in SQL (``generate_series``) over the sample street's six communities and
spread evenly over 2025; 10 % get a system escalation step, 30 % a callback (1 in 5 不满意),
so both joins of the rate queries have real work. Prints the ranking time, the count time and
their ratio; the output also goes to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from grid.demo import load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.models import Incident
from grid.incidents.rates import monthly_ranking
from grid.migrate import upgrade
from grid.services import Services
from grid.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
FILL = """
INSERT INTO incident (category, description, reporter, source, geom, boundary_version,
    street_code, community_code, grid_code, building_code, state, level, due_at, rating,
    created_by, created_at, updated_at, row_version, reopen_count)
SELECT 'Z001', '', 'bench', CASE WHEN g % 3 = 0 THEN 'hotline' ELSE 'patrol' END,
    ST_SetSRID(ST_MakePoint(116.4, 39.95), 4490), :version,
    :street, (CAST(:communities AS text[]))[1 + g % :n],
    (CAST(:communities AS text[]))[1 + g % :n] || '001', NULL,
    (ARRAY['open','resolved','closed','rated'])[1 + g % 4], 'grid', NULL, NULL, 'bench',
    timestamptz '2025-01-01 00:00+00' + (g * (365.0 * 86400 / :cases)) * interval '1 second',
    timestamptz '2025-01-01 00:00+00', 1, 0
FROM generate_series(1, :cases) AS g
"""
STEPS = """
INSERT INTO incident_step (incident_id, at, action, actor, actor_role, from_state, to_state,
    from_level, to_level, reason)
SELECT id, created_at, 'escalate', 'system', 'system', 'open', 'open', 'grid', 'community', ''
FROM incident WHERE id % 10 = 0
UNION ALL
SELECT id, created_at, 'rate', 'bench', 'community', 'closed', 'rated', 'grid', 'grid',
    CASE WHEN id % 5 = 0 THEN '不满意' ELSE '满意' END
FROM incident WHERE id % 10 IN (1, 2, 3)
"""


def main() -> None:
    """Fill, analyse, time the ranking and the peer."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--admin-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    name = f"grid_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(args.admin_url).set(drivername="postgresql+psycopg", database=name)
        svc = Services(Settings(database_url=url.render_as_string(hide_password=False)))
        upgrade(svc.db)
        load_sample(svc, ROOT / "data" / "boundaries", say=lambda _line: None)
        with svc.db.write() as session:
            version = store.require_active_version(session).id
            communities = [u.code for u in store.units(session, version, Level.community)]
            started = time.perf_counter()
            session.execute(text(FILL), {"version": version, "street": communities[0][:9],
                                         "communities": communities, "n": len(communities),
                                         "cases": args.cases})
            session.execute(text(STEPS))
        with svc.db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        load_s = time.perf_counter() - started
        start, end = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
        rank_s, count_s = [], []
        for _ in range(args.repeat):
            with svc.db.read() as session:
                t0 = time.perf_counter()
                ranking = monthly_ranking(session, "community", start, end,
                                          svc.settings.rate_weights)
                t1 = time.perf_counter()
                month = session.scalar(select(func.count()).select_from(Incident).where(
                    Incident.created_at >= start, Incident.created_at < end))
                t2 = time.perf_counter()
            rank_s.append(t1 - t0)
            count_s.append(t2 - t1)
        svc.close()
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    lines = [
        f"cases {args.cases} over 2025 (loaded in {load_s:.1f} s); June: {month} cases",
        f"monthly community ranking: best of {args.repeat} {min(rank_s) * 1000:.1f} ms; "
        f"lowest {ranking.lowest}",
        f"peer count(*) of the month: best {min(count_s) * 1000:.1f} ms; ratio "
        f"{min(rank_s) / min(count_s):.1f}×",
    ]
    print("\n".join(lines))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "workflow_rates_bench.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
