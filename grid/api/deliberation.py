"""议事协商 topics walked through their procedure, and the public notice data (阳光居务):
thin routes over ``grid.people.deliberation``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.api.limits import RowId
from grid.api.people_schemas import (
    AdvanceBody,
    DecideBody,
    DescribeBody,
    EntryPublic,
    EvaluateBody,
    InviteBody,
    MeetingBody,
    MeetingPublic,
    OptionBody,
    OptionPublic,
    ParticipantPublic,
    StepInfo,
    TaskBody,
    TaskPublic,
    TopicCreate,
    TopicPublic,
)
from grid.people.deliberation import TaskSpec, VoteCount
from grid.people.models import Topic
from grid.services import Services

router = APIRouter(prefix="/api/v1/topics", tags=["deliberation"],
                   dependencies=[Depends(api_scope)])


def steps_info(svc: Services, topic: Topic) -> list[StepInfo]:
    """The procedure's steps, each with when the topic moved past it."""
    lang = svc.settings.language
    passed = {e.step: e.at for e in topic.log if e.move == "advance"}
    return [StepInfo(index=i, code=s.code, name=s.label(lang), does=s.does,
                     requires=s.requires, invite=s.invite, done_at=passed.get(i))
            for i, s in enumerate(svc.people.deliberation.procedure(topic).steps)]


def topic_public(svc: Services, session: Session, topic: Topic, user) -> TopicPublic:
    """A topic with everything on record and the moves the caller may make now."""
    engine = svc.people.deliberation
    return TopicPublic(
        id=topic.id, title=topic.title, description=topic.description, source=topic.source,
        source_ref=topic.source_ref, procedure=topic.procedure,
        procedure_name=engine.procedure(topic).label(svc.settings.language),
        state=topic.state, step=topic.step, steps=steps_info(svc, topic),
        missing=engine.missing(topic), community_code=topic.community_code,
        unit_codes=list(topic.unit_codes), decision=topic.decision,
        decided_at=topic.decided_at, evaluation=topic.evaluation,
        published_at=topic.published_at,
        participants=[ParticipantPublic.model_validate(p) for p in topic.participants],
        meetings=[MeetingPublic.model_validate(m) for m in topic.meetings],
        options=[OptionPublic.model_validate(o) for o in topic.options],
        tasks=[TaskPublic(**t) for t in engine.task_states(session, topic)],
        log=[EntryPublic.model_validate(e) for e in topic.log],
        moves=engine.moves_for(topic, user))


@router.post("", response_model=TopicPublic, status_code=201, summary="提出议题 raise a topic")
def raise_topic(svc: Svc, user: CurrentUser, session: WriteSession,
                body: TopicCreate) -> TopicPublic:
    """A topic from residents, a cluster of incidents or 每月一题, for the units it concerns,
    under a configured procedure (``haidian`` five steps, ``yaan`` 五议)."""
    topic = svc.people.deliberation.raise_topic(session, user, **body.model_dump())
    return topic_public(svc, session, topic, user)


@router.get("", response_model=list[TopicPublic], summary="议题 topics")
def topics(svc: Svc, user: CurrentUser, session: ReadSession,
           state: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100,
           offset: Annotated[int, Query(ge=0)] = 0) -> list[TopicPublic]:
    """Topics in the caller's scope, newest first."""
    found = svc.people.deliberation.list(session, user, state=state, limit=limit,
                                         offset=offset)
    return [topic_public(svc, session, t, user) for t in found]


@router.get("/{topic_id}", response_model=TopicPublic, summary="一个议题 one topic")
def topic(svc: Svc, user: CurrentUser, session: ReadSession, topic_id: RowId) -> TopicPublic:
    """One topic in the caller's scope."""
    found = svc.people.deliberation.get(session, user, topic_id)
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/describe", response_model=TopicPublic, summary="议题说明 restate")
def describe(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
             body: DescribeBody) -> TopicPublic:
    """Restate the topic's title and description."""
    found = svc.people.deliberation.describe(session, user, topic_id, body.title,
                                             body.description)
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/invite", response_model=TopicPublic, summary="邀请代表 invite")
def invite(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
           body: InviteBody) -> TopicPublic:
    """Invite participants of the kinds the step names."""
    people = [(p.kind, p.name, p.unit_code) for p in body.participants]
    found = svc.people.deliberation.invite(session, user, topic_id, people)
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/meetings", response_model=TopicPublic, summary="会议纪要 meeting")
def meeting(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
            body: MeetingBody) -> TopicPublic:
    """Record a meeting: when, where, minutes, attendance and attachments."""
    found = svc.people.deliberation.meeting(session, user, topic_id, **body.model_dump())
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/options", response_model=TopicPublic, summary="表决选项 option")
def option(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
           body: OptionBody) -> TopicPublic:
    """Put an option to the vote."""
    return topic_public(svc, session, svc.people.deliberation.option(session, user, topic_id,
                                                              body.text), user)


@router.post("/{topic_id}/decide", response_model=TopicPublic, summary="决议 decide")
def decide(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
           body: DecideBody) -> TopicPublic:
    """The vote counts and the decision."""
    votes = [VoteCount(**v.model_dump()) for v in body.votes]
    found = svc.people.deliberation.decide(session, user, topic_id, votes=votes,
                                           chosen=body.chosen, decision=body.decision)
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/tasks", response_model=TopicPublic, summary="办理事项 task")
def task(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
         body: TaskBody) -> TopicPublic:
    """A follow-up task, filed as an incident or placed as an order."""
    found = svc.people.deliberation.task(session, user, topic_id, TaskSpec(**body.model_dump()))
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/evaluate", response_model=TopicPublic, summary="群众评议 evaluate")
def evaluate(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
             body: EvaluateBody) -> TopicPublic:
    """The residents' evaluation, counted per rating."""
    found = svc.people.deliberation.evaluate(session, user, topic_id, dict(body.counts),
                                             body.note)
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/publish", response_model=TopicPublic, summary="公示 publish")
def publish(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId) -> TopicPublic:
    """阳光居务: publish the decision on the public notice page."""
    found = svc.people.deliberation.publish(session, user, topic_id)
    return topic_public(svc, session, found, user)


@router.post("/{topic_id}/advance", response_model=TopicPublic, summary="进入下一步 advance")
def advance(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: RowId,
            body: AdvanceBody) -> TopicPublic:
    """Move to the next step once the current one has what it requires."""
    found = svc.people.deliberation.advance(session, user, topic_id, body.note)
    return topic_public(svc, session, found, user)
