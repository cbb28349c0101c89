"""The street desk's and the GIS pages' words, Chinese first, English available. Looked up
before the workbench's own table (``grid.api.webtext.WORDS``), which they do not change."""

from __future__ import annotations

from grid.api.webtext import word as base_word

WORDS: dict[str, dict[str, str]] = {
    "ranking": {"zh": "三率排名", "en": "Three-rate ranking"},
    "topics": {"zh": "每月一题", "en": "Problem of the month"},
    "open": {"zh": "在办", "en": "Open"},
    "overdue": {"zh": "超期", "en": "Overdue"},
    "by_level": {"zh": "按层级", "en": "By level"},
    "by_category": {"zh": "按类别", "en": "By category"},
    "month_vs": {"zh": "本月与上月", "en": "This month against last"},
    "this_month": {"zh": "本月", "en": "This month"},
    "last_month": {"zh": "上月", "en": "Last month"},
    "received": {"zh": "受理", "en": "Received"},
    "solved": {"zh": "解决", "en": "Solved"},
    "unresolved": {"zh": "未办结", "en": "Unresolved"},
    "level_grid": {"zh": "网格", "en": "Grid"},
    "level_community": {"zh": "社区", "en": "Community"},
    "level_street": {"zh": "街道", "en": "Street"},
    "level_building": {"zh": "楼栋", "en": "Building"},
    "level_resident_group": {"zh": "居民小组", "en": "Resident group"},
    "category": {"zh": "类别", "en": "Category"},
    "count": {"zh": "数量", "en": "Count"},
    "level": {"zh": "层级", "en": "Level"},
    "month": {"zh": "月份", "en": "Month"},
    "show": {"zh": "查看", "en": "Show"},
    "rank": {"zh": "名次", "en": "Rank"},
    "unit": {"zh": "单位", "en": "Unit"},
    "community": {"zh": "社区", "en": "Community"},
    "response": {"zh": "响应率", "en": "Response"},
    "resolution": {"zh": "解决率", "en": "Resolution"},
    "satisfaction": {"zh": "满意率", "en": "Satisfaction"},
    "score": {"zh": "综合得分", "en": "Score"},
    "no_data": {"zh": "本月无事件，不计排名", "en": "No case this month: not ranked"},
    "bottom": {"zh": "末位", "en": "Lowest ranked"},
    "quiet": {"zh": "零投诉社区", "en": "Communities with no complaint"},
    "none": {"zh": "无", "en": "None"},
    "trend": {"zh": "逐月趋势", "en": "Trend by month"},
    "street_total": {"zh": "全街道", "en": "Whole street"},
    "loading": {"zh": "正在加载…", "en": "Loading…"},
    "failed": {"zh": "加载失败", "en": "Could not load"},
    "candidates": {"zh": "本月候选问题", "en": "This month's candidates"},
    "growth": {"zh": "增幅", "en": "Growth"},
    "adopt": {"zh": "确定为每月一题", "en": "Adopt as topic"},
    "adopt_title": {"zh": "确定每月一题", "en": "Adopt a topic"},
    "title": {"zh": "题目", "en": "Title"},
    "lead": {"zh": "牵头领导", "en": "Lead"},
    "lead_help": {"zh": "默认填入该类别的分管领导，可修改",
                  "en": "Filled in with the category's leader in charge; change it if needed"},
    "note": {"zh": "说明", "en": "Note"},
    "adopted": {"zh": "已确定", "en": "Adopted"},
    "state_active": {"zh": "攻坚中", "en": "Active"},
    "state_closed": {"zh": "已结题", "en": "Closed"},
    "cases": {"zh": "事件", "en": "Cases"},
    "state": {"zh": "状态", "en": "State"},
    "created": {"zh": "上报时间", "en": "Reported"},
    "due": {"zh": "时限", "en": "Due"},
    "grid": {"zh": "网格", "en": "Grid"},
    "close_topic": {"zh": "结题", "en": "Close topic"},
    "conclusion": {"zh": "结题说明", "en": "Conclusion"},
    "no_topics": {"zh": "尚未确定每月一题", "en": "No topic adopted yet"},
    "open_topic": {"zh": "查看", "en": "Open"},
    "saved": {"zh": "已保存", "en": "Saved"},
    # GIS
    "versions": {"zh": "边界版本", "en": "Boundary versions"},
    "version": {"zh": "版本", "en": "Version"},
    "label": {"zh": "名称", "en": "Label"},
    "active": {"zh": "生效", "en": "Active"},
    "units": {"zh": "单元数", "en": "Units"},
    "activate": {"zh": "启用", "en": "Activate"},
    "rollback": {"zh": "回退到上一版本", "en": "Roll back to the previous version"},
    "upload": {"zh": "上传边界文件", "en": "Upload a boundary file"},
    "file": {"zh": "文件（.zip 压缩的 shapefile、.gpkg、.geojson）",
             "en": "File (zipped shapefile, .gpkg, .geojson)"},
    "check": {"zh": "上传并校验", "en": "Upload and check"},
    "recheck": {"zh": "按修改后的设置重新校验", "en": "Check again with these settings"},
    "mapping": {"zh": "字段映射与编码（可修改）", "en": "Field mapping and encoding (editable)"},
    "code_field": {"zh": "编码字段", "en": "Code column"},
    "name_field": {"zh": "名称字段", "en": "Name column"},
    "parent_field": {"zh": "上级编码字段", "en": "Parent code column"},
    "encoding": {"zh": "属性编码", "en": "Attribute encoding"},
    "crs": {"zh": "坐标系", "en": "CRS"},
    "guessed": {"zh": "自动识别", "en": "guessed"},
    "report": {"zh": "校验报告", "en": "Validation report"},
    "rows": {"zh": "行数", "en": "Rows"},
    "added": {"zh": "新增", "en": "Added"},
    "changed": {"zh": "变更", "en": "Changed"},
    "removed": {"zh": "删除", "en": "Removed"},
    "unchanged": {"zh": "未变", "en": "Unchanged"},
    "errors": {"zh": "错误", "en": "Errors"},
    "warnings": {"zh": "警告", "en": "Warnings"},
    "kind": {"zh": "类型", "en": "Kind"},
    "codes": {"zh": "编码", "en": "Codes"},
    "message": {"zh": "说明", "en": "Message"},
    "version_label": {"zh": "版本名称", "en": "Version label"},
    "commit": {"zh": "写入新版本（不启用）", "en": "Commit as a new version (inactive)"},
    "committed": {"zh": "已写入版本", "en": "Written to version"},
    "diff": {"zh": "与生效版本对比", "en": "Compare with the active version"},
    "diff_title": {"zh": "版本对比", "en": "Version comparison"},
    "blocked": {"zh": "有错误，不能写入；请修改设置或文件后重新校验",
                "en": "Errors block the commit: change the settings or the file and check "
                      "again"},
    "confirm_activate": {"zh": "确定启用此版本？", "en": "Activate this version?"},
    "confirm_rollback": {"zh": "确定回退到上一版本？", "en": "Roll back to the previous version?"},
    "activated": {"zh": "已启用版本", "en": "Activated version"},
    "rolled_back": {"zh": "已回退到版本", "en": "Rolled back to version"},
    "legend": {"zh": "图例", "en": "Legend"},
    "no_changes": {"zh": "两个版本没有差异", "en": "The versions do not differ"},
    "upload_help": {"zh": "只校验不写入；确认报告无误后再写入新版本，再对比、启用。",
                    "en": "Checked only, nothing written: commit after reading the report, "
                          "then compare and activate."},
    "gis_only": {"zh": "只有GIS人员或管理员可以管理边界",
                 "en": "Only GIS staff or administrators manage boundaries"},
}


def desk_word(key: str, lang: str, **values) -> str:
    """``key`` in ``lang`` from this table, else from the workbench's."""
    entry = WORDS.get(key)
    if entry is None:
        return base_word(key, lang, **values)
    text = entry.get(lang) or entry["zh"]
    return text.format(**values) if values else text


def page_words(lang: str, keys=None) -> dict[str, str]:
    """The words a page's script needs, in ``lang`` (all of this table by default)."""
    return {k: desk_word(k, lang) for k in (keys or WORDS)}
