"""User-facing words on the maps, Chinese first, English available (``?lang=en``)."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "street": {"zh": "街道", "en": "Street"},
    "community": {"zh": "社区", "en": "Communities"},
    "grid": {"zh": "网格", "en": "Grids"},
    "building": {"zh": "楼栋", "en": "Buildings"},
    "incidents": {"zh": "事件", "en": "Incidents"},
    "code": {"zh": "编码", "en": "Code"},
    "name": {"zh": "名称", "en": "Name"},
    "party_org": {"zh": "党组织", "en": "Party organisation"},
    "secretary": {"zh": "书记", "en": "Secretary"},
    "grid_worker": {"zh": "网格员", "en": "Grid worker"},
    "category": {"zh": "类别", "en": "Category"},
    "state": {"zh": "状态", "en": "State"},
    "level": {"zh": "当前层级", "en": "Level"},
    "due": {"zh": "办理时限", "en": "Due"},
    "steps": {"zh": "处置过程", "en": "Steps so far"},
    "details": {"zh": "查看详情", "en": "Open incident page"},
    "ladder": {"zh": "上报路径", "en": "Path up the ladder"},
    "audit": {"zh": "处置记录", "en": "Audit trail"},
    "legend": {"zh": "图例", "en": "Legend"},
    "departments": {"zh": "部门", "en": "Departments"},
    "owner": {"zh": "所属网格", "en": "Owning grid"},
    "heat": {"zh": "热力图", "en": "Heat map"},
    "open_cases": {"zh": "在办事件", "en": "Open cases"},
    "overdue": {"zh": "超期", "en": "Overdue"},
    "search": {"zh": "按编码或名称搜索", "en": "Search code or name"},
    "filters": {"zh": "筛选", "en": "Filters"},
    "all": {"zh": "全部", "en": "All"},
    "from": {"zh": "起", "en": "From"},
    "to": {"zh": "止", "en": "To"},
    "overdue_only": {"zh": "只看超期", "en": "Overdue only"},
    "shown": {"zh": "显示", "en": "Shown"},
    "chain": {"zh": "党组织链", "en": "Party chain"},
    "building_label": {"zh": "楼栋", "en": "Building"},
    "city": {"zh": "全市总览", "en": "City overview"},
    "open_map": {"zh": "打开街道地图", "en": "Open street map"},
    "summoned": {"zh": "吹哨", "en": "summoned"},
    "reported_in": {"zh": "报到", "en": "reported in"},
    "done": {"zh": "办结", "en": "done"},
    "after": {"zh": "用时", "en": "after"},
    "score": {"zh": "本月三率得分", "en": "Three-rate score (month)"},
    "rates": {"zh": "响应 {r} · 解决 {s} · 满意 {m}",
              "en": "response {r} · resolution {s} · satisfaction {m}"},
    "time": {"zh": "时间", "en": "Time"},
    "action": {"zh": "动作", "en": "Action"},
    "actor": {"zh": "操作人", "en": "By"},
    "from_to": {"zh": "层级变化", "en": "Level"},
    "reason": {"zh": "说明", "en": "Reason"},
    "not_yet": {"zh": "未报到", "en": "not reported in yet"},
}

STATES: dict[str, dict[str, str]] = {
    "open": {"zh": "办理中", "en": "open"},
    "whistled": {"zh": "已吹哨", "en": "whistled"},
    "resolved": {"zh": "已办结", "en": "resolved"},
    "closed": {"zh": "已结案", "en": "closed"},
    "rated": {"zh": "已评价", "en": "rated"},
    "merged": {"zh": "已合并", "en": "merged"},
}

LADDER: dict[str, dict[str, str]] = {
    "grid": {"zh": "网格", "en": "grid"},
    "community": {"zh": "社区", "en": "community"},
    "street": {"zh": "街道", "en": "street"},
}

ACTIONS: dict[str, dict[str, str]] = {
    "report": {"zh": "网格发现", "en": "reported"},
    "escalate": {"zh": "上报", "en": "escalated"},
    "resolve": {"zh": "办结", "en": "resolved"},
    "whistle": {"zh": "街道吹哨", "en": "whistle blown"},
    "report_in": {"zh": "部门报到", "en": "reported in"},
    "finish": {"zh": "部门办结", "en": "department done"},
    "close": {"zh": "核查结案", "en": "closed"},
    "rate": {"zh": "回访评价", "en": "rated"},
    "send_back": {"zh": "退回", "en": "sent back"},
    "reopen": {"zh": "重新办理", "en": "reopened"},
    "merge": {"zh": "合并为重复", "en": "merged as duplicate"},
    "absorb": {"zh": "合并重复件", "en": "absorbed a duplicate"},
}

#: Who made a step (``IncidentStep.actor_role``): the roles of ``grid.users.Role`` and the
#: scheduler that escalates overdue cases.
ROLES: dict[str, dict[str, str]] = {
    "admin": {"zh": "管理员", "en": "administrator"},
    "gis": {"zh": "GIS人员", "en": "GIS staff"},
    "street": {"zh": "街道", "en": "street office"},
    "community": {"zh": "社区", "en": "community"},
    "grid_worker": {"zh": "网格员", "en": "grid worker"},
    "department": {"zh": "职能部门", "en": "department"},
    "volunteer": {"zh": "在职党员", "en": "Party volunteer"},
    "party_org": {"zh": "单位党组织", "en": "workplace Party organisation"},
    "system": {"zh": "系统（超时自动上报）", "en": "system (overdue sweep)"},
}

#: Separators between list items and around an aside, per language.
LIST_SEP = {"zh": "、", "en": ", "}
ASIDE = {"zh": "（{}）", "en": " ({})"}

#: Marker colours: an open incident takes its level's colour (how high it has climbed); any
#: other state takes the state's colour.
LEVEL_COLOURS = {"grid": "#2b83ba", "community": "#fdae61", "street": "#d7191c"}
STATE_COLOURS = {"whistled": "#7b3294", "resolved": "#1a9641", "closed": "#636363",
                 "rated": "#252525", "merged": "#bdbdbd"}
UNIT_STYLES = {
    "street": {"color": "#222222", "weight": 3, "fillOpacity": 0.0},
    "community": {"color": "#e66101", "weight": 2.5, "fillOpacity": 0.03},
    "grid": {"color": "#2c7fb8", "weight": 1.2, "fillOpacity": 0.05},
    "building": {"color": "#636363", "weight": 0.6, "fillOpacity": 0.25},
}


def t(key: str, lang: str) -> str:
    """One word in ``lang``."""
    return TEXT[key].get(lang, TEXT[key]["zh"])


def word(table: dict[str, dict[str, str]], key: str | None, lang: str) -> str:
    """A state, level or action name in ``lang`` (the key itself when unknown)."""
    if key is None:
        return ""
    return table.get(key, {}).get(lang, key)


def joined(items, lang: str) -> str:
    """``items`` as one list in ``lang`` (``a、b`` / ``a, b``)."""
    return LIST_SEP.get(lang, LIST_SEP["zh"]).join(items)


def aside(text: str, lang: str) -> str:
    """``text`` in parentheses, full-width in Chinese."""
    return ASIDE.get(lang, ASIDE["zh"]).format(text)


def marker_colour(state: str, level: str) -> str:
    """The colour of an incident marker."""
    if state == "open":
        return LEVEL_COLOURS.get(level, "#2b83ba")
    return STATE_COLOURS.get(state, "#636363")  # a state added later still draws
