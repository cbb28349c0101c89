"""Request and response models of the people in the loop (issue 14): members, orders,
deliberation topics, rounds. Inputs are bounded here, so a bad request is refused (422)
before any query."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from grid.api.limits import RowId

Code = Annotated[str, Field(pattern=r"^[0-9A-Za-z]{1,32}$")]
Skill = Annotated[str, Field(pattern=r"^[a-z_]{1,30}$")]
Text = Annotated[str, Field(max_length=4000)]
Rating = Literal["满意", "基本满意", "不满意"]
Lon = Annotated[float, Field(ge=73, le=136)]
Lat = Annotated[float, Field(ge=3, le=54)]


class Public(BaseModel):
    """Base of response models: built from domain objects' attributes."""

    model_config = ConfigDict(from_attributes=True)


# -- members ------------------------------------------------------------------------------------


class MemberCreate(BaseModel):
    """双报到: a volunteer's registration with their home community."""

    name: str = Field(min_length=1, max_length=100)
    workplace_org: str = Field(min_length=1, max_length=100, description="工作单位党组织")
    building_code: Code | None = Field(default=None, description="住址楼栋编码")
    address: str | None = Field(default=None, max_length=300, description="或住址")
    phone: str | None = Field(default=None, max_length=20)
    skills: list[Skill] = Field(default_factory=list, max_length=20)
    availability: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=list, max_length=7, description="可服务日 1=周一 … 7=周日")


class MemberPublic(Public):
    id: int
    user_name: str
    name: str
    phone: str | None
    workplace_org: str
    building_code: str
    grid_code: str
    community_code: str
    skills: list[str]
    availability: list[int]
    state: str
    registered_at: datetime
    confirmed_at: datetime | None
    moves: list[str]


class ServicePublic(Public):
    """A member's service as their workplace organisation sees it: no resident data."""

    member_id: RowId
    name: str
    community_code: str
    state: str
    orders_taken: int
    orders_done: int
    hours: float


# -- orders -------------------------------------------------------------------------------------


class OrderCreate(BaseModel):
    """下单: a need at a building (or a point), for a time, with the skills wanted."""

    title: str = Field(min_length=1, max_length=200)
    description: Text = ""
    skills: list[Skill] = Field(default_factory=list, max_length=10)
    source: Literal["resident", "community", "party_org"] = "resident"
    building_code: Code | None = None
    lon: Lon | None = None
    lat: Lat | None = None
    needed_at: AwareDatetime
    requester_name: str = Field(default="", max_length=100)
    requester_phone: str | None = Field(default=None, max_length=20)


class FromIncidentBody(BaseModel):
    """An incident turned into an order."""

    title: str = Field(min_length=1, max_length=200)
    skills: list[Skill] = Field(default_factory=list, max_length=10)
    needed_at: AwareDatetime
    description: Text = ""


class FinishBody(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="服务情况")
    hours: float = Field(gt=0, le=24, description="服务时长（小时）")
    attachments: list[int] = Field(default_factory=list, max_length=10)


class OrderRateBody(BaseModel):
    rating: Rating
    note: str = Field(default="", max_length=2000)


class OrderReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class ReofferBody(BaseModel):
    radius_m: float = Field(gt=0, le=20000, description="派单半径（米）")


class ToIncidentBody(BaseModel):
    category: str = Field(min_length=1, max_length=10)
    note: str = Field(default="", max_length=2000)


class OfferPublic(Public):
    member_id: RowId
    member_name: str
    rank: int
    distance_m: float


class OrderStepPublic(Public):
    at: datetime
    move: str
    actor: str
    actor_role: str
    from_state: str | None
    to_state: str
    note: str
    attachments: list[int] | None


class OrderPublic(Public):
    id: int
    title: str
    description: str
    skills: list[str]
    source: str
    requester_name: str
    requester_phone: str | None
    lon: float
    lat: float
    building_code: str | None
    grid_code: str
    community_code: str
    needed_at: datetime
    state: str
    level: str
    take_due_at: datetime | None
    taker: str | None
    taken_at: datetime | None
    done_at: datetime | None
    hours: float | None
    rating: str | None
    incident_id: RowId | None
    link: str | None
    topic_id: RowId | None
    created_by: str
    created_at: datetime
    offers: list[OfferPublic]
    steps: list[OrderStepPublic]
    moves: list[str]


# -- deliberation -------------------------------------------------------------------------------


class TopicCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: Text = ""
    source: Literal["residents", "incidents", "monthly"]
    source_ref: str = Field(default="", max_length=200, description="每月一题: 题目")
    procedure: str = Field(pattern=r"^[a-z_]{1,30}$")
    unit_codes: list[Code] = Field(min_length=1, max_length=50)
    incident_ids: list[int] = Field(default_factory=list, max_length=200)


class DescribeBody(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: Text = ""


class Invitee(BaseModel):
    kind: str = Field(pattern=r"^[a-z_]{1,30}$")
    name: str = Field(min_length=1, max_length=100)
    unit_code: Code | None = None


class InviteBody(BaseModel):
    participants: list[Invitee] = Field(min_length=1, max_length=200)


class MeetingBody(BaseModel):
    held_at: AwareDatetime
    place: str = Field(default="", max_length=200)
    minutes: str = Field(min_length=1, max_length=20000)
    attendees: int = Field(default=0, ge=0, le=100000)
    attachments: list[int] = Field(default_factory=list, max_length=20)


class OptionBody(BaseModel):
    text: str = Field(min_length=1, max_length=300)


class VoteBody(BaseModel):
    option_id: RowId
    votes_for: int = Field(ge=0, le=1_000_000)
    votes_against: int = Field(default=0, ge=0, le=1_000_000)
    abstentions: int = Field(default=0, ge=0, le=1_000_000)


class DecideBody(BaseModel):
    votes: list[VoteBody] = Field(min_length=1, max_length=50)
    chosen: RowId
    decision: str = Field(min_length=1, max_length=4000)


class TaskBody(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    kind: Literal["incident", "order"]
    building_code: Code
    category: str | None = Field(default=None, max_length=10)
    skills: list[Skill] = Field(default_factory=list, max_length=10)
    needed_at: AwareDatetime | None = None


class EvaluateBody(BaseModel):
    counts: dict[Rating, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(min_length=1)
    note: str = Field(default="", max_length=2000)


class AdvanceBody(BaseModel):
    note: str = Field(default="", max_length=2000)


class StepInfo(BaseModel):
    index: int
    code: str
    name: str
    does: list[str]
    requires: list[str]
    invite: list[str]
    done_at: datetime | None


class ParticipantPublic(Public):
    id: int
    kind: str
    name: str
    unit_code: str | None
    step: int


class MeetingPublic(Public):
    id: int
    step: int
    held_at: datetime
    place: str
    minutes: str
    attendees: int
    attachments: list[int] | None


class OptionPublic(Public):
    id: int
    text: str
    votes_for: int | None
    votes_against: int | None
    abstentions: int | None
    chosen: bool


class TaskPublic(BaseModel):
    id: int
    title: str
    incident_id: RowId | None
    order_id: RowId | None
    state: str | None


class EntryPublic(Public):
    at: datetime
    move: str
    step: int
    actor: str
    actor_role: str
    note: str


class TopicPublic(BaseModel):
    id: int
    title: str
    description: str
    source: str
    source_ref: str
    procedure: str
    procedure_name: str
    state: str
    step: int
    steps: list[StepInfo]
    missing: list[str]
    community_code: str
    unit_codes: list[str]
    decision: str | None
    decided_at: datetime | None
    evaluation: dict[str, int] | None
    published_at: datetime | None
    participants: list[ParticipantPublic]
    meetings: list[MeetingPublic]
    options: list[OptionPublic]
    tasks: list[TaskPublic]
    log: list[EntryPublic]
    moves: list[str]


# -- rounds -------------------------------------------------------------------------------------


class RoundCreate(BaseModel):
    grid_code: Code
    client_key: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="手机生成的走访编号")
    started_at: AwareDatetime


class BatchBody(BaseModel):
    seq: int = Field(ge=0, le=100_000, description="批次序号")
    crs: str | None = Field(default=None, max_length=20)
    points: list[tuple[float, float, float]] = Field(
        max_length=5000, description="[经度, 纬度, unix 秒] in crs (default cgcs2000)")


class RoundPublic(BaseModel):
    id: int
    worker: str
    grid_code: str
    started_at: datetime
    points: int
    batches: list[int]
    stored: bool | None = None


class VisitCreate(BaseModel):
    building_code: Code
    household: str = Field(default="", max_length=50, description="户（单元-室）")
    category: str = Field(pattern=r"^[a-z_]{1,30}$")
    mood: Literal["", "满意", "一般", "不满", "急迫"] = ""
    heard: str = Field(min_length=1, max_length=4000, description="民情")
    follow_up: str = Field(default="", max_length=2000)
    round_id: RowId | None = None
    visited_at: AwareDatetime | None = None


class VisitPublic(Public):
    id: int
    worker: str
    round_id: RowId | None
    building_code: str
    grid_code: str
    household: str
    category: str
    mood: str
    heard: str
    follow_up: str
    visited_at: datetime
    incident_id: RowId | None


class VisitIncidentBody(BaseModel):
    category: str = Field(min_length=1, max_length=10)
    note: str = Field(default="", max_length=2000)


class CoveragePublic(Public):
    grid_code: str
    grid_name: str
    buildings: int
    visited: int
    walked_past: int
    covered: int
    share: float
    visits: int
    rounds: int
    incidents: int
    workers: dict[str, int]


class FiguresPublic(Public):
    community_code: str
    community_name: str
    orders_placed: int
    orders_taken: int
    orders_rated: int
    orders_escalated: int
    median_hours_to_take: float | None
    members_registered: int
    members_active: int
    service_hours: float
    topics_opened: int
    topics_decided: int
    topics_evaluated: int
    visits: int
    rounds: int
    buildings: int
    buildings_covered: int
    coverage: float


class WorkerMonthPublic(Public):
    worker: str
    grids: list[str]
    rounds: int
    track_points: int
    visits: int
    buildings_visited: int
    households: int
    incidents: int
