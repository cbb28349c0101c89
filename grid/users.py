"""Users, roles, scopes and bearer tokens.

A user has one role and is scoped to one unit's subtree. Codes are hierarchical (a grid code
begins with its community's code, which begins with its street's), so "inside the scope" is a
prefix test on codes — the same test in Python and in SQL.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import datetime
from enum import StrEnum

from cachetools import TTLCache
from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from grid.errors import InvalidInput, NotAuthenticated
from grid.orm import Base, UTCDateTime, utcnow
from grid.scope import Scope


class Role(StrEnum):
    """What a user may do; the scope says where."""

    admin = "admin"
    gis = "gis"
    street = "street"
    community = "community"
    grid_worker = "grid_worker"
    department = "department"
    #: An in-service Party member (在职党员) serving where they live; scoped to that community.
    volunteer = "volunteer"
    #: A workplace Party organisation (单位党组织); ``department`` holds its name. Sees its own
    #: members' service counts and hours, never residents' data.
    party_org = "party_org"


#: Roles that work cases and residents inside their scope. Volunteers and workplace Party
#: organisations (issue 14) see neither: only orders offered to them, or their members' counts.
CASE_ROLES = frozenset({Role.admin, Role.gis, Role.street, Role.community, Role.grid_worker,
                        Role.department})


class User(Base):
    """A person or system that calls the API with a bearer token."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    scope_code: Mapped[str] = mapped_column(String(32), default="")
    department: Mapped[str | None] = mapped_column(String(60), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def covers(self, code: str | None) -> bool:
        """True when ``code`` lies in this user's subtree (admins see everything); the rule
        lives in ``grid.scope``."""
        return Scope.of(self).covers(code)


def _hash(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain SHA-256 (no salt, no stretching) suffices.
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    session: Session, name: str, role: str, scope_code: str, department: str | None = None
) -> tuple[User, str]:
    """Create a user and return it with its token, which is shown once and stored only hashed."""
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"未知角色 unknown role '{role}'; expected one of: {', '.join(Role)}"
        ) from None
    if role != Role.admin and not scope_code:
        raise InvalidInput("非管理员必须指定范围 a non-admin user needs --scope CODE")
    if role == Role.department and not department:
        raise InvalidInput("部门用户必须指定部门 a department user needs --department NAME")
    if role == Role.party_org and not department:
        raise InvalidInput("单位党组织用户必须指定组织名称 a party_org user needs --department "
                           "ORGANISATION")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise InvalidInput(f"用户已存在 user '{name}' already exists")
    token = secrets.token_urlsafe(32)
    user = User(
        name=name, role=role.value, scope_code=scope_code, department=department,
        token_hash=_hash(token),
    )
    session.add(user)
    session.flush()
    return user, token


def authenticate(session: Session, token: str | None) -> User:
    """The active user holding ``token``, or NotAuthenticated."""
    if not token:
        raise NotAuthenticated("需要登录令牌 a bearer token is required")
    user = session.scalar(select(User).where(User.token_hash == _hash(token), User.active))
    if user is None:
        raise NotAuthenticated("令牌无效 the token is not valid")
    return user


class TokenCache:
    """Users recently authenticated, by token hash, kept for ``ttl`` seconds.

    Every API call authenticates; without this, each one spends a pooled connection and a
    round trip on the same lookup. The price is staleness: a token rotated or a user
    deactivated keeps working for at most ``ttl`` seconds in each server process (set
    ``GRID_TOKEN_CACHE_SECONDS=0`` to look up every call). Cached users are detached
    snapshots, only read (name, role, scope, department).
    """

    def __init__(self, ttl: float, max_size: int = 10_000) -> None:
        self.ttl = ttl
        self._users: TTLCache[str, User] | None = (
            TTLCache(maxsize=max_size, ttl=ttl) if ttl > 0 else None)
        self._lock = threading.Lock()  # TTLCache is not thread-safe

    def get(self, token: str) -> User | None:
        """The cached user holding ``token``, while fresh."""
        if self._users is None:
            return None
        with self._lock:
            return self._users.get(_hash(token))

    def put(self, token: str, user: User) -> None:
        """Remember ``user`` (detached from its session) as the holder of ``token``."""
        if self._users is not None:
            with self._lock:
                self._users[_hash(token)] = user


def rotate_token(session: Session, name: str) -> str:
    """Give an existing user a new token (the old one stops working) and return it."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise InvalidInput(f"用户不存在 no user '{name}'")
    token = secrets.token_urlsafe(32)
    user.token_hash = _hash(token)
    return token
