"""The people-in-the-loop configuration (``grid/data/people.yaml``): skills, how orders are
offered and how long they may wait, participant kinds, 民情 categories and the deliberation
procedures (海淀 大家商量着办 five steps, 雅安 五议), validated at start like the categories."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from grid.errors import InvalidInput
from grid.incidents.calendar import TimeLimit

#: What a deliberation step may do (``does``) and require on record before moving on.
TOPIC_ACTIONS = ("describe", "invite", "meeting", "option", "decide", "task", "evaluate",
                 "publish")


class Named(BaseModel):
    """A code with Chinese (and English) names."""

    code: str = Field(pattern=r"^[a-z_]{1,30}$")
    name: dict[str, str]

    def label(self, language: str = "zh") -> str:
        """The name in ``language`` (Chinese when there is no translation)."""
        return self.name.get(language) or self.name["zh"]


class OrderRules(BaseModel):
    """How many volunteers an order is offered to, how far, and how long it may wait."""

    offer_count: int = Field(default=5, gt=0, le=50)
    radius_m: float = Field(default=3000, gt=0)
    take_within: str = "24h"

    @property
    def take_limit(self) -> TimeLimit:
        """``take_within`` parsed."""
        return TimeLimit.parse(self.take_within)


class Step(Named):
    """One step of a deliberation procedure."""

    does: list[str]
    requires: list[str] = Field(default_factory=list)
    invite: list[str] = Field(default_factory=list)


class Procedure(Named):
    """A deliberation procedure: its steps in order."""

    steps: list[Step] = Field(min_length=1)


class PeopleBook(BaseModel):
    """The whole file."""

    skills: list[Named]
    orders: OrderRules = Field(default_factory=OrderRules)
    participant_kinds: list[Named]
    visit_categories: list[Named]
    procedures: list[Procedure]

    @model_validator(mode="after")
    def _consistent(self) -> PeopleBook:
        self.orders.take_limit  # noqa: B018 — parse now, so a bad limit stops start-up
        kinds = {k.code for k in self.participant_kinds}
        for procedure in self.procedures:
            for step in procedure.steps:
                unknown = set(step.does + step.requires) - set(TOPIC_ACTIONS)
                if unknown:
                    raise ValueError(f"procedure {procedure.code} step {step.code}: unknown "
                                     f"actions {sorted(unknown)}; known: {TOPIC_ACTIONS}")
                if set(step.requires) - set(step.does):
                    raise ValueError(f"procedure {procedure.code} step {step.code}: requires "
                                     "what the step does not do")
                if set(step.invite) - kinds:
                    raise ValueError(f"procedure {procedure.code} step {step.code}: unknown "
                                     f"participant kinds {sorted(set(step.invite) - kinds)}")
        return self

    def procedure(self, code: str) -> Procedure:
        """The procedure named ``code``, or InvalidInput listing the known ones."""
        for procedure in self.procedures:
            if procedure.code == code:
                return procedure
        raise InvalidInput(f"未知议事程序 unknown procedure '{code}'",
                           details={"known": [p.code for p in self.procedures]})

    def require_codes(self, what: str, given: list[str], known: list[Named]) -> list[str]:
        """``given`` without repeats, or InvalidInput naming the unknown ones."""
        codes = {k.code for k in known}
        unknown = sorted(set(given) - codes)
        if unknown:
            raise InvalidInput(f"未知{what} unknown {what}: {', '.join(unknown)}",
                               details={"known": sorted(codes)})
        return list(dict.fromkeys(given))


def load_people(path: Path) -> PeopleBook:
    """Read and validate the file; a bad file stops start-up with the reason."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return PeopleBook.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise InvalidInput(f"人员配置文件无效 invalid people file {path}: {exc}") from exc
