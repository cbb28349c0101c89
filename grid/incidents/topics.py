"""每月一题 (the month's one problem), adopted and followed to closure.

``grid.incidents.hotspots.top_categories`` suggests the month's problem types; the street office
adopts one as its topic for the month, names the leader who answers for it (the category's
``leader`` in charge is the usual choice) and follows it: the topic's cases are the street's
cases of that category received from the first day of the topic's month (until the topic is
closed), and its trend is the received and solved count of each month from
``TREND_BEFORE`` months before the topic's month to the current one — the figure a street
watches fall as the problem is attacked. The street closes the topic with a conclusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from grid.errors import Conflict, Forbidden, InvalidInput, NotFound
from grid.incidents.hotspots import month_start
from grid.incidents.models import Incident
from grid.incidents.rates import SOLVED, month_bounds
from grid.orm import Base, UTCDateTime, utcnow

#: Months before the topic's month that its trend starts with (the baseline it is judged by).
TREND_BEFORE = 3
#: Unresolved states: the case still needs work.
UNRESOLVED = ("open", "whistled")
#: Roles that may adopt and close a street's topic (the street office; admins anywhere).
ADOPTERS = ("street", "admin")


class MonthlyTopic(Base):
    """A street's 每月一题: a category it attacks from a month on, with the lead in charge."""

    __tablename__ = "monthly_topic"
    __table_args__ = (UniqueConstraint("street_code", "month", "category",
                                       name="ux_monthly_topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    street_code: Mapped[str] = mapped_column(String(32))
    month: Mapped[str] = mapped_column(String(7))
    category: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    lead: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="active")
    adopted_by: Mapped[str] = mapped_column(String(100))
    adopted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    conclusion: Mapped[str] = mapped_column(Text, default="")


def _may_adopt(user, street: str) -> None:
    if user.role not in ADOPTERS or not user.covers(street):
        raise Forbidden(f"只有本街道可以确定每月一题 only the street office of {street} may "
                        "adopt or close its monthly topic")


def adopt(session: Session, user, *, street: str, month: str, category: str, title: str,
          lead: str, note: str = "", timezone: str = "Asia/Shanghai") -> MonthlyTopic:
    """Adopt ``category`` as the street's topic from ``month`` on, led by ``lead``."""
    _may_adopt(user, street)
    month_bounds(month, timezone)  # refuses a malformed month
    if not lead.strip():
        raise InvalidInput("请指定牵头人 name the lead who answers for the topic")
    taken = Conflict(f"{month} 已确定该题 this category is already the street's topic for "
                     f"{month}")
    if session.scalar(select(MonthlyTopic.id).where(
            MonthlyTopic.street_code == street, MonthlyTopic.month == month,
            MonthlyTopic.category == category)) is not None:
        raise taken
    topic = MonthlyTopic(street_code=street, month=month, category=category,
                         title=title.strip() or category, lead=lead.strip(), note=note,
                         adopted_by=user.name, adopted_at=utcnow())
    session.add(topic)
    try:
        session.flush()
    except IntegrityError:  # adopted meanwhile by another request: the unique index decides
        raise taken from None
    return topic


def get(session: Session, user, topic_id: int) -> MonthlyTopic:
    """One topic the user may see (NotFound outside the user's scope, as for incidents)."""
    topic = session.get(MonthlyTopic, topic_id)
    if topic is None or not user.covers(topic.street_code):
        raise NotFound(f"每月一题 {topic_id} 不存在 topic {topic_id} not found")
    return topic


def close(session: Session, user, topic_id: int, conclusion: str) -> MonthlyTopic:
    """结题: close a topic with its conclusion."""
    topic = get(session, user, topic_id)
    _may_adopt(user, topic.street_code)
    if topic.state == "closed":
        raise Conflict(f"每月一题 {topic_id} 已结题 topic {topic_id} is already closed")
    if not conclusion.strip():
        raise InvalidInput("请填写结题说明 write the conclusion the topic closes with")
    topic.state, topic.closed_by, topic.closed_at = "closed", user.name, utcnow()
    topic.conclusion = conclusion.strip()
    session.flush()
    return topic


def listing(session: Session, user, street: str) -> list[MonthlyTopic]:
    """The street's topics, newest month first."""
    if not user.covers(street):
        raise Forbidden(f"街道 {street} 不在您的范围内 street {street} is outside your scope")
    return list(session.scalars(select(MonthlyTopic).where(MonthlyTopic.street_code == street)
                                .order_by(MonthlyTopic.month.desc(), MonthlyTopic.id)))


def _scope(topic: MonthlyTopic, start: datetime):
    conditions = [Incident.street_code == topic.street_code,
                  Incident.category == topic.category, Incident.state != "merged",
                  Incident.created_at >= start]
    if topic.closed_at is not None:
        conditions.append(Incident.created_at < topic.closed_at)
    return conditions


def cases(session: Session, topic: MonthlyTopic, timezone: str, limit: int = 500
          ) -> list[Incident]:
    """The topic's cases: unresolved first, then newest first."""
    start, _ = month_bounds(topic.month, timezone)
    unresolved = case((Incident.state.in_(UNRESOLVED), 0), else_=1)
    return list(session.scalars(select(Incident).where(*_scope(topic, start))
                                .order_by(unresolved, Incident.created_at.desc()).limit(limit)))


@dataclass
class TopicMonth:
    """One month of a topic's trend."""

    month: str
    received: int
    solved: int
    unresolved: int


def trend(session: Session, topic: MonthlyTopic, timezone: str,
          now: datetime | None = None) -> list[TopicMonth]:
    """Received / solved / still unresolved per month, from ``TREND_BEFORE`` months before the
    topic's month to the current month (or the month it closed)."""
    start, _ = month_bounds(topic.month, timezone)
    first = month_start(start, TREND_BEFORE)
    last = (topic.closed_at or now or utcnow()).astimezone(start.tzinfo)
    months = []
    cursor = first
    while cursor <= last and len(months) < 36:
        months.append(cursor)
        cursor = month_start(cursor, -1)
    if not months:
        return []
    rows = session.execute(
        select(Incident.created_at, Incident.state)
        .where(Incident.street_code == topic.street_code, Incident.category == topic.category,
               Incident.state != "merged", Incident.created_at >= first,
               Incident.created_at < cursor)).all()
    out = {m.strftime("%Y-%m"): TopicMonth(m.strftime("%Y-%m"), 0, 0, 0) for m in months}
    for created, state in rows:
        key = created.astimezone(start.tzinfo).strftime("%Y-%m")
        if key in out:
            out[key].received += 1
            out[key].solved += state in SOLVED
            out[key].unresolved += state in UNRESOLVED
    return list(out.values())


def counts(session: Session, topic: MonthlyTopic, timezone: str) -> dict[str, int]:
    """The topic's cases by state."""
    start, _ = month_bounds(topic.month, timezone)
    rows = session.execute(select(Incident.state, func.count()).where(*_scope(topic, start))
                           .group_by(Incident.state))
    return dict(rows.all())
