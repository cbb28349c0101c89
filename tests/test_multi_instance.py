"""More than one machine (issue 15, item 5): two ``grid serve`` processes on one PostGIS.

Each "host" is a separate ``grid serve`` process on its own port with its own
``GRID_LOCATE_SNAPSHOT_DIR`` and ``TMPDIR`` (a host's local disk); both share one PostGIS
database, the only state they have in common besides two shared directories
(``GRID_ATTACHMENTS_DIR``, ``GRID_UPLOADS_DIR``) and the settings every host must carry alike
(``GRID_PII_KEY`` among them). The tests show what a load balancer in front of them needs:
a report taken by one host is located there and visible through the other; a boundary version
activated through one is seen by the other within its locate cache window; sweeps run from
both at once escalate, and deliver, each thing exactly once; a browser session, a one-time
sign-in link, an ``Idempotency-Key``, an attachment and a boundary upload mean the same on
either host; an account switched off stops on both within the token cache window; two hosts
starting on a new database both migrate it. And ``grid place --scheduler`` on a dask
scheduler with two worker processes writes the same bytes as one process.

PostGIS only, on purpose: SpatiaLite is the one-file store of a single host (its file cannot
be shared between machines), so "two hosts" has no SpatiaLite case. Not parametrised by the
``backend`` fixture, so these tests always run (the suite always has a PostGIS server).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from grid.api.schemas import IncidentDetail, LocationPublic
from grid.demo import demo_users, load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.incidents.ladder import SYSTEM
from grid.incidents.models import Incident, IncidentStep, Notification
from grid.migrate import upgrade
from grid.people.models import OrderStep
from grid.residents.pii import generate_key
from grid.services import Services
from grid.settings import Settings
from grid.spatial import snapshot
from grid.spatial.loader import load_boundaries
from tests.conftest import DATA, TEST_HOLIDAYS, auth

ROOT = Path(__file__).resolve().parents[1]
#: Rounds of the concurrent sweeps: once could be luck.
ROUNDS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@dataclass
class Host:
    """One machine: its environment (settings) and its ``grid serve`` process."""

    name: str
    env: dict[str, str]
    snapshot_dir: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        """The host's address."""
        return f"http://127.0.0.1:{self.port}"

    def serve(self, log: Path) -> None:
        """Start ``grid serve`` (as an operator would), logging to ``log``."""
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grid.cli", "serve", "--host", "127.0.0.1", "--port",
             str(self.port)], env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until ``/health`` answers."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"{self.name}: grid serve exited"
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code in (200, 503):
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{self.name}: grid serve did not start"
            time.sleep(0.2)

    def command(self, *args: str) -> subprocess.Popen:
        """Start one ``grid`` command with this host's settings (a cron job on this host)."""
        return subprocess.Popen([sys.executable, "-m", "grid.cli", *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self) -> None:
        """Stop the server (SIGTERM, as a service manager would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class City:
    """The shared database, its services (for setting up and checking), two hosts."""

    svc: Services
    settings: Settings
    tokens: dict[str, str]
    a: Host
    b: Host
    shared: Path


@pytest.fixture(scope="module")
def city(databases, tmp_path_factory) -> City:
    """The sample street on a fresh PostGIS database, served by two hosts."""
    tmp = tmp_path_factory.mktemp("hosts")
    settings = databases.new("postgis")
    svc = Services(settings)
    upgrade(svc.db)
    load_sample(svc, DATA, say=lambda _line: None)
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        first_grid = store.units(session, version, Level.grid)[0].code
    users = demo_users(svc, first_grid)
    tokens = {u.role if u.role != "department" else u.department: u.token for u in users}
    tokens["first_grid"] = first_grid
    shared = tmp / "shared"  # e.g. an NFS mount every host has
    common = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "GRID_DATABASE_URL": settings.database_url,
        "GRID_HOLIDAYS_FILE": str(TEST_HOLIDAYS),
        "GRID_ATTACHMENTS_DIR": str(shared / "attachments"),
        "GRID_UPLOADS_DIR": str(shared / "uploads"),
        "GRID_PII_KEY": generate_key(),  # one key for every host
    }
    hosts = []
    for name in ("a", "b"):
        local = tmp / f"host-{name}"  # the host's own disk, its /tmp included
        (local / "tmp").mkdir(parents=True)
        hosts.append(Host(name, {**common, "GRID_LOCATE_SNAPSHOT_DIR": str(local / "snapshot"),
                                 "TMPDIR": str(local / "tmp")}, local / "snapshot"))
    try:
        for host in hosts:  # started together, as after a deployment
            host.serve(tmp / f"host-{host.name}.log")
        for host in hosts:
            host.wait_ready()
        yield City(svc, settings, tokens, hosts[0], hosts[1], shared)
    finally:
        for host in hosts:
            host.stop()
        svc.close()


def _building_in(svc: Services, grid_code: str, version: int | None = None):
    """The first building of ``grid_code``, and a point inside it."""
    with svc.db.read() as session:
        version = version or store.require_active_version(session).id
        building = next(u for u in store.units(session, version, Level.building)
                        if u.parent_code == grid_code)
        point = store.shape_of(building).representative_point()
    return building.code, point.x, point.y


def _locate(host: Host, token: str, lon: float, lat: float) -> LocationPublic:
    r = httpx.get(host.base + "/api/v1/locate", params={"lon": lon, "lat": lat},
                  headers=auth(token), timeout=30)
    assert r.status_code == 200, (host.name, r.text)
    return LocationPublic.model_validate(r.json())


def _codes(location: LocationPublic) -> dict[str, str]:
    return {link.level: link.code for link in location.owners.chain}


def _report(host: Host, token: str, lon: float, lat: float, **extra) -> httpx.Response:
    return httpx.post(host.base + "/api/v1/incidents", headers=auth(token) | extra.pop(
        "headers", {}), json={"lon": lon, "lat": lat, "category": "Z005",
                              "description": "井盖缺失 a manhole cover is missing",
                              **extra}, timeout=30)


# -- one request, two hosts ---------------------------------------------------------------


def test_report_through_one_host_is_located_and_seen_through_the_other(city):
    grid = city.tokens["first_grid"]
    building, lon, lat = _building_in(city.svc, grid)
    worker = city.tokens["grid_worker"]
    # Both hosts place the point alike, each from the snapshot on its own disk.
    for host in (city.a, city.b):
        assert _codes(_locate(host, worker, lon, lat))["building"] == building
    r = _report(city.a, worker, lon, lat)
    assert r.status_code == 201, r.text
    made = IncidentDetail.model_validate(r.json())
    assert (made.grid_code, made.building_code) == (grid, building)
    # The other host reads the same row at once: cases live in PostGIS, not in a host.
    seen = httpx.get(f"{city.b.base}/api/v1/incidents/{made.id}", headers=auth(worker),
                     timeout=30)
    assert seen.status_code == 200, seen.text
    seen = IncidentDetail.model_validate(seen.json())
    assert (seen.grid_code, seen.building_code, seen.boundary_version) == (
        grid, building, made.boundary_version)
    assert [s.action for s in seen.steps] == ["report"]
    listed = httpx.get(f"{city.b.base}/api/v1/incidents", params={"unit": grid},
                       headers=auth(worker), timeout=30).json()
    assert made.id in [i["id"] for i in listed]
    # Each host wrote its own snapshot (nothing on one host's disk is read by the other).
    for host in (city.a, city.b):
        current = snapshot.current(host.snapshot_dir)
        assert current is not None and current.is_relative_to(host.snapshot_dir)


def test_idempotency_key_holds_across_hosts(city):
    """A phone retrying through the load balancer may reach the other host: the key is
    stored with the case (unique in the database), so the retry gets the same case."""
    _, lon, lat = _building_in(city.svc, city.tokens["first_grid"])
    worker = city.tokens["grid_worker"]
    key = {"Idempotency-Key": f"multi-{time.time_ns()}"}
    first = _report(city.a, worker, lon, lat, headers=key)
    assert first.status_code == 201, first.text
    again = _report(city.b, worker, lon, lat, headers=key)
    assert again.status_code == 200, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    # Both at once, one key: one case.
    key = {"Idempotency-Key": f"multi-race-{time.time_ns()}"}
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def send(host: Host) -> None:
        barrier.wait()
        answers.append(_report(host, worker, lon, lat, headers=key))

    threads = [threading.Thread(target=send, args=(h,)) for h in (city.a, city.b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200, 201], [r.text for r in answers]
    ids = {r.json()["id"] for r in answers}
    assert len(ids) == 1
    with city.svc.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Incident).where(
            Incident.client_key.endswith(f":{key['Idempotency-Key']}"))) == 1


def test_browser_sessions_and_links_work_on_either_host(city):
    """Sessions, their CSRF tokens and one-time links are rows in the database (hashed), not
    memory of the host that made them."""
    from grid.sessions import issue_link

    with city.svc.db.write() as session:
        code = issue_link(session, "admin")
    answers: list[tuple[str, httpx.Response]] = []
    barrier = threading.Barrier(2)

    def open_link(host: Host) -> None:
        barrier.wait()
        answers.append((host.name, httpx.get(f"{host.base}/signin/link/{code}", timeout=30)))

    threads = [threading.Thread(target=open_link, args=(h,)) for h in (city.a, city.b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = [(name, r) for name, r in answers if r.status_code == 303]
    assert len(spent) == 1, [(n, r.status_code) for n, r in answers]  # one link, one session
    assert sorted(r.status_code for _, r in answers) == [303, 401]
    made_on, response = spent[0]
    cookie = dict(response.cookies)
    other = city.b if made_on == "a" else city.a
    # The session made on one host opens pages on the other, with its CSRF token.
    page = httpx.get(other.base + "/work", cookies=cookie, timeout=30)
    assert page.status_code == 200, page.status_code
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    # Signing out on the other host ends the session everywhere at once.
    out = httpx.post(other.base + "/signout", cookies=cookie, data={"csrf": csrf},
                     headers={"Origin": other.base}, timeout=30)
    assert out.status_code == 303
    host = city.a if made_on == "a" else city.b
    assert httpx.get(host.base + "/work", cookies=cookie, timeout=30).status_code == 303


def test_a_deactivated_account_stops_on_every_host_within_the_token_window(city):
    """Each server process remembers an authenticated token for GRID_TOKEN_CACHE_SECONDS;
    an account switched off in the database stops working on every host within that."""
    from sqlalchemy import update

    from grid.users import User, add_user

    window = city.settings.token_cache_seconds
    with city.svc.db.write() as session:
        user, token = add_user(session, f"临时网格员{time.time_ns()}", "grid_worker",
                               city.tokens["first_grid"])
    for host in (city.a, city.b):  # now cached by both
        assert httpx.get(host.base + "/api/v1/incidents", headers=auth(token),
                         timeout=30).status_code == 200
    with city.svc.db.write() as session:
        session.execute(update(User).where(User.id == user.id).values(active=False))
    start = time.monotonic()
    stopped: dict[str, float] = {}
    while len(stopped) < 2:
        for host in (city.a, city.b):
            if host.name not in stopped and httpx.get(
                    host.base + "/api/v1/incidents", headers=auth(token),
                    timeout=30).status_code == 401:
                stopped[host.name] = time.monotonic() - start
        assert time.monotonic() - start < window + 30, stopped
        time.sleep(0.1)
    print(f"\naccount refused after {stopped} s (GRID_TOKEN_CACHE_SECONDS={window:g})")
    assert max(stopped.values()) <= window + 5  # the window, a poll, a loaded machine


def test_attachment_stored_through_one_host_is_served_by_the_other(city):
    """With GRID_ATTACHMENTS_DIR on storage every host mounts (the deployment's rule)."""
    worker = city.tokens["grid_worker"]
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    r = httpx.post(city.a.base + "/api/v1/incidents/attachments", headers=auth(worker),
                   files={"file": ("photo.png", png, "image/png")}, timeout=30)
    assert r.status_code == 201, r.text
    got = httpx.get(f"{city.b.base}/api/v1/incidents/attachments/{r.json()['id']}",
                    headers=auth(worker), timeout=30)
    assert got.status_code == 200, got.text
    assert got.content == png


def test_boundary_upload_checked_on_one_host_is_committed_on_the_other(city):
    """The upload (dry run) and its commit are two requests; with GRID_UPLOADS_DIR on shared
    storage the commit may land on either host."""
    admin = auth(city.tokens["admin"])
    files = {"file": ("street.geojson", (DATA / "street.geojson").read_bytes(),
                      "application/geo+json")}
    r = httpx.post(city.a.base + "/api/v1/gis/uploads", headers=admin, files=files,
                   data={"level": "street"}, timeout=60)
    assert r.status_code == 200, r.text
    upload = r.json()["upload_id"]
    assert upload and r.json()["report"]["errors"] == 0
    r = httpx.post(f"{city.b.base}/api/v1/gis/uploads/{upload}/commit", headers=admin,
                   json={"label": "经由另一台主机提交 committed through the other host"},
                   timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["report"]["committed"] is True
    version = r.json()["report"]["version"]
    with city.svc.db.read() as session:
        assert len(store.units(session, version, Level.street)) == 1
        assert store.require_active_version(session).id != version  # loaded, not active
    again = httpx.post(f"{city.a.base}/api/v1/gis/uploads/{upload}/commit", headers=admin,
                       json={}, timeout=60)
    assert again.status_code == 404  # spent on the other host


# -- activation ---------------------------------------------------------------------------


def _version_without(svc: Services, tmp: Path, building: str) -> int:
    """A new, inactive version: the sample street with one building demolished (its
    resident groups are not loaded into it)."""
    features = json.loads((DATA / "building.geojson").read_text())
    features["features"] = [f for f in features["features"]
                            if f["properties"]["code"] != building]
    path = tmp / "building.geojson"
    path.write_text(json.dumps(features, ensure_ascii=False))
    version = None
    for level in SPATIAL_LEVELS:
        source = path if level == Level.building else DATA / f"{level}.geojson"
        version = load_boundaries(svc.db, source, level, commit=True, version_id=version,
                                  label="拆除一栋楼 one building demolished").version_id
    return version


def _until_version(host: Host, token: str, lon: float, lat: float, version: int,
                   timeout: float) -> tuple[float, LocationPublic]:
    """Seconds until ``host`` answers a locate from ``version`` (polled every 50 ms)."""
    start = time.monotonic()
    while True:
        found = _locate(host, token, lon, lat)
        if found.version == version:
            return time.monotonic() - start, found
        assert time.monotonic() - start < timeout, (
            f"host {host.name} still answers version {found.version}, not {version}, "
            f"after {timeout:.1f} s")
        time.sleep(0.05)


def _reread_seconds(svc: Services, version: int, scratch: Path) -> float:
    """What one re-read of a new active version costs a host with a snapshot directory:
    building and writing that version's locate snapshot (measured on this machine now)."""
    start = time.monotonic()
    with svc.db.read() as session:
        snapshot.ensure(scratch, session, version)
    return time.monotonic() - start


def test_activation_through_one_host_reaches_the_other_within_its_window(city, tmp_path):
    window = city.settings.locate_cache_seconds  # GRID_LOCATE_CACHE_SECONDS, the documented
    grid = city.tokens["first_grid"]             # default: both hosts run with it
    building, lon, lat = _building_in(city.svc, grid)
    admin, worker = city.tokens["admin"], city.tokens["grid_worker"]
    with city.svc.db.read() as session:
        old = store.require_active_version(session).id
    new = _version_without(city.svc, tmp_path, building)
    for host in (city.a, city.b):  # both serve the old version from memory
        found = _locate(host, worker, lon, lat)
        assert found.version == old and _codes(found)["building"] == building
    # Activated through host A: A answers from the new version at once (it forgets its
    # snapshot), B within its window plus one re-read of the version (it built its own
    # locate snapshot for it meanwhile, answering from the old one).
    r = httpx.post(f"{city.a.base}/api/v1/versions/{new}/activate", headers=auth(admin),
                   timeout=60)
    assert r.status_code == 200, r.text
    found = _locate(city.a, worker, lon, lat)
    assert found.version == new and "building" not in _codes(found)
    assert _codes(found)["grid"] == grid
    waited, found = _until_version(city.b, worker, lon, lat, new, timeout=window + 120)
    reread = _reread_seconds(city.svc, new, tmp_path / "scratch")
    print(f"\nhost b saw the activation made through host a after {waited:.2f} s "
          f"(GRID_LOCATE_CACHE_SECONDS={window:g}; one re-read, i.e. building that "
          f"version's locate snapshot, takes {reread:.2f} s here)")
    assert "building" not in _codes(found) and _codes(found)["grid"] == grid
    assert waited <= window + 3 * reread + 5  # the window, one re-read, and a margin
    # A report taken by B now is placed in the new version.
    r = _report(city.b, worker, lon, lat)
    assert r.status_code == 201, r.text
    assert (r.json()["boundary_version"], r.json()["building_code"]) == (new, None)
    assert snapshot.open_current(city.b.snapshot_dir, new) is not None  # B's own disk
    # And back (a rollback), through B this time: A follows within its window.
    r = httpx.post(f"{city.b.base}/api/v1/versions/{old}/activate", headers=auth(admin),
                   timeout=60)
    assert r.status_code == 200, r.text
    waited, found = _until_version(city.a, worker, lon, lat, old, timeout=window + 120)
    print(f"host a saw the rollback made through host b after {waited:.2f} s")
    assert _codes(found)["building"] == building
    assert waited <= window + 3 * reread + 5
    r = _report(city.a, worker, lon, lat)
    assert r.status_code == 201, r.text
    assert (r.json()["boundary_version"], r.json()["building_code"]) == (old, building)


# -- sweeps from both hosts -----------------------------------------------------------------


def _overdue_incidents(svc: Services, count: int) -> list[int]:
    """``count`` incidents reported ten days ago: their grid-level limit has run out."""
    past = datetime.now(UTC) - timedelta(days=10)
    with svc.db.write() as session:
        version = store.require_active_version(session).id
        buildings = store.units(session, version, Level.building)
        ids = []
        for i in range(count):
            p = store.shape_of(buildings[(i * 7) % len(buildings)]).representative_point()
            ids.append(svc.ladder.report(session, SYSTEM, lon=p.x, lat=p.y, category="Z005",
                                         now=past).id)
    return ids


def _overdue_orders(city: City, count: int) -> list[int]:
    """``count`` orders placed through host A whose time to be taken has run out."""
    from sqlalchemy import update

    from grid.people.models import Order

    ids = []
    for _ in range(count):
        r = httpx.post(city.a.base + "/api/v1/orders", headers=auth(city.tokens["grid_worker"]),
                       json={"title": "陪老人看病", "skills": ["elderly"],
                             "needed_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
                             "lon": None, "lat": None, "requester_name": "王大爷",
                             "building_code": _building_in(city.svc,
                                                           city.tokens["first_grid"])[0]},
                       timeout=30)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    with city.svc.db.write() as session:
        session.execute(update(Order).where(Order.id.in_(ids))
                        .values(take_due_at=datetime.now(UTC) - timedelta(minutes=1)))
    return ids


class _Barrier:
    """Holds the tables the sweeps lock (``EXCLUSIVE``: plain reads pass, ``SELECT … FOR
    UPDATE`` waits) until both sweeps are waiting on it, then lets them go together: the
    two sweeps provably overlap, whatever their start-up times."""

    def __init__(self, settings: Settings, tables: str) -> None:
        self.url, self.tables = _libpq(settings.database_url), tables

    def __enter__(self) -> _Barrier:
        self.conn = psycopg.connect(self.url)
        self.conn.execute(f"LOCK TABLE {self.tables} IN EXCLUSIVE MODE")
        return self

    def release_when_waiting(self, processes: list[subprocess.Popen], waiting: int,
                             timeout: float = 120) -> None:
        """Release once ``waiting`` other sessions wait for the lock."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url, autocommit=True) as watcher:
            while True:
                blocked = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> %s",
                    (self.conn.info.backend_pid,)).fetchone()[0]
                if blocked >= waiting:
                    break
                for p in processes:
                    assert p.poll() is None, p.communicate()
                assert time.monotonic() < deadline, "the sweeps never reached the lock"
                time.sleep(0.05)
        self.conn.rollback()

    def __exit__(self, *exc) -> None:
        self.conn.close()


def _moved(output: str, label: str) -> list[int]:
    """The ids a sweep printed after ``label`` (the console wraps long lists)."""
    found = re.search(label + r": (\d+)(?:\s+\[([\d,\s]*)\])?", output)
    assert found, output
    ids = [int(x) for x in (found.group(2) or "").replace(",", " ").split()]
    assert len(ids) == int(found.group(1)), output
    return ids


def test_sweeps_from_both_hosts_escalate_each_case_once(city):
    """``grid escalate-due`` as both hosts' cron would run it, at the same moment (the server
    runs no sweep of its own): each overdue incident gets one new ladder step and one
    notification, each overdue order one escalation, whoever takes it. Five rounds, each with
    the two sweeps released together and in small batches, so their batches interleave."""
    split = []
    for _ in range(ROUNDS):
        incidents = _overdue_incidents(city.svc, 40)
        orders = _overdue_orders(city, 3)
        with _Barrier(city.settings, "incident, service_order") as barrier:
            sweeps = [host.command("escalate-due", "--batch", "5") for host in (city.a, city.b)]
            barrier.release_when_waiting(sweeps, waiting=2)
        outputs = [p.communicate(timeout=120) for p in sweeps]
        assert all(p.returncode == 0 for p in sweeps), outputs
        by_host = [_moved(out, "escalated") for out, _ in outputs]
        ours = [i for moved in by_host for i in moved if i in set(incidents)]
        assert sorted(ours) == sorted(incidents)  # each moved by exactly one host
        order_moves = [i for out, _ in outputs for i in _moved(out, "orders escalated")
                       if i in set(orders)]
        assert sorted(order_moves) == sorted(orders)
        split.append(tuple(len(set(m) & set(incidents)) for m in by_host))
        with city.svc.db.read() as session:
            steps = session.execute(
                select(IncidentStep.incident_id, IncidentStep.id)
                .where(IncidentStep.incident_id.in_(incidents),
                       IncidentStep.action == "escalate")).all()
            assert Counter(i for i, _ in steps) == Counter(incidents)  # one step each
            assert {session.get(Incident, i).level for i in incidents} == {"community"}
            keys = session.scalars(select(Notification.key)
                                   .where(Notification.incident_id.in_(incidents))).all()
            told = Counter(tuple(k.split(":")[:2]) for k in keys)
            for incident, step in steps:  # the community, told once per escalation
                assert told[(str(incident), str(step))] == 1
            order_steps = session.scalars(
                select(OrderStep.order_id).where(OrderStep.order_id.in_(orders),
                                                 OrderStep.move == "escalate")).all()
            assert Counter(order_steps) == Counter(orders)
    print(f"\nincidents escalated by host a / host b in each round: {split}")


class _Webhook(BaseHTTPRequestHandler):
    received: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["key"] == self.headers["Idempotency-Key"]
        with self.lock:
            self.received.append(body["key"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        """Quiet."""


def test_notifications_sent_once_when_both_hosts_deliver(city):
    """``grid workflow notify --webhook`` from both hosts at once: every queued message
    reaches the receiver exactly once."""
    _overdue_incidents(city.svc, 30)  # more messages to send
    with city.svc.db.read() as session:
        unsent = set(session.scalars(select(Notification.key)
                                     .where(Notification.sent_at.is_(None))).all())
    assert len(unsent) >= 30
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with _Barrier(city.settings, "notification") as barrier:
            senders = [h.command("workflow", "notify", "--webhook", url)
                       for h in (city.a, city.b)]
            barrier.release_when_waiting(senders, waiting=2)
        outputs = [p.communicate(timeout=120) for p in senders]
    finally:
        server.shutdown()
    assert all(p.returncode == 0 for p in senders), outputs
    received = Counter(_Webhook.received)
    assert set(received) == unsent
    assert set(received.values()) == {1}
    with city.svc.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.sent_at.is_(None))) == 0


# -- grid place on a dask.distributed cluster -------------------------------------------------


def _points(path: Path, rows: int, bounds: tuple[float, float, float, float]) -> pd.DataFrame:
    """Points over ``bounds`` (the sample street's, so some fall outside it), a few unusable,
    written to ``path`` as Parquet in row groups of 7,000 (so dask's partitions are not the
    single run's chunks)."""
    rng = np.random.default_rng(15)
    x0, y0, x1, y1 = bounds
    frame = pd.DataFrame({
        "case_id": [f"C{i:07d}" for i in range(rows)],
        "lon": rng.uniform(x0, x1, rows), "lat": rng.uniform(y0, y1, rows),
        "note": rng.choice(["路灯不亮", "垃圾未清", "", None], rows),
        "count": rng.integers(0, 9, rows)})
    frame.loc[5, "lon"], frame.loc[7, "lat"], frame.loc[11, "lon"] = np.nan, 95.0, 1e9
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   row_group_size=7000)
    return frame


@pytest.fixture(scope="module")
def dask_cluster(city, tmp_path_factory):
    """A dask scheduler and two single-threaded workers, each its own process (as on two
    machines), importing this tree; no GRID_ setting reaches them (no database either)."""
    env = {k: v for k, v in city.a.env.items() if not k.startswith("GRID_")}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    processes = [subprocess.Popen(
        [*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
        env=env, stdout=(logs / "scheduler.log").open("wb"), stderr=subprocess.STDOUT)]
    try:
        for i in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                 "1", "--nworkers", "1", "--no-dashboard", "--name", f"worker-{i}"],
                env=env, stdout=(logs / f"worker-{i}.log").open("wb"),
                stderr=subprocess.STDOUT))
        from dask.distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(processes):
            p.terminate()
        for p in processes:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_place_on_two_dask_workers_writes_the_same_bytes(city, dask_cluster, tmp_path):
    """``grid place --scheduler`` on a cluster of two worker processes against one process:
    byte-identical Parquet (row groups of a fixed size whatever the partitions, no
    timestamps in the format) and CSV; GeoPackage stores a write time, so its decoded
    layer is compared instead."""
    with city.svc.db.read() as session:
        version = store.require_active_version(session).id
        bounds = store.shape_of(store.units(session, version, Level.street)[0]).bounds
    source = tmp_path / "cases.parquet"
    frame = _points(source, 230_000, bounds)  # several output row groups
    small = tmp_path / "few.parquet"
    _points(small, 20_000, bounds)  # GeoPackage writing is slow; fewer rows suffice

    def place(source: Path, out: str, *extra: str) -> None:
        run = subprocess.run(
            [sys.executable, "-m", "grid.cli", "place", str(source), "--out",
             str(tmp_path / out), "--chunk-rows", "50000", *extra],
            env=city.a.env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr

    for out, data in (("parquet", source), ("csv", source), ("gpkg", small)):
        place(data, f"one.{out}")
        place(data, f"dask.{out}", "--scheduler", dask_cluster)
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    placed = pq.read_table(tmp_path / "one.parquet")
    layout = pq.ParquetFile(tmp_path / "one.parquet").metadata
    assert [layout.row_group(i).num_rows for i in range(layout.num_row_groups)] == [
        100_000, 100_000, 30_000]
    assert placed.num_rows == len(frame)
    assert placed.column("case_id").to_pylist() == frame["case_id"].tolist()  # file order
    placed_rows = sum(1 for c in placed.column("grid_code").to_pylist() if c)
    outside = sum(placed.column("outside").to_pylist())
    assert placed_rows > len(frame) // 2 and outside > 0  # most placed, some outside
    assert sum(1 for p in placed.column("problem").to_pylist() if p) == 3
    import pyogrio

    one = pyogrio.read_dataframe(tmp_path / "one.gpkg")
    spread = pyogrio.read_dataframe(tmp_path / "dask.gpkg")
    pd.testing.assert_frame_equal(one, spread, check_exact=True)
    assert one.geometry.to_wkb().tolist() == spread.geometry.to_wkb().tolist()
    assert len(one) == 20_000


# -- start-up ---------------------------------------------------------------------------------


def test_hosts_starting_together_on_a_fresh_database_both_migrate(databases):
    """Every host brings the schema up to date as it starts; two at once on a new database
    must both succeed (the upgrade holds an advisory lock). Three rounds, a new database each."""
    for _ in range(3):
        settings = databases.new("postgis")
        env = {**os.environ, "GRID_DATABASE_URL": settings.database_url,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        starts = [subprocess.Popen([sys.executable, "-m", "grid.cli", "migrate"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in starts]
        assert [p.returncode for p in starts] == [0, 0], outputs
        with psycopg.connect(_libpq(settings.database_url)) as conn:
            heads = conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
            assert heads >= 1
            assert conn.execute("SELECT to_regclass('incident')").fetchone()[0] == "incident"
