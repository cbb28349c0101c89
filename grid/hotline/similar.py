"""How close a written 小区 name is to a known one, the way a dispatcher hears it.

A name is a proper part (the root: 安贞, 小黄庄) and a generic part (the suffix: 嘉园, 北里, 苑).
A slip in the root costs by kind — the same syllable (贞/珍) least, a near syllable (民/明, the
in/ing, zh/z, n/l of regional speech) or a look-alike character (土/士) more, anything else a
full character — while the suffix is what tells two estates apart (和平南里 / 和平北里,
安华园 / 安华花园): there only a homophone (园/圆, 里/礼, 嘉/家) is forgiven, with a penalty, and
any other difference rules the name out. The alignment is semi-global: the name may sit
anywhere in the address text, with noise before and after.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pypinyin import Style, lazy_pinyin, pinyin

#: Generic endings of 小区 names, longest first (the part that must not differ).
SUFFIXES = ("东里", "西里", "南里", "北里", "家园", "嘉园", "花园", "公寓", "新村", "小区", "园",
            "苑", "里", "院", "村")
#: Costs of one character's difference. An unrelated character, or one left out or added,
#: costs two: a dispatcher trusts a slip of sound or shape, not a different word.
UNRELATED = 2.0
SAME_SOUND = 0.3        # same syllable and tone: 园/圆, 贞/珍
SAME_SYLLABLE = 0.45    # same syllable, other tone: 园/苑, 家/嘉
NEAR_SOUND = 0.6        # regional confusions: 民/明 (in/ing), 装/壮 …
SIMILAR_FORM = 0.5      # look-alike characters: 土/士
RULED_OUT = 99.0
#: Characters that end 小区 names: writing one for another (园 for 苑, 家 for 嘉) names another
#: estate, not a slip — only a character no name ends with (圆, 礼, 佳) is a slip there.
SUFFIX_CHARS = frozenset("园苑院里家嘉花东西南北村寓")
#: Look-alike characters that typing or handwriting confuses.
_FORMS = ["土士", "己已巳", "未末", "戊戌戍", "人入", "大太", "王玉", "日曰", "贝见", "今令",
          "析折", "崇祟", "辨辩辫", "拨拔", "候侯", "洒酒", "壁璧", "苑宛", "坝贝"]
_FORM_OF = {c: group for group in _FORMS for c in group}
_FUZZY = [("ing", "in"), ("eng", "en"), ("ang", "an"), ("zh", "z"), ("ch", "c"), ("sh", "s")]


@lru_cache(maxsize=20000)
def _readings(char: str) -> tuple[frozenset[str], frozenset[str]]:
    """Toned and toneless readings of one character (every reading of a polyphone)."""
    if not ("\u4e00" <= char <= "\u9fff"):
        return frozenset({char}), frozenset({char})
    toned = frozenset(pinyin(char, style=Style.TONE3, heteronym=True)[0])
    plain = frozenset(re.sub(r"\d", "", t) for t in toned)
    return toned, plain


def _fuzzy(syllable: str) -> str:
    for long, short in _FUZZY:
        syllable = syllable.replace(long, short)
    return re.sub(r"^l", "n", syllable)


def char_cost(known: str, written: str) -> float:
    """What writing ``written`` for ``known`` costs (0 for the same character)."""
    if known == written:
        return 0.0
    if written in SUFFIX_CHARS and known in SUFFIX_CHARS:
        return UNRELATED
    toned_a, plain_a = _readings(known)
    toned_b, plain_b = _readings(written)
    if toned_a & toned_b:
        return SAME_SOUND
    if plain_a & plain_b:
        return SAME_SYLLABLE
    if written in _FORM_OF.get(known, ""):
        return SIMILAR_FORM
    if {_fuzzy(p) for p in plain_a} & {_fuzzy(p) for p in plain_b}:
        return NEAR_SOUND
    return UNRELATED


def split_name(core: str) -> tuple[str, str]:
    """Root and generic suffix: 安贞嘉园 → (安贞, 嘉园); a name that is all suffix keeps it
    as root."""
    for suffix in SUFFIXES:
        if core.endswith(suffix) and len(core) > len(suffix):
            return core[:-len(suffix)], suffix
    return core, ""


def name_cost(core: str, text: str) -> tuple[float, int, int, int]:
    """Cheapest alignment of the known name ``core`` to any stretch of ``text``: its cost,
    where the stretch starts and ends in ``text``, and how many slips it took.

    Edit distance with free text before and after (semi-global); in the suffix only
    homophone substitutions are allowed."""
    root, _ = split_name(core)
    n, m = len(core), len(text)
    inf = RULED_OUT
    # cost[i][j]: core[:i] aligned to a stretch of text ending at j; start[i][j] its start.
    cost = [[0.0] * (m + 1)] + [[inf] * (m + 1) for _ in range(n)]
    start = [list(range(m + 1))] + [[0] * (m + 1) for _ in range(n)]
    slips = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        in_root = i <= len(root)
        gap = UNRELATED if in_root else inf
        cost[i][0], start[i][0], slips[i][0] = cost[i - 1][0] + gap, 0, slips[i - 1][0] + 1
        for j in range(1, m + 1):
            sub = char_cost(core[i - 1], text[j - 1])
            if not in_root and sub > 0 and (sub > SAME_SYLLABLE or text[j - 1] in SUFFIX_CHARS):
                sub = inf
            options = (
                (cost[i - 1][j - 1] + sub, start[i - 1][j - 1], slips[i - 1][j - 1] + (sub > 0)),
                (cost[i - 1][j] + gap, start[i - 1][j], slips[i - 1][j] + 1),   # char left out
                # an extra character inside the name (not at its edges)
                (cost[i][j - 1] + (UNRELATED if i < len(root) else inf), start[i][j - 1],
                 slips[i][j - 1] + 1),
            )
            best = min(options, key=lambda o: o[0])
            cost[i][j], start[i][j], slips[i][j] = best
    end = min(range(m + 1), key=lambda j: (cost[n][j], -j))
    return cost[n][end], start[n][end], end, slips[n][end]


def similarity(core: str, text: str) -> tuple[float, int]:
    """1 − cost / length of the name, and the number of slips (0 when written exactly)."""
    if not text:
        return 0.0, 0
    if core in text:
        return 1.0, 0
    cost, _, _, slips = name_cost(core, text)
    return max(0.0, 1.0 - cost / len(core)), slips


@lru_cache(maxsize=20000)
def key(text: str) -> str:
    """Text by sound: every character as its usual toneless syllable, so 化工厂 and 化工场
    share a key — for indexing names and matching learned aliases near-identically."""
    return " ".join(lazy_pinyin(text))
