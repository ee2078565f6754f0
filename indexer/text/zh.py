"""Chinese text helpers, in one place: the CJK character range, normalisation (radicals to
unified ideographs, NFKC), character bigrams, key terms without function characters, numbers
written in Arabic or Chinese numerals, and the vocabulary of place names (街道, 社区, 区 …) with
the patterns built from it.

Every module that compares Chinese text (the cleaner, evidence scoring, the answer composers and
checks) uses these, so a question and a report are normalised the same way everywhere, and every
place finder reads the same suffixes.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from indexer.text.radicals import EQUIVALENT_UNIFIED

# CJK unified ideographs: the basic block, and with extension A
CJK_BASIC = r"\u4e00-\u9fff"
CJK = r"\u3400-\u4dbf" + CJK_BASIC
CJK_RE = re.compile(f"[{CJK}]")
_WS = re.compile(r"\s+")

# Radicals and compatibility ideographs that stand for a unified ideograph: CJK Radicals
# Supplement and Kangxi Radicals, CJK Compatibility Ideographs and their supplement.
_COMPAT_BLOCKS = ((0x2E80, 0x2FDF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_COMPAT_RE = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _COMPAT_BLOCKS) + "]")


def _unified_table() -> dict[int, int]:
    """Code point -> unified ideograph for the characters of ``_COMPAT_BLOCKS``: NFKC where it
    maps one character to one, then Unicode's EquivalentUnifiedIdeograph.txt for the radicals
    (NFKC knows 2 of the ~115 Radicals Supplement characters; where both map, they agree)."""
    table: dict[int, int] = {}
    for lo, hi in _COMPAT_BLOCKS:
        for code in range(lo, hi + 1):
            folded = unicodedata.normalize("NFKC", chr(code))
            if len(folded) == 1 and folded != chr(code):
                table[code] = ord(folded)
    table.update(EQUIVALENT_UNIFIED)
    return table


_TO_UNIFIED = _unified_table()


def compatibility_to_unified(text: str) -> str:
    """Kangxi radicals, CJK Radicals Supplement characters and compatibility ideographs to the
    unified ideographs queries use (「⼼」U+2F3C → 「心」, 「⺠」U+2EA0 → 「民」), one character
    for one, so offsets into the result are offsets into ``text``; everything else (full-width
    punctuation the cleaner relies on) is left alone."""
    return text.translate(_TO_UNIFIED) if _COMPAT_RE.search(text) else text


def nfkc(text: str) -> str:
    """NFKC after :func:`compatibility_to_unified`: full-width letters and digits as usual, and
    every radical as its ideograph (NFKC alone leaves most CJK Radicals Supplement characters).
    The one normaliser of questions, sentences and BM25 tokens."""
    return unicodedata.normalize("NFKC", compatibility_to_unified(text))


def norm(text: str) -> str:
    """NFKC, lower case, no whitespace: how questions and sentences are compared."""
    return _WS.sub("", nfkc(text)).lower()


def bigrams(text: str) -> set[str]:
    """Character bigrams of the letters and digits of ``text``."""
    chars = [c for c in text if c.isalnum()]
    return {a + b for a, b in itertools.pairwise(chars)}


# Characters that carry no content on their own; a bigram holding one is not a key term.
_STOP_CHARS = frozenset(
    "的了是在和与及或等也都而其之这那被把将对于从着过并又就还该此我你他她它们吗呢吧啊么"
)
_CJK_RUN = re.compile(f"[{CJK}]+")
_LATIN_WORD = re.compile(r"[a-z]{2,}")

# Arabic numbers after NFKC: 172, 7,000, 5.73, with an optional ratio part (1:8, 1比8) and an
# optional magnitude (万, 亿) or percent sign.
_ARABIC_NUMBER = re.compile(
    r"(?<![\d.])(\d+(?:,\d{3})*(?:\.\d+)?)(?:\s*(?::|∶|比)\s*(\d+(?:\.\d+)?))?\s*(万亿|亿|万|%|‰)?"
)
_CN_PERCENT = re.compile(r"百分之([零〇一二两三四五六七八九十百]+)")
_APPROXIMATORS = frozenset("几数")
_MAGNITUDE = {"万亿": Decimal(10) ** 12, "亿": Decimal(10) ** 8, "万": Decimal(10) ** 4}
_CN_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
# A lone numeral counts as a number only before a measure word: 四天, 三项, 十个 — not 七大工程,
# 三措并举 or 百姓. 一 alone never counts (一个 is mostly the article "a").
_MEASURE_WORDS = frozenset("天个处名次家项支座条户所年月日周位场批种件台辆间栋层人届期倍")


def key_terms(text: str) -> frozenset[str]:
    """Key terms of ``text``: CJK character bigrams without function characters, Latin words
    (lower-cased) and numbers (as ``#<value>``)."""
    normalised = nfkc(text).lower()
    terms: set[str] = set()
    for run in _CJK_RUN.findall(normalised):
        for a, b in itertools.pairwise(run):
            if a not in _STOP_CHARS and b not in _STOP_CHARS:
                terms.add(a + b)
    terms.update(_LATIN_WORD.findall(normalised))
    terms.update(f"#{n}" for n in extract_numbers(text))
    return frozenset(terms)


def extract_numbers(text: str) -> frozenset[str]:
    """Numbers in ``text`` as canonical strings: values with 万/亿 applied (``5.73亿`` →
    ``573000000``), ``12.5%``, ratios ``1:8``, and Chinese numerals (``四天`` → ``4``)."""
    # "，" must not become a thousands separator ("7000人次，50余家" is two numbers).
    normalised = nfkc(text.replace("，", "、"))
    normalised = _CN_PERCENT.sub(_cn_percent_to_arabic, normalised)
    found: set[str] = set()
    for match in _ARABIC_NUMBER.finditer(normalised):
        number, ratio, suffix = match.group(1), match.group(2), match.group(3)
        if ratio is not None:
            found.add(
                f"{_canonical(Decimal(number.replace(',', '')))}:{_canonical(Decimal(ratio))}"
            )
            continue
        try:
            value = Decimal(number.replace(",", ""))
        except InvalidOperation:
            continue
        if suffix in _MAGNITUDE:
            found.add(_canonical(value * _MAGNITUDE[suffix]))
        elif suffix:
            found.add(f"{_canonical(value)}{suffix}")
        else:
            found.add(_canonical(value))
    for match in _CN_NUMERAL_RUN.finditer(normalised):
        if normalised[max(match.start() - 1, 0) : match.start()] in _APPROXIMATORS:
            continue  # 几十个, 数百名: not a definite number
        value_int = _chinese_numeral(match.group(0), normalised[match.end() : match.end() + 1])
        if value_int is not None:
            found.add(str(value_int))
    return frozenset(found)


def _cn_percent_to_arabic(match: re.Match[str]) -> str:
    value = _parse_chinese_numeral(match.group(1))
    return f"{value}%" if value is not None else match.group(0)


def _canonical(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _chinese_numeral(run: str, next_char: str) -> int | None:
    """Value of a run of Chinese numerals when it is used as a number, else ``None``."""
    has_unit = any(ch in "十百千万亿" for ch in run)
    if len(run) == 1:
        if run in "二三四五六七八九十两" and next_char in _MEASURE_WORDS:
            return _parse_chinese_numeral(run)
        return None
    if not has_unit:
        # 二〇二〇 reads digit by digit; 一一 ("one by one") is not a number.
        if set(run) <= {"一"}:
            return None
        return int("".join(str(_CN_DIGITS[ch]) for ch in run))
    return _parse_chinese_numeral(run)


def _parse_chinese_numeral(run: str) -> int | None:
    total = section = number = 0
    previous_digit = False
    for ch in run:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
            if previous_digit and digit != 0 and number != 0:
                return None  # 三四个: an approximation, not a number
            number = digit
            previous_digit = digit != 0
        elif ch in _CN_UNITS:
            section += (number or 1) * _CN_UNITS[ch]
            number, previous_digit = 0, False
        elif ch == "万":
            total += (section + number) * 10_000
            section, number, previous_digit = 0, 0, False
        elif ch == "亿":
            total = (total + section + number) * 100_000_000
            section, number, previous_digit = 0, 0, False
    return total + section + number


# --- place names -------------------------------------------------------------------------------

# Suffixes of place names, from the lowest level up: village (村, 社区), township (街道, 镇, 乡),
# county (区, 新区, 县), city (市), province (省). A finder takes the levels it reads with
# :func:`place_suffixes`.
PLACE_SUFFIXES = ("村", "社区", "街道", "镇", "乡", "区", "新区", "县", "市", "省")
# Words ending like a place name that name a kind of area, not a place (辖区, 小区, 示范区 …).
# The cleaner and follow-up resolution each add a few of their own.
GENERIC_AREAS = ("城区", "市区", "景区", "园区", "小区", "片区", "辖区", "山区", "郊区", "校区",
                 "街区", "功能区", "示范区")  # fmt: skip


def place_suffixes(up_to: str) -> tuple[str, ...]:
    """The suffixes of :data:`PLACE_SUFFIXES` up to level ``up_to``: ``"区"`` gives 村 社区 街道
    镇 乡 区 (a district and the places in it, what the reports are about), ``"县"`` adds 新区, 县."""
    return PLACE_SUFFIXES[: PLACE_SUFFIXES.index(up_to) + 1]


def suffix_pattern(suffixes: Iterable[str]) -> str:
    """A non-capturing alternation of ``suffixes`` (regex source), longest first."""
    return "(?:" + "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True)) + ")"


@functools.cache
def place_name_re(
    suffixes: tuple[str, ...],
    min_chars: int = 2,
    max_chars: int = 6,
    *,
    lazy: bool = False,
    chars: str = CJK_BASIC,
) -> re.Pattern[str]:
    """A place name: ``min_chars`` to ``max_chars`` characters of ``chars`` (a character class's
    ranges), then one of ``suffixes``. Greedy takes the longest name before a suffix, lazy the
    shortest, so that a chain of names reads as several: in 李沧区九水街道 greedy finds
    李沧区九水街道, lazy 李沧区 then 九水街道. (Only *whether* a text holds a match depends on
    neither ``max_chars`` nor ``lazy``.) ``.pattern`` embeds it in a larger pattern."""
    lazy_mark = "?" if lazy else ""
    return re.compile(f"[{chars}]{{{min_chars},{max_chars}}}{lazy_mark}{suffix_pattern(suffixes)}")


def place_suffix(name: str, suffixes: Sequence[str] = PLACE_SUFFIXES) -> str:
    """The longest of ``suffixes`` that ``name`` ends with, "" for none: 浦东新区 → 新区."""
    return max((s for s in suffixes if name.endswith(s)), key=len, default="")


def place_stem(name: str, suffixes: Sequence[str] = PLACE_SUFFIXES) -> str:
    """``name`` without its place suffix: 王哥庄街道 → 王哥庄; unchanged without one."""
    return name[: len(name) - len(place_suffix(name, suffixes))]
