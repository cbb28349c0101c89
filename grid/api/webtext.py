"""The workbench pages' words, Chinese first, English available (the header's switch).

One table, so a page never mixes the two languages; a key missing in English falls back to
Chinese rather than to the key."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    # the layout
    "app": {"zh": "网格治理工作台", "en": "Grid governance workbench"},
    "signed_in_as": {"zh": "当前用户", "en": "Signed in as"},
    "sign_out": {"zh": "退出登录", "en": "Sign out"},
    "sign_in": {"zh": "登录", "en": "Sign in"},
    "todo": {"zh": "待办", "en": "To do"},
    "report": {"zh": "上报", "en": "Report"},
    "my_reports": {"zh": "我的上报", "en": "My reports"},
    "street_map": {"zh": "街道地图", "en": "Street map"},
    "city_map": {"zh": "全市总览", "en": "City overview"},
    "desk": {"zh": "街道工作台", "en": "Street desk"},
    "gis": {"zh": "边界管理", "en": "Boundaries"},
    "menu": {"zh": "菜单", "en": "Menu"},
    "skip": {"zh": "跳到正文", "en": "Skip to content"},
    # sign-in
    "signin_title": {"zh": "登录网格治理工作台", "en": "Sign in to the grid workbench"},
    "token": {"zh": "登录令牌", "en": "Sign-in token"},
    "token_help": {"zh": "令牌由管理员用 grid user add 发放；也可使用一次性登录链接。",
                   "en": "Your administrator issues tokens with grid user add; a one-time "
                         "sign-in link works too."},
    "signin_failed": {"zh": "令牌无效，请重新输入", "en": "That token is not valid; try again"},
    "link_failed": {"zh": "登录链接无效、已过期或已使用，请向管理员索取新链接",
                    "en": "This sign-in link is not valid, has expired or was used already; "
                          "ask for a new one"},
    "signed_out": {"zh": "您已退出登录", "en": "You have signed out"},
    "session_ended": {"zh": "请先登录", "en": "Please sign in"},
    "forbidden_page": {"zh": "您无权查看此页面", "en": "You may not see this page"},
    "error_page": {"zh": "出错了", "en": "Something went wrong"},
    "back": {"zh": "返回", "en": "Back"},
    # roles
    "role_admin": {"zh": "管理员", "en": "Administrator"},
    "role_gis": {"zh": "GIS人员", "en": "GIS staff"},
    "role_street": {"zh": "街道办", "en": "Street office"},
    "role_community": {"zh": "社区", "en": "Community"},
    "role_grid_worker": {"zh": "网格员", "en": "Grid worker"},
    "role_department": {"zh": "职能部门", "en": "Department"},
    "all_units": {"zh": "全部范围", "en": "Everywhere"},
}


def word(key: str, lang: str, **values) -> str:
    """``key`` in ``lang`` (Chinese when the language lacks it), with ``{name}`` filled in."""
    entry = WORDS.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry["zh"]
    return text.format(**values) if values else text
