"""议事协商: residents and the community settle a local matter in recorded steps — Haidian's
大家商量着办 (确定商量议题 → 邀请商量代表 → 组织商量活动 → 办理商量事项 → 反馈办理结果) or Ya'an's
五议 (提议 → 商议 → 审议 → 决议 → 评议), or any procedure written in ``grid/data/people.yaml``.

A topic is raised (from residents, from a cluster of incidents, or as 每月一题) for the units it
concerns and walks its procedure's steps in order. Each step allows some actions (``does``) and
requires some on record before the topic moves on (``requires``): participants invited by
kind, meetings with minutes and attachments, options, the decision with its vote counts, the
tasks that follow (filed as incidents or placed as orders), the residents' evaluation, and the
public notice (阳光居务) — which shows the decision and no personal data.

``TOPIC_MOVES`` is the one table of who may do what in which state; the step's ``does`` adds
*when* in the procedure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from grid.errors import Conflict, InvalidInput, MoveNotAllowed, NotFound
from grid.hierarchy import store
from grid.incidents.ladder import RATINGS, Ladder
from grid.incidents.models import Attachment, Incident
from grid.orm import utcnow
from grid.people.common import STAFF, Actor, place_building, require_role, require_scope
from grid.people.config import PeopleBook, Procedure, Step
from grid.people.models import (
    Meeting,
    Order,
    Participant,
    Topic,
    TopicEntry,
    TopicOption,
    TopicTask,
)
from grid.people.orders import NewOrder, Orders


class TopicState(StrEnum):
    """Where a topic stands: being walked through its steps, or through all of them."""

    open = "open"
    closed = "closed"


class TopicMove(StrEnum):
    """What can be done to a topic; all but ``raise_`` and ``advance`` are step actions."""

    raise_ = "raise"
    describe = "describe"
    invite = "invite"
    meeting = "meeting"
    option = "option"
    decide = "decide"
    task = "task"
    evaluate = "evaluate"
    publish = "publish"
    advance = "advance"


RAISERS = frozenset({"grid_worker"}) | STAFF
#: move → (states it may be made in, roles that may make it).
TOPIC_MOVES: dict[TopicMove, tuple[frozenset[TopicState], frozenset[str]]] = {
    TopicMove.raise_: (frozenset(), RAISERS),
    **{move: (frozenset({TopicState.open}), STAFF)
       for move in TopicMove if move not in (TopicMove.raise_,)},
}
SOURCES = ("residents", "incidents", "monthly")


@dataclass
class VoteCount:
    """Votes on one option."""

    option_id: int
    votes_for: int
    votes_against: int = 0
    abstentions: int = 0


@dataclass
class TaskSpec:
    """A follow-up task: an incident (category) or an order (skills) at a building."""

    title: str
    kind: str
    building_code: str
    category: str | None = None
    skills: list[str] = field(default_factory=list)
    needed_at: datetime | None = None


class Deliberation:
    """The deliberation engine; every public method takes an open session."""

    def __init__(self, book: PeopleBook, ladder: Ladder, orders: Orders) -> None:
        self.book = book
        self.ladder = ladder
        self.orders = orders

    # -- reading -------------------------------------------------------------------------

    def procedure(self, topic: Topic) -> Procedure:
        """The topic's procedure."""
        return self.book.procedure(topic.procedure)

    def current_step(self, topic: Topic) -> Step | None:
        """The step the topic is at (None once closed)."""
        steps = self.procedure(topic).steps
        return steps[topic.step] if topic.step < len(steps) else None

    def get(self, session: Session, actor: Actor, topic_id: int) -> Topic:
        """A topic in the actor's scope (staff and grid workers)."""
        topic = session.get(Topic, topic_id)
        if topic is None:
            raise NotFound(f"议题 {topic_id} 不存在 topic {topic_id} not found")
        require_role(actor, RAISERS, "查看议题 see topics")
        require_scope(actor, topic.community_code, f"社区 {topic.community_code}")
        return topic

    def list(self, session: Session, actor: Actor, *, state: str | None = None,
             limit: int = 100, offset: int = 0) -> Sequence[Topic]:
        """Topics in the actor's scope, newest first."""
        require_role(actor, RAISERS, "查看议题 see topics")
        query = select(Topic).order_by(Topic.id.desc()).limit(limit).offset(offset)
        if actor.role != "admin":
            query = query.where(Topic.community_code.startswith(actor.scope_code))
        if state:
            query = query.where(Topic.state == state)
        return session.scalars(query).all()

    def public(self, session: Session, topic_id: int) -> Topic:
        """A published topic, for its public notice (no caller: anyone may read it)."""
        topic = session.get(Topic, topic_id)
        if topic is None or topic.published_at is None:
            raise NotFound(f"公示 {topic_id} 不存在 no public notice {topic_id}")
        return topic

    def done_on_step(self, topic: Topic, step: int) -> set[str]:
        """Actions on record at ``step``."""
        return {e.move for e in topic.log if e.step == step}

    def moves_for(self, topic: Topic, actor: Actor) -> list[str]:
        """What ``actor`` could do now (the page's buttons)."""
        step = self.current_step(topic)
        if step is None:
            return []
        found = []
        for move, (states, roles) in TOPIC_MOVES.items():
            if topic.state not in states or actor.role not in roles:
                continue
            if move == TopicMove.advance:
                if not self.missing(topic):
                    found.append(move.value)
            elif move.value in step.does:
                found.append(move.value)
        return found

    def missing(self, topic: Topic) -> list[str]:
        """What the current step still requires before the topic may move on."""
        step = self.current_step(topic)
        if step is None:
            return []
        done = self.done_on_step(topic, topic.step)
        return [r for r in step.requires if r not in done]

    # -- moves ---------------------------------------------------------------------------

    def _units(self, session: Session, actor: Actor, codes: list[str]) -> str:
        """Check the units exist and lie in one community in scope; return its code."""
        version = store.require_active_version(session).id
        found = {u.code: u for u in store.units(session, version, codes=codes)}
        unknown = [c for c in codes if c not in found]
        if unknown:
            raise InvalidInput(f"单元不存在 unknown units: {', '.join(unknown)}")
        communities = set()
        for code in codes:
            require_scope(actor, code)
            unit = found[code]
            while unit.level not in ("community", "street"):
                unit = store.get_unit(session, version, unit.parent_code)
            if unit.level != "community":
                raise InvalidInput(f"{code} 不在社区之内 is not inside a community")
            communities.add(unit.code)
        if len(communities) != 1:
            raise InvalidInput("议题的单元须同属一个社区 a topic's units lie in one community")
        return communities.pop()

    def raise_topic(self, session: Session, actor: Actor, *, title: str, description: str,
                    source: str, procedure: str, unit_codes: list[str],
                    source_ref: str = "", incident_ids: Sequence[int] = ()) -> Topic:
        """确定议题 / 提议: open a topic at its procedure's first step."""
        require_role(actor, TOPIC_MOVES[TopicMove.raise_][1], "提出议题 raise a topic")
        if source not in SOURCES:
            raise InvalidInput(f"未知来源 unknown source '{source}'; expected {SOURCES}")
        self.book.procedure(procedure)
        if source == "incidents":
            if not incident_ids:
                raise InvalidInput("事件聚类议题须列出事件 name the incidents of the cluster")
            for incident_id in incident_ids:
                self.ladder.get(session, actor, incident_id)
            source_ref = ",".join(str(i) for i in incident_ids)
        community = self._units(session, actor, list(dict.fromkeys(unit_codes)))
        topic = Topic(title=title, description=description, source=source,
                      source_ref=source_ref, procedure=procedure, step=0,
                      state=TopicState.open, community_code=community,
                      unit_codes=list(dict.fromkeys(unit_codes)), created_by=actor.name,
                      row_version=1)
        session.add(topic)
        session.flush()
        self._log(session, topic, actor, TopicMove.describe, title)
        return topic

    def _log(self, session: Session, topic: Topic, actor: Actor, move: TopicMove,
             note: str = "") -> Topic:
        topic.log.append(TopicEntry(move=move.value, step=topic.step, actor=actor.name,
                                    actor_role=actor.role, note=note, at=utcnow()))
        try:
            session.flush()
        except StaleDataError:
            raise Conflict(f"议题 {topic.id} 已被他人修改，请刷新 topic {topic.id} was changed by "
                           "someone else; reload") from None
        return topic

    def _start(self, session: Session, actor: Actor, topic_id: int, move: TopicMove) -> Topic:
        topic = self.get(session, actor, topic_id)
        states, roles = TOPIC_MOVES[move]
        require_role(actor, roles, f"{move} 议题 {move} a topic")
        if topic.state not in states:
            raise MoveNotAllowed(f"议题已结束 topic is {topic.state}",
                                 details={"state": topic.state})
        step = self.current_step(topic)
        if move != TopicMove.advance and move.value not in step.does:
            raise MoveNotAllowed(
                f"当前步骤“{step.label()}”不能 {move} step '{step.code}' does not allow {move}",
                details={"step": step.code, "does": step.does})
        return topic

    def describe(self, session: Session, actor: Actor, topic_id: int, title: str,
                 description: str) -> Topic:
        """Restate the topic."""
        topic = self._start(session, actor, topic_id, TopicMove.describe)
        topic.title, topic.description = title, description
        return self._log(session, topic, actor, TopicMove.describe, title)

    def invite(self, session: Session, actor: Actor, topic_id: int,
               people: Sequence[tuple[str, str, str | None]]) -> Topic:
        """Invite participants (kind, name, their building or unit) as the step names."""
        topic = self._start(session, actor, topic_id, TopicMove.invite)
        step = self.current_step(topic)
        allowed = step.invite or [k.code for k in self.book.participant_kinds]
        for kind, name, unit in people:
            if kind not in allowed:
                raise InvalidInput(f"此步骤不邀请 {kind} this step invites {allowed}")
            if unit:
                require_scope(actor, unit)
            topic.participants.append(Participant(kind=kind, name=name, unit_code=unit,
                                                  step=topic.step))
        return self._log(session, topic, actor, TopicMove.invite, f"{len(people)}")

    def meeting(self, session: Session, actor: Actor, topic_id: int, *, held_at: datetime,
                place: str, minutes: str, attendees: int,
                attachments: Sequence[int] = ()) -> Topic:
        """Record a meeting with its minutes and attachments (uploaded as for incidents)."""
        topic = self._start(session, actor, topic_id, TopicMove.meeting)
        for attachment_id in attachments:
            if session.get(Attachment, attachment_id) is None:
                raise InvalidInput(f"附件 {attachment_id} 不存在 attachment not found")
        topic.meetings.append(Meeting(step=topic.step, held_at=held_at, place=place,
                                      minutes=minutes, attendees=attendees,
                                      attachments=list(attachments) or None))
        return self._log(session, topic, actor, TopicMove.meeting, place)

    def option(self, session: Session, actor: Actor, topic_id: int, text: str) -> Topic:
        """Put an option to the vote."""
        topic = self._start(session, actor, topic_id, TopicMove.option)
        topic.options.append(TopicOption(text=text, chosen=False))
        return self._log(session, topic, actor, TopicMove.option, text)

    def decide(self, session: Session, actor: Actor, topic_id: int, *, votes: list[VoteCount],
               chosen: int, decision: str) -> Topic:
        """决议: the votes on each option and the decision taken."""
        topic = self._start(session, actor, topic_id, TopicMove.decide)
        options = {o.id: o for o in topic.options}
        if not options:
            raise MoveNotAllowed("尚无表决选项 no option has been put to the vote")
        if chosen not in options:
            raise InvalidInput(f"选项 {chosen} 不属于此议题 option {chosen} is not on this topic")
        for count in votes:
            option = options.get(count.option_id)
            if option is None:
                raise InvalidInput(f"选项 {count.option_id} 不属于此议题 option not on this topic")
            option.votes_for, option.votes_against, option.abstentions = (
                count.votes_for, count.votes_against, count.abstentions)
        for option in options.values():
            option.chosen = option.id == chosen
        topic.decision, topic.decided_at = decision, utcnow()
        return self._log(session, topic, actor, TopicMove.decide, decision)

    def task(self, session: Session, actor: Actor, topic_id: int, spec: TaskSpec) -> Topic:
        """A task that follows the decision: filed as an incident or placed as an order."""
        topic = self._start(session, actor, topic_id, TopicMove.task)
        if topic.decided_at is None:
            raise MoveNotAllowed("尚未决议 nothing has been decided yet")
        require_scope(actor, spec.building_code)
        task = TopicTask(title=spec.title)
        if spec.kind == "incident":
            if not spec.category:
                raise InvalidInput("事件任务需要类别 an incident task needs a category")
            place = place_building(session, spec.building_code)
            incident: Incident = self.ladder.report(
                session, actor, lon=place.lon, lat=place.lat, category=spec.category,
                description=f"议题 #{topic.id} 决议事项 from topic #{topic.id}: {spec.title}",
                source="resident")
            task.incident_id = incident.id
        elif spec.kind == "order":
            order: Order = self.orders.place(session, actor, NewOrder(
                title=spec.title, needed_at=spec.needed_at or utcnow(), skills=spec.skills,
                source="topic", building_code=spec.building_code,
                description=f"议题 #{topic.id} 决议事项 from topic #{topic.id}"),
                topic_id=topic.id)
            task.order_id = order.id
        else:
            raise InvalidInput("任务类型须为 incident 或 order task kind is incident or order")
        topic.tasks.append(task)
        return self._log(session, topic, actor, TopicMove.task, spec.title)

    def evaluate(self, session: Session, actor: Actor, topic_id: int, counts: dict[str, int],
                 note: str = "") -> Topic:
        """群众评议: the residents' evaluation, counted per rating."""
        topic = self._start(session, actor, topic_id, TopicMove.evaluate)
        unknown = set(counts) - set(RATINGS)
        if unknown or not counts or any(v < 0 for v in counts.values()):
            raise InvalidInput(f"评议须按 {', '.join(RATINGS)} 计数 counts per rating")
        topic.evaluation = {r: int(counts.get(r, 0)) for r in RATINGS}
        topic.evaluation_note = note
        return self._log(session, topic, actor, TopicMove.evaluate, note)

    def publish(self, session: Session, actor: Actor, topic_id: int) -> Topic:
        """阳光居务: publish the decision on the public notice page."""
        topic = self._start(session, actor, topic_id, TopicMove.publish)
        if topic.decided_at is None:
            raise MoveNotAllowed("尚未决议，无可公示 nothing decided to publish")
        topic.published_at = utcnow()
        return self._log(session, topic, actor, TopicMove.publish)

    def advance(self, session: Session, actor: Actor, topic_id: int, note: str = "") -> Topic:
        """Move on to the next step once the current one has what it requires; past the last
        step the topic is closed."""
        topic = self._start(session, actor, topic_id, TopicMove.advance)
        missing = self.missing(topic)
        if missing:
            step = self.current_step(topic)
            raise MoveNotAllowed(f"步骤“{step.label()}”尚缺 {', '.join(missing)} step "
                                 f"'{step.code}' still requires {missing}",
                                 details={"missing": missing})
        self._log(session, topic, actor, TopicMove.advance, note)
        topic.step += 1
        if topic.step >= len(self.procedure(topic).steps):
            topic.state = TopicState.closed
        session.flush()
        return topic

    def task_states(self, session: Session, topic: Topic) -> list[dict]:
        """Each task with the state of its incident or order."""
        rows = []
        for task in topic.tasks:
            target = (session.get(Incident, task.incident_id) if task.incident_id
                      else session.get(Order, task.order_id))
            rows.append({"id": task.id, "title": task.title, "incident_id": task.incident_id,
                         "order_id": task.order_id,
                         "state": target.state if target is not None else None})
        return rows
