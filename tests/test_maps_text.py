"""The maps' words: every incident state, action, level and role the workflow can produce has a
Chinese and an English label. The workflow's states and actions are read from its source
(``grid/incidents/``), so a new state or action added there fails here until it is labelled."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from grid.incidents.categories import LADDER_LEVELS
from grid.users import Role
from maps import report, text

WORKFLOW = Path(__file__).resolve().parents[1] / "grid" / "incidents"
STATE_KEYWORDS = {"state", "to_state", "from_state"}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _strings(node: ast.AST, tuples: dict[str, list[str]]) -> list[str]:
    """The string constants ``node`` may evaluate to (a constant, a tuple of them, a
    conditional expression, or a module-level tuple named by ``node``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for e in node.elts for s in _strings(e, tuples)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body, tuples) + _strings(node.orelse, tuples)
    if isinstance(node, ast.Name):
        return tuples.get(node.id, [])
    return []


def _is_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in STATE_KEYWORDS


def workflow_words() -> tuple[set[str], set[str]]:
    """Every state and every step action written in the workflow's source."""
    states: set[str] = set()
    actions: set[str] = set()
    for path in sorted(WORKFLOW.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tuples = {target.id: _strings(node.value, {})
                  for node in tree.body if isinstance(node, ast.Assign)
                  for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg in STATE_KEYWORDS:
                        states.update(_strings(kw.value, tuples))
                    elif kw.arg == "action":
                        actions.update(_strings(kw.value, tuples))
                func = node.func
                # ladder._move(session, incident, actor, "action", state=...)
                if isinstance(func, ast.Attribute) and func.attr == "_move" and len(node.args) > 3:
                    actions.update(_strings(node.args[3], tuples))
                # Incident.state.in_(SOLVED)
                if isinstance(func, ast.Attribute) and func.attr == "in_" \
                        and _is_state(func.value):
                    states.update(s for a in node.args for s in _strings(a, tuples))
            # incident.state != "open", case.state not in ACTIVE, Incident.state == "merged"
            if isinstance(node, ast.Compare) and _is_state(node.left):
                states.update(s for c in node.comparators for s in _strings(c, tuples))
            # IncidentStep.action == "escalate"
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) \
                    and node.left.attr == "action":
                actions.update(s for c in node.comparators for s in _strings(c, tuples))
    return states, actions


def test_the_scan_sees_the_workflow():
    """Not vacuous: the scan finds the states and actions the domain names."""
    states, actions = workflow_words()
    assert {"open", "whistled", "resolved", "closed", "rated", "merged"} <= states
    assert {"report", "escalate", "whistle", "report_in", "finish", "close", "rate",
            "reopen"} <= actions


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_state_and_action_has_a_label(lang):
    states, actions = workflow_words()
    unlabelled = sorted(s for s in states if not text.STATES.get(s, {}).get(lang))
    assert not unlabelled, f"states without a {lang} label in maps/text.py STATES: {unlabelled}"
    unlabelled = sorted(a for a in actions if not text.ACTIONS.get(a, {}).get(lang))
    assert not unlabelled, f"actions without a {lang} label in maps/text.py ACTIONS: {unlabelled}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_level_and_role_has_a_label(lang):
    assert all(text.LADDER[level][lang] for level in LADDER_LEVELS)
    assert all(text.ROLES[role.value][lang] for role in Role)
    assert text.ROLES["system"][lang]  # the overdue sweep's steps


def test_every_state_draws_in_a_colour_of_its_own():
    states, _ = workflow_words()
    for state in states - {"open"}:  # open markers take their level's colour
        assert state in text.STATE_COLOURS, state
    assert len(set(text.STATE_COLOURS.values()) | set(text.LEVEL_COLOURS.values())) == \
        len(text.STATE_COLOURS) + len(text.LEVEL_COLOURS)


@pytest.mark.parametrize("table", [text.TEXT, text.STATES, text.ACTIONS, text.LADDER,
                                   text.ROLES, report.TEXT])
def test_every_word_in_both_languages(table):
    for key, words in table.items():
        assert set(words) == {"zh", "en"}, key
        assert all(w.strip() for w in words.values()), key
        assert not CJK.search(words["en"]), (key, words["en"])


def test_english_lists_and_asides():
    assert text.joined(["a", "b"], "en") == "a, b"
    assert text.joined(["甲", "乙"], "zh") == "甲、乙"
    assert text.aside("x", "en") == " (x)"
    assert text.aside("x", "zh") == "（x）"
