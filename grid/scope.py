"""Scope (管辖范围): the one place that decides which rows and fields a caller may see or touch.

Every router declares one of three route dependencies (``grid.api.deps``: ``api_scope``,
``page_scope``, ``public_scope``), each of which yields a :class:`Scope`; every query that
reads incidents, hotline addresses, residents or three-rate figures for a caller filters with
the scope's clauses here, so a new endpoint gets the same rule by calling the same function,
and a route without one of the dependencies fails ``tests/test_scope_matrix.py``.

The rule (the README's "Security model" table states it for users):

* **Where.** A user is scoped to one unit's subtree. Codes are hierarchical (a grid code begins
  with its community's, which begins with its street's), so "inside" is a prefix test on
  codes, escaped (``%`` and ``_`` are literal), the same in Python and SQL. Admins (and the
  system's own sweep) are everywhere.
* **Which incidents.** Those whose grid is inside the scope; a department sees only the cases
  it was summoned to (吹哨报到).
* **Which contacts.** A grid worker's phone is the number posted on the community's notice
  board for residents to call: every signed-in role sees it everywhere. A Party secretary's
  contact is a personal phone: shown only to roles that work with residents face to face
  (admin, street, community, grid_worker) and only for units in their line — the units inside
  their scope and the units above it (a grid worker may call their own community's secretary).
* **Boundaries** (codes, names, shapes, Party organisations' names and secretaries' names)
  are not personal data: every signed-in role sees them everywhere, as locate must answer
  for any point.
* **The whole city.** Committing, activating or rolling back a boundary version replaces every
  unit at once, so it needs a scope that covers every street of both versions
  (:func:`require_city`): a ``gis`` user scoped to one community cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, false, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from grid.errors import Forbidden

#: Roles that work cases (grid.users.CASE_ROLES, and the system): the rest — in-service Party
#: members volunteering, workplace Party organisations (issue 14) — see no incident at all.
CASE_ROLE_NAMES = frozenset({"admin", "system", "gis", "street", "community", "grid_worker",
                             "department"})
#: Roles that see the whole city whatever their scope code.
EVERYWHERE_ROLES = frozenset({"admin", "system"})
#: Roles that work with residents face to face: personal contacts in their line are shown.
CONTACT_ROLES = frozenset({"admin", "street", "community", "grid_worker"})


@dataclass(frozen=True)
class Scope:
    """Where a caller may look and act: a role, a unit-code prefix and (departments) a
    department. ``public`` is the anonymous reader of the public Open311 feed."""

    role: str
    code: str = ""
    department: str | None = None
    name: str = ""
    public: bool = False

    @classmethod
    def of(cls, user) -> Scope:
        """The scope of a ``grid.users.User`` (or any actor with role/scope_code/department)."""
        return cls(role=user.role, code=getattr(user, "scope_code", "") or "",
                   department=getattr(user, "department", None),
                   name=getattr(user, "name", ""))

    @property
    def everywhere(self) -> bool:
        """True for admins and the system: no code limits them."""
        return self.role in EVERYWHERE_ROLES and not self.public

    def covers(self, code: str | None) -> bool:
        """True when the unit ``code`` lies in this scope's subtree."""
        if self.everywhere:
            return True
        return bool(code and self.code) and code.startswith(self.code)

    def in_line(self, code: str | None) -> bool:
        """True when ``code`` is inside the scope or one of the units above it."""
        return self.covers(code) or bool(code and self.code and self.code.startswith(code))

    def codes(self, column) -> ColumnElement[bool]:
        """SQL: ``column`` (a unit code) lies in this scope (false for the public)."""
        if self.everywhere:
            return true()
        if not self.code or self.public:
            return false()
        return column.startswith(self.code, autoescape=True)

    # -- incidents --------------------------------------------------------------------------

    def incidents(self) -> ColumnElement[bool]:
        """SQL: the incidents this scope may see (``Incident`` columns)."""
        from grid.incidents.models import Incident, Summons

        if self.role not in CASE_ROLE_NAMES:
            return false()
        clause = self.codes(Incident.grid_code)
        if self.role == "department":
            clause = and_(clause, Incident.summonses.any(Summons.department == self.department))
        return clause

    def sees(self, incident) -> bool:
        """Whether this scope may see ``incident`` (the Python twin of :meth:`incidents`)."""
        if self.role not in CASE_ROLE_NAMES or not self.covers(incident.grid_code):
            return False
        if self.role == "department":
            return any(s.department == self.department for s in incident.summonses)
        return True

    def visible_ids(self, session: Session, ids: list[int]) -> set[int]:
        """Which of the incident ``ids`` this scope may see (one query)."""
        from grid.incidents.models import Incident

        if not ids:
            return set()
        return set(session.scalars(select(Incident.id).where(Incident.id.in_(ids),
                                                             self.incidents())))

    # -- fields -----------------------------------------------------------------------------

    def shows_party_contact(self, unit_code: str | None) -> bool:
        """Whether a Party secretary's contact for ``unit_code`` is shown (see module doc)."""
        return not self.public and self.role in CONTACT_ROLES and self.in_line(unit_code)


#: The anonymous reader (public Open311 reads): no rows by scope, no personal fields.
PUBLIC = Scope(role="public", public=True)


def require_city(session: Session, scope: Scope, version_ids: list[int | None], what: str
                 ) -> None:
    """Forbidden unless ``scope`` covers every street of the given boundary versions (a
    version replaces the whole city at once)."""
    from grid.hierarchy.levels import Level
    from grid.hierarchy.models import Unit
    from grid.hierarchy.store import alive_in

    if scope.everywhere:
        return
    for version_id in (v for v in version_ids if v is not None):
        outside = session.scalar(select(Unit.code).where(
            alive_in(version_id), Unit.level == Level.street.value,
            ~scope.codes(Unit.code)).limit(1))
        if outside is not None:
            raise Forbidden(
                f"{what}需要全市范围：街道 {outside} 不在您的范围内 {what} needs a scope covering "
                f"the whole city; street {outside} is outside yours")
