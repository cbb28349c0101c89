"""Shared set-up of the people-in-the-loop tests (issue 14): a fresh database holding the sample
street (its own, so the cases these tests file never reach other tests' counts), and accounts
of every role made on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.demo import load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.migrate import upgrade
from grid.residents.pii import generate_key
from grid.services import Services
from grid.users import add_user
from tests.conftest import DATA

STREET = "110105001"


def auth(token: str) -> dict[str, str]:
    """Headers for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Town:
    """The sample street with the accounts the tests act as."""

    svc: Services
    grid: str
    community: str
    other_community: str
    buildings: list[str]
    points: dict[str, tuple[float, float]]
    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, role: str, scope: str, department: str | None = None,
             name: str | None = None) -> str:
        """A new account; returns its token."""
        with self.svc.db.write() as session:
            _, token = add_user(session, name or f"{role}-{uuid.uuid4().hex[:8]}", role, scope,
                                department)
        return token


def town_settings(settings):
    """The test database's settings with a PII key (phones are stored encrypted)."""
    return settings.model_copy(update={"pii_key": generate_key()})


def make_town(svc: Services) -> Town:
    """Accounts on a database already holding the sample street."""
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        grid = store.units(session, version, Level.grid)[0]
        communities = store.units(session, version, Level.community)
        buildings = store.units(session, version, Level.building, parent_code=grid.code)
        points = {b.code: (p.x, p.y) for b in buildings
                  for p in [store.shape_of(b).representative_point()]}
    other = next(c.code for c in communities if c.code != grid.parent_code)
    town = Town(svc, grid.code, grid.parent_code, other, [b.code for b in buildings], points)
    town.tokens = {
        "admin": town.user("admin", ""),
        "street": town.user("street", STREET),
        "community": town.user("community", town.community),
        "other_community": town.user("community", other),
        "grid_worker": town.user("grid_worker", grid.code, name="网格员甲"),
        "party_org": town.user("party_org", STREET, department="区卫健委党委",
                               name="区卫健委党委"),
        "other_org": town.user("party_org", STREET, department="区教委党委", name="区教委党委"),
        "department": town.user("department", STREET[:6], department="城管执法"),
    }
    return town


@pytest.fixture(scope="module")
def town(databases, backend) -> Town:
    """A fresh database per module and backend, holding the sample street, with accounts."""
    svc = Services(town_settings(databases.new(backend)))
    upgrade(svc.db)
    load_sample(svc, DATA, say=lambda _line: None)
    yield make_town(svc)
    svc.close()


@pytest.fixture(scope="module")
def api(town):
    """An API client on the town's database."""
    with TestClient(create_app(town.svc.settings)) as client:
        yield client
