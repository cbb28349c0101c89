"""The hotline operator's page (12345 地址待办): enter an address, work the manual queue (place an
address on one of its candidates or on a building code, keep it as an alias, or reject it), and
see or revoke the aliases learned so far.

The page is a workbench template (``grid/api/templates/hotline.html``, autoescaped, in the
base layout); ``maps/static/app/hotline.js`` calls the same API as everyone else
(``/api/v1/hotline/...``) and builds the lists with ``textContent`` only.
"""

from __future__ import annotations

TEXT = {
    "title": {"zh": "12345 地址待办", "en": "12345 address queue"},
    "new": {"zh": "登记地址", "en": "Enter an address"},
    "address": {"zh": "地址", "en": "Address"},
    "ref": {"zh": "工单号", "en": "Work order"},
    "submit": {"zh": "定位", "en": "Place"},
    "placed": {"zh": "已自动定位到", "en": "Placed on"},
    "queued": {"zh": "已转人工待办", "en": "Queued for a person"},
    "queue": {"zh": "待人工处理", "en": "Waiting for a person"},
    "empty": {"zh": "暂无待办", "en": "Nothing waiting"},
    "choose": {"zh": "定位到此楼", "en": "This building"},
    "code": {"zh": "楼栋编码", "en": "Building code"},
    "use_code": {"zh": "按编码定位", "en": "Place on code"},
    "keep": {"zh": "记住此写法（别名）", "en": "Remember this wording (alias)"},
    "reject": {"zh": "不在辖区/拒绝", "en": "Not ours / reject"},
    "aliases": {"zh": "已学别名", "en": "Learned aliases"},
    "revoke": {"zh": "撤销", "en": "Revoke"},
    "by": {"zh": "添加人", "en": "Added by"},
    "done": {"zh": "已处理", "en": "Done"},
    "error": {"zh": "操作失败", "en": "Failed"},
    "no_aliases": {"zh": "暂无别名", "en": "No aliases yet"},
}

def queue_config(lang: str = "zh") -> dict:
    """What ``hotline.js`` needs: the API's prefix and the page's words in its one language.
    No token: the page calls the API with the session cookie and its CSRF token
    (``workbench.js``), like every workbench page."""
    text = {k: v.get(lang, v["zh"]) for k, v in TEXT.items()}
    return {"api": "/api/v1/hotline", "text": text}
