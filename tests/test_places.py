"""Locate from memory (grid.spatial.places) gives exactly the database's answer, and sees
changes to Party organisations after a re-read and activations at once, on both stores."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sqlalchemy import select

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import PartyOrg
from grid.services import Services
from grid.spatial.locate import locate_point
from grid.spatial.places import PlaceDirectory


@pytest.fixture(scope="module")
def directory(demo):
    """A directory on the demo database, refreshed by hand (never on its own)."""
    places = PlaceDirectory(demo.db, demo.locators, fresh_seconds=3600)
    places.refresh()
    return places


def _points(demo, n=300, seed=3):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        street = store.units(session, version, Level.street)[0]
        minx, miny, maxx, maxy = store.shape_of(street).bounds
    rng = np.random.default_rng(seed)
    pad = 0.004  # some points outside the street: the nearest grid is named
    return zip(rng.uniform(minx - pad, maxx + pad, n), rng.uniform(miny - pad, maxy + pad, n),
               strict=True)


def test_same_answers_as_the_database(demo, directory):
    covered = outside = groups = 0
    for lon, lat in _points(demo):
        with demo.db.read() as session:
            expected = locate_point(session, demo.locators, float(lon), float(lat))
        found = directory.locate(float(lon), float(lat))
        assert found == expected
        covered += found.covered
        outside += found.nearest_grid is not None
        groups += bool(found.owners.resident_groups)
    assert covered > 100 and outside > 10 and groups > 0  # every kind of answer was compared


def test_party_org_change_shows_after_a_reread(demo, directory):
    lon, lat = next(p for p in _points(demo, seed=4)
                    if directory.locate(float(p[0]), float(p[1])).covered)
    grid = directory.locate(float(lon), float(lat)).codes[Level.grid]
    with demo.db.write() as session:
        org = session.scalar(select(PartyOrg).where(PartyOrg.unit_code == grid))
        old, org.secretary = org.secretary, "新书记"
    try:
        def secretary():
            link = directory.locate(float(lon), float(lat)).owners.link(Level.grid)
            return link.party_org.secretary

        assert secretary() == old  # the snapshot is not yet older than fresh_seconds
        directory.refresh()
        assert secretary() == "新书记"
    finally:
        with demo.db.write() as session:
            session.scalar(select(PartyOrg).where(PartyOrg.unit_code == grid)).secretary = old
        directory.refresh()


def test_stale_snapshot_is_reread_in_the_background(demo):
    places = PlaceDirectory(demo.db, demo.locators, fresh_seconds=0.05)
    lon, lat = next(iter(_points(demo, seed=5)))
    first = places.locate(float(lon), float(lat))  # no snapshot yet: from the database
    deadline = time.monotonic() + 30
    while places._snapshot is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert places._snapshot is not None
    read_at = places._snapshot.read_at
    time.sleep(0.1)
    assert places.locate(float(lon), float(lat)) == first  # stale: answered, re-read started
    while places._snapshot.read_at == read_at and time.monotonic() < deadline:
        time.sleep(0.05)
    assert places._snapshot.read_at > read_at
    places.invalidate()
    assert places._snapshot is None


def test_off_means_the_database_every_call(demo):
    places = PlaceDirectory(demo.db, demo.locators, fresh_seconds=0)
    lon, lat = next(iter(_points(demo, seed=6)))
    with demo.db.read() as session:
        expected = locate_point(session, demo.locators, float(lon), float(lat))
    assert places.locate(float(lon), float(lat)) == expected
    assert places._snapshot is None


def test_services_read_the_setting(demo):
    svc = Services(demo.settings.model_copy(update={"locate_cache_seconds": 0.0}))
    try:
        assert svc.places.fresh_seconds == 0
    finally:
        svc.close()
