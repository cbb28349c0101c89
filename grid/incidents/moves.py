"""The ladder's one transition table: which move may be made from which state, at which level,
by whom — read by the engine (``grid.incidents.ladder`` checks every move with ``require``) and
by the pages (``allowed`` says which buttons to show), so a page never offers a move the engine
would refuse.

A refusal is a ``MoveRefused`` (409: the state or level does not allow the move) or a
``MoveForbidden`` (403: the caller's role does not), each carrying its message in Chinese and
in English (``texts``); the API answers one language at a time when asked (``X-Grid-Lang``).
The inputs a move needs (a reason, departments, a rating) are checked by the move itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from grid.errors import Forbidden, MoveNotAllowed
from grid.incidents.categories import LADDER_LEVELS
from grid.incidents.models import Incident, Summons

#: How far up the ladder each role reaches; departments and GIS staff handle no ladder level.
ROLE_RANK = {"grid_worker": 0, "community": 1, "street": 2, "admin": 2, "system": 2}


class Move(StrEnum):
    """The moves a user makes on an incident (the report itself is not one: it creates it)."""

    escalate = "escalate"      # 上报 (grid → community is 社区呼叫)
    send_back = "send_back"    # 退回
    resolve = "resolve"        # 办结 (the level solved it itself)
    whistle = "whistle"        # 街乡吹哨
    report_in = "report_in"    # 部门报到
    finish = "finish"          # 部门办结
    close = "close"            # 核查结案
    rate = "rate"              # 回访评价
    merge = "merge"            # 合并重复工单


class Who(StrEnum):
    """Who may make a move (the table's last column)."""

    level = "level"        # a role that reaches the incident's current level (ROLE_RANK)
    staff = "staff"        # community or street staff (or admin)
    street = "street"      # street staff (or admin)
    summoned = "summoned"  # a department summoned to the case (or admin, naming one)


@dataclass(frozen=True)
class Rule:
    """One row: from these states, at these levels (None: any), by whom."""

    states: frozenset[str]
    levels: frozenset[str] | None
    who: Who


def _rule(states: Iterable[str], levels: Iterable[str] | None, who: Who) -> Rule:
    return Rule(frozenset(states), None if levels is None else frozenset(levels), who)


TABLE: dict[Move, Rule] = {
    Move.escalate: _rule({"open"}, {"grid", "community"}, Who.level),
    Move.send_back: _rule({"open"}, {"community", "street"}, Who.level),
    Move.resolve: _rule({"open"}, None, Who.level),
    Move.whistle: _rule({"open"}, {"street"}, Who.street),
    Move.report_in: _rule({"whistled"}, None, Who.summoned),
    Move.finish: _rule({"whistled"}, None, Who.summoned),
    Move.close: _rule({"resolved"}, None, Who.staff),
    Move.rate: _rule({"closed", "rated"}, None, Who.staff),
    Move.merge: _rule({"open", "whistled", "resolved"}, None, Who.staff),
}

#: A move's name in each language (the pages' buttons and the refusals).
NAMES: dict[Move, dict[str, str]] = {
    Move.escalate: {"zh": "上报上一级", "en": "Escalate"},
    Move.send_back: {"zh": "退回下一级", "en": "Send back"},
    Move.resolve: {"zh": "办结", "en": "Resolve"},
    Move.whistle: {"zh": "吹哨", "en": "Blow the whistle"},
    Move.report_in: {"zh": "报到", "en": "Report in"},
    Move.finish: {"zh": "部门办结", "en": "Report done"},
    Move.close: {"zh": "核查结案", "en": "Verify and close"},
    Move.rate: {"zh": "回访评价", "en": "Record callback"},
    Move.merge: {"zh": "合并为重复", "en": "Merge as duplicate"},
}
STATE_NAMES = {"open": ("办理中", "open"), "whistled": ("已吹哨", "whistled"),
               "resolved": ("已办结", "resolved"), "closed": ("已结案", "closed"),
               "rated": ("已评价", "rated"), "merged": ("已合并", "merged")}
LEVEL_NAMES = {"grid": ("网格", "grid"), "community": ("社区", "community"),
               "street": ("街道", "street")}
ROLE_NAMES = {"admin": ("管理员", "an administrator"), "gis": ("GIS人员", "GIS staff"),
              "street": ("街道", "street staff"), "community": ("社区", "community staff"),
              "grid_worker": ("网格员", "a grid worker"),
              "department": ("职能部门", "a department"), "system": ("系统", "the system")}


class _Texts:
    """A refusal's message in each language; ``message`` (both, Chinese first) is what the
    API has always answered."""

    texts: dict[str, str]

    def __init__(self, zh: str, en: str, details=None) -> None:
        super().__init__(f"{zh} {en}", details)  # type: ignore[call-arg]
        self.texts = {"zh": zh, "en": en}


class MoveRefused(_Texts, MoveNotAllowed):
    """The incident's state or level does not allow the move (409)."""


class MoveForbidden(_Texts, Forbidden):
    """The caller's role does not allow the move (403)."""


def _summons_for(incident: Incident, actor, department: str | None) -> Summons | None:
    name = actor.department if actor.role == "department" else department
    return next((s for s in incident.summonses if s.department == name), None)


def _open_summons(incident: Incident, move: Move) -> list[Summons]:
    """The summonses on which ``move`` can still be made (report in / finish)."""
    if move == Move.report_in:
        return [s for s in incident.summonses if s.reported_in_at is None]
    return [s for s in incident.summonses if s.reported_in_at is not None and s.done_at is None]


def refusal(actor, incident: Incident, move: Move, department: str | None = None
            ) -> MoveRefused | MoveForbidden | None:
    """Why ``actor`` may not make ``move`` on ``incident`` now, or None when it may. The
    state and level are judged first (409), then the role (403), as the engine always did.
    ``department``: for an admin reporting in or finishing on a department's behalf."""
    rule = TABLE[move]
    zh_move, en_move = NAMES[move]["zh"], NAMES[move]["en"].lower()
    if incident.state not in rule.states:
        zh_state, en_state = STATE_NAMES.get(incident.state, (incident.state, incident.state))
        return MoveRefused(f"事件{zh_state}，不能{zh_move}",
                           f"the incident is {en_state}: it cannot be {_past(move)} now",
                           details={"state": incident.state, "level": incident.level})
    if rule.levels is not None and incident.level not in rule.levels:
        zh_level, en_level = LEVEL_NAMES.get(incident.level, (incident.level, incident.level))
        return MoveRefused(f"事件在{zh_level}层级，不能{zh_move}",
                           f"the incident is at {en_level} level: it cannot be {_past(move)}",
                           details={"state": incident.state, "level": incident.level})
    zh_role, en_role = ROLE_NAMES.get(actor.role, (actor.role, actor.role))
    if not _who_may(actor, incident, rule.who):
        return MoveForbidden(f"{zh_role}不能{zh_move}此事件",
                             f"{en_role} cannot {en_move} this incident",
                             details={"role": actor.role})
    if rule.who == Who.summoned:
        summons = _summons_for(incident, actor, department)
        if summons is None and actor.role == "admin" and department is None:
            return None if _open_summons(incident, move) else MoveRefused(
                f"没有部门可以{zh_move}", f"no department is left to {en_move}")
        if summons is None:
            name = actor.department if actor.role == "department" else department
            return MoveRefused(f"部门 {name} 未被召集", f"department {name} was not summoned")
        if move == Move.report_in and summons.reported_in_at is not None:
            return MoveRefused(f"{summons.department} 已报到",
                               f"{summons.department} has already reported in")
        if move == Move.finish and summons.reported_in_at is None:
            return MoveRefused(f"{summons.department} 尚未报到",
                               f"{summons.department} has not reported in yet")
        if move == Move.finish and summons.done_at is not None:
            return MoveRefused(f"{summons.department} 已完成",
                               f"{summons.department} has already finished")
    if move == Move.rate and incident.state == "rated" and not any(
            r.rating is None for r in incident.reporters):
        return MoveRefused("报告人均已回访", "every reporter has already been called back")
    return None


def _past(move: Move) -> str:
    return {Move.escalate: "escalated", Move.send_back: "sent back", Move.resolve: "resolved",
            Move.whistle: "whistled", Move.report_in: "reported in on",
            Move.finish: "finished", Move.close: "closed", Move.rate: "rated",
            Move.merge: "merged"}[move]


def _who_may(actor, incident: Incident, who: Who) -> bool:
    rank = ROLE_RANK.get(actor.role, -1)
    if who == Who.level:
        return rank >= LADDER_LEVELS.index(incident.level)
    if who == Who.staff:
        return rank >= 1
    if who == Who.street:
        return actor.role in ("street", "admin")
    return actor.role in ("department", "admin")


def require(actor, incident: Incident, move: Move, department: str | None = None) -> None:
    """Raise the refusal of ``move`` (``refusal``), if any: the engine's one check."""
    refused = refusal(actor, incident, move, department)
    if refused is not None:
        raise refused


def allowed(actor, incident: Incident) -> list[Move]:
    """Every move ``actor`` may make on ``incident`` now, in the table's order (the buttons
    a page shows). The caller has already checked that the actor may see the incident."""
    return [move for move in TABLE if refusal(actor, incident, move) is None]


def awaiting(actor, incident: Incident) -> list[Summons]:
    """For a department (or an admin): the summonses it may report in or finish on now."""
    if actor.role == "department":
        return [s for s in incident.summonses if s.department == actor.department]
    return list(incident.summonses) if actor.role == "admin" else []
