"""Browser sessions (登录会话) and one-time sign-in links.

A page is never opened with a bearer token in its URL (it would land in the access log, the
browser history and every Referer). Instead the browser holds a session cookie whose value is a
random session id, stored here only hashed; the session remembers the user (so their role and
scope) and carries the CSRF token the pages send back with every state-changing request.

A one-time sign-in link (``/signin/link/{code}``, printed by ``grid demo`` and ``grid user
link``) is the second way in: its code is good once and for a few minutes, and the page that
opens it trades it for a session at once, so what the access log shows is spent.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from grid.errors import InvalidInput, NotAuthenticated
from grid.orm import Base, UTCDateTime, utcnow
from grid.users import User, authenticate

#: How long a browser session lasts without being renewed by a new sign-in.
SESSION_HOURS = 12
#: How long a one-time sign-in link stays good.
LINK_MINUTES = 15


def _hash(secret: str) -> str:
    # 256-bit random secrets: a plain SHA-256 suffices (nothing to stretch).
    return hashlib.sha256(secret.encode()).hexdigest()


class WebSession(Base):
    """A signed-in browser: the hashed cookie value, its user and its CSRF token."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignInLink(Base):
    """A one-time sign-in code: good once, until ``expires_at``."""

    __tablename__ = "signin_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def start_session(session: Session, user: User, now: datetime | None = None
                  ) -> tuple[str, WebSession]:
    """A new browser session for ``user``; returns the cookie value (shown once) and the row."""
    now = now or utcnow()
    key = secrets.token_urlsafe(32)
    row = WebSession(key_hash=_hash(key), user_id=user.id, csrf=secrets.token_urlsafe(24),
                     created_at=now, expires_at=now + timedelta(hours=SESSION_HOURS))
    session.add(row)
    # Expired sessions go as new ones start: no sweep to schedule.
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.flush()
    return key, row


def sign_in_with_token(session: Session, token: str) -> tuple[str, WebSession, User]:
    """Exchange a bearer token (typed into the sign-in page) for a browser session."""
    user = authenticate(session, token.strip())
    key, row = start_session(session, user)
    return key, row, user


def session_user(session: Session, key: str | None, now: datetime | None = None
                 ) -> tuple[User, WebSession]:
    """The active user of the browser session ``key`` and the session, or NotAuthenticated."""
    if not key:
        raise NotAuthenticated("请先登录 please sign in")
    now = now or utcnow()
    found = session.execute(
        select(User, WebSession).join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.key_hash == _hash(key), User.active)).first()
    if found is None or found[1].expires_at < now:
        raise NotAuthenticated("登录已过期，请重新登录 the session has ended; please sign in again")
    return found[0], found[1]


def end_session(session: Session, key: str | None) -> None:
    """Sign out: the session's cookie value stops working at once."""
    if key:
        session.execute(delete(WebSession).where(WebSession.key_hash == _hash(key)))


def issue_link(session: Session, name: str, now: datetime | None = None) -> str:
    """A one-time sign-in code for the user ``name`` (good for ``LINK_MINUTES``)."""
    user = session.scalar(select(User).where(User.name == name, User.active))
    if user is None:
        raise InvalidInput(f"用户不存在 no active user '{name}'")
    now = now or utcnow()
    code = secrets.token_urlsafe(24)
    session.add(SignInLink(code_hash=_hash(code), user_id=user.id,
                           expires_at=now + timedelta(minutes=LINK_MINUTES)))
    session.flush()
    return code


def redeem_link(session: Session, code: str, now: datetime | None = None
                ) -> tuple[str, WebSession, User]:
    """Spend a one-time code: a browser session for its user, or NotAuthenticated when the
    code is unknown, used or expired. A code is spent by one UPDATE that only an unused row
    matches, so two browsers racing with one link get one session."""
    now = now or utcnow()
    link = session.scalar(select(SignInLink).where(SignInLink.code_hash == _hash(code)))
    if link is None or link.used_at is not None or link.expires_at < now:
        raise NotAuthenticated("登录链接无效或已使用 this sign-in link is not valid any more")
    spent = session.execute(
        SignInLink.__table__.update()
        .where(SignInLink.id == link.id, SignInLink.used_at.is_(None))
        .values(used_at=now))
    if spent.rowcount != 1:
        raise NotAuthenticated("登录链接无效或已使用 this sign-in link is not valid any more")
    user = session.get(User, link.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("用户已停用 the user is not active")
    key, row = start_session(session, user, now)
    return key, row, user
