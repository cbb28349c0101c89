"""A longer schemathesis run over the whole OpenAPI than the test suite's, as the admin, on a
fresh database holding the sample street (SpatiaLite file or a throwaway PostGIS database).

    python scripts/fuzz_api.py --backend spatialite --examples 200 --seed 1
    python scripts/fuzz_api.py --backend postgis --examples 200 \
        --postgres postgresql://postgres@127.0.0.1:5432/postgres

Prints the requests sent, the statuses by class and every server error; exits 1 if any.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grid.api.app import create_app  # noqa: E402
from grid.demo import demo_users, load_sample  # noqa: E402
from grid.hierarchy import store  # noqa: E402
from grid.hierarchy.levels import Level  # noqa: E402
from grid.migrate import upgrade  # noqa: E402
from grid.services import Services  # noqa: E402
from grid.settings import Settings  # noqa: E402
from tests.helpers.fuzz import fuzz  # noqa: E402


def main() -> int:
    """Run, print, and answer 1 if any server error was seen."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("spatialite", "postgis"), default="spatialite")
    parser.add_argument("--examples", type=int, default=200, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        name = f"grid_fuzz_{uuid.uuid4().hex[:10]}"
        if args.backend == "spatialite":
            settings = Settings(database_url=f"sqlite:///{tmp}/{name}.db")
        else:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = make_url(args.postgres).set(drivername="postgresql+psycopg", database=name)
            settings = Settings(database_url=url.render_as_string(hide_password=False))
        try:
            return _run(settings, args, Path(tmp))
        finally:
            if args.backend == "postgis":
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(settings: Settings, args, tmp: Path) -> int:
    settings = settings.model_copy(update={"attachments_dir": tmp / "attachments"})
    svc = Services(settings)
    upgrade(svc.db)
    load_sample(svc, ROOT / "data" / "boundaries", say=lambda _line: None)
    with svc.db.read() as session:
        first_grid = store.units(session, store.require_active_version(session).id,
                                 Level.grid)[0].code
    admin = next(u for u in demo_users(svc, first_grid) if u.role == "admin")
    svc.close()
    result = fuzz(create_app(settings), admin.token, examples=args.examples,
                  seed_value=args.seed)
    print(f"{args.backend}: {result.summary()}")
    for line in result.server_errors:
        print("  ", line)
    return 1 if result.server_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
