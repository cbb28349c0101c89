"""Unit codes: DB11/T 2157-2023 by default (6 county + 3 street + 3 community + 3 grid),
extended for buildings and resident groups. Widths are configuration (CJ/T 349 uses 20 digits)."""

from __future__ import annotations

from dataclasses import dataclass

from grid.hierarchy.levels import LEVELS, PARENT_LEVEL, Level


@dataclass(frozen=True)
class CodeScheme:
    """The digit widths of each level's own part of the code, after the county prefix."""

    widths: dict[str, int]

    def length(self, level: Level) -> int:
        """Total digits of a code at ``level`` (street = county + street part, and so on)."""
        total = self.widths["county"]
        for lvl in LEVELS:
            total += self.widths[lvl.value]
            if lvl == level:
                return total
        raise ValueError(level)

    def problem(self, code: str, level: Level, parent_code: str | None = None) -> str | None:
        """Why ``code`` is not a valid code at ``level`` (under ``parent_code``), or None."""
        want = self.length(level)
        if not code.isdigit():
            return f"编码 {code} 含非数字字符 code '{code}' is not all digits"
        if len(code) != want:
            return f"编码 {code} 应为 {want} 位 code '{code}' should have {want} digits for {level}"
        if parent_code and PARENT_LEVEL[level] and not code.startswith(parent_code):
            return (
                f"编码 {code} 不以上级编码 {parent_code} 开头 "
                f"code '{code}' does not begin with its parent's code '{parent_code}'"
            )
        return None
