"""Answer kinds: whether a question asks for one fact, for every report that states something (a
list: 「哪些街道开展了…」「各社区…」「…的街道有哪些」), or for two named places compared (「A和B哪个…
更多」「A和B谁先…」) — and the single-fact question each part is answered with.

Chinese question grammar, written once and tested on sentences of its own (tests/answering/
test_kinds.py). A list is asked of a *level* of places or reports (街道, 社区, 地方, 单位, 报告 …),
never of a thing alone: 「该书有哪些特点？」 asks one report for several things, a fact question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from indexer.ingest.cleaning import pos_tags
from indexer.text.zh import PLACE_SUFFIXES, nfkc
from service.answering.followup import find_places

QuestionKind = Literal["fact", "list", "comparison"]

# The levels a list question ranges over: places, and reports as such.
_LEVELS = (*PLACE_SUFFIXES, "地方", "地区", "单位", "部门", "报告", "文章", "材料", "城市", "省份")
# a one-character level that is the start of a longer noun is no level (哪些区域, 哪些市场, 哪些村民)
_NOT_LEVEL = r"(?![域场民长级委政府容别块间落庄里内外部])"
_LEVEL = (
    "(?:" + "|".join(sorted((lv for lv in _LEVELS if len(lv) > 1), key=len, reverse=True))
    + "|(?:" + "|".join(lv for lv in _LEVELS if len(lv) == 1) + f"){_NOT_LEVEL})"
)
# 哪些街道 / 哪几个社区 / 都有哪些地方 / 哪一些单位
_WHICH = re.compile(rf"(?:都有|还有|有)?(?:哪些|哪几个|哪几家|哪几|哪一些)(?P<level>{_LEVEL})")
# 各街道 / 各个社区 / 每个街道 / 每一个社区
_EACH = re.compile(rf"(?:各个|每一个|每个|各)(?P<level>{_LEVEL}|地{_NOT_LEVEL})")
# …的街道有哪些 / …的社区都是哪些 / …的地方包括哪些 / …的有哪些街道
_LEVEL_THEN = re.compile(
    rf"的(?:(?P<level>{_LEVEL})(?:都|还)?(?:有|是|包括)哪些"
    rf"|(?:都|还)?(?:有|是|包括)(?:哪些|哪几个)(?P<after>{_LEVEL}))"
)
# A和B / A与B / A、B / A跟B / A同B
_JOIN = r"\s*(?:和|与|跟|同|及|、|以及)\s*"
# 哪个/哪一个/谁 … (更/比较/较)多|少|早|先 …: the last such word of the clause is the direction
# (「哪个辖区的高校更多」 compares 高校 by 多; 高 of 高校 is no direction)
_COMPARE = re.compile(
    r"(?:哪个|哪一个|哪家|哪里|谁)(?:的)?(?P<what>[^？?。，,！!]{0,16})"
    r"(?P<direction>多|少|高|低|大|小|长|短|早|晚|先|后|快|慢)(?P<tail>[^？?。！!多少高低大小长短早晚先后快慢]*)"
)
_DEGREE = re.compile(r"(?:更加|更|比较|较|要)$")
_EARLIER = frozenset("早晚先后快慢")
# A list marker ranges over reports when it is the subject: it opens the question or a clause, or
# follows a scope (「这些报告中」「2020年以来」). After a verb it is an object asked of one passage
# (「分布在哪些地方」「包括哪些县」): a fact question.
_SUBJECT_BEFORE = re.compile(r"(?:^|[，,：:；;、\s]|中|里|内|之中|当中|以来|期间|方面|当中|其中|上)$")
# adverbs of a list's predicate that mean "each": dropped from the question each report is asked
_EACH_ADVERB = re.compile(r"^(?:的)|分别|各自|都(?=[\u4e00-\u9fff])")
_QUESTION_END = re.compile(r"[？?。！!\s]+$")


@dataclass(frozen=True)
class QuestionShape:
    """What kind of answer a question wants. A list: the ``level`` it ranges over (街道, 社区…)
    and the span of the words that say so; a comparison: its two ``sides`` and the
    ``direction`` compared (多, 早 …)."""

    kind: QuestionKind
    level: str = ""
    span: tuple[int, int] = (0, 0)
    trailing: bool = False  # a list asked at the end: 「…的街道有哪些」
    sides: tuple[str, ...] = ()
    direction: str = ""
    compared: str = ""  # what a comparison compares (「哪个整改的隐患更多」: 整改的隐患)

    @property
    def asks_time(self) -> bool:
        """A comparison of when (谁先, 哪个更早), not of how many."""
        return self.direction in _EARLIER


FACT = QuestionShape("fact")


def question_shape(question: str, known_places: Iterable[str] = ()) -> QuestionShape:
    """The answer kind ``question`` asks for (its places found among ``known_places`` first)."""
    q = nfkc(question)
    compared = _comparison(q, known_places)
    if compared is not None:
        return compared
    for pattern in (_WHICH, _EACH, _LEVEL_THEN):
        m = pattern.search(q)
        if m is not None and (pattern is _LEVEL_THEN or _subject(q[: m.start()])):
            level = m.group("level") or m.group("after")
            return QuestionShape("list", level="地方" if level == "地" else level, span=m.span(),
                                 trailing=pattern is _LEVEL_THEN)
    return FACT


def _subject(before: str) -> bool:
    """Whether a list marker after ``before`` is its clause's subject or a place the clause
    happens in (「“三会一课”在哪几个街道落实了」), not a verb's object or complement
    (「分布在哪些地方」「包括哪些县」)."""
    if _SUBJECT_BEFORE.search(before):
        return True
    if before.endswith("在"):
        tags = pos_tags(before[:-1])
        flag = tags[-1][1] if tags else ""
        return not flag.startswith("v") or flag == "vn"  # 分布在 is a verb's; 服务(vn)在 a subject's
    return False


def _comparison(q: str, known_places: Iterable[str]) -> QuestionShape | None:
    m = _COMPARE.search(q)
    if m is None:
        return None
    before = q[: m.start()]
    places = find_places(before, known_places)
    if len(places) < 2:
        return _named_sides(q, m)
    first, second = places[-2], places[-1]
    a = before.rfind(first)
    b = before.find(second, a + len(first))
    if b < 0 or not re.fullmatch(_JOIN, before[a + len(first) : b]):
        return None  # two places, but not one joined to the other (「A的书记比B…」)
    return QuestionShape("comparison", span=(a, m.end()), sides=(first, second),
                         direction=m.group("direction"), compared=_what(m))


# 「泺口服装城流动党支部和东辛村拆迁临时党支部，哪个成立得早」: two named things, joined, make
# up the clause before 哪个 (places or not)
_NAMED_SIDES = re.compile(
    r"(?:^|[。？?！!；;])\s*(?P<a>[^。？?！!；;，,、和与跟同]{2,24}?)\s*(?:和|与|跟|同)\s*"
    r"(?P<b>[^。？?！!；;，,、和与跟同]{2,24}?)\s*[，,]?\s*$"
)


def _named_sides(q: str, m: re.Match[str]) -> QuestionShape | None:
    """A comparison of two named things that are not both known places: the whole clause before
    the comparing word is 「A和B」."""
    sides = _NAMED_SIDES.search(q[: m.start()])
    if sides is None:
        return None
    return QuestionShape("comparison", span=(sides.start("a"), m.end()), sides=(sides["a"], sides["b"]),
                         direction=m.group("direction"), compared=_what(m))


def _what(m: re.Match[str]) -> str:
    """What a comparison compares: the words before its direction, without a degree (更)."""
    return _DEGREE.sub("", m.group("what")).strip("的")


def for_report(question: str, shape: QuestionShape, place: str) -> str:
    """The single-fact question a list question asks of one report about ``place`` (「哪些街道开展
    了拆迁工作？」 → 「九水街道开展了拆迁工作？」); ``place`` "" for a report that names none."""
    q = nfkc(question)
    start, end = shape.span
    if shape.trailing:
        # 「开展拆迁工作的街道有哪些？」 → 「九水街道开展拆迁工作？」
        body = q[:start] + _QUESTION_END.sub("", q[end:]) + "？"
    else:
        body = q[:start] + q[end:]
        # 「在哪几个街道落实了」: the place a clause happens in goes with the marker
        if body[:start].endswith("在"):
            body, start = body[: start - 1] + body[start:], start - 1
    # 「各街道的党工委书记分别是谁」 → 「党工委书记是谁」: "each" is the list's, not the report's
    body = body[:start] + _EACH_ADVERB.sub("", body[start:])
    return place + body


def for_side(question: str, shape: QuestionShape, side: str) -> str:
    """The single-fact question a comparison asks of one side (「九水街道和湖岛街道哪个整改的隐患
    更多？」 → 「九水街道整改的隐患有多少？」, 「A和B谁先成立…？」 → 「A什么时候成立…？」)."""
    q = nfkc(question)
    start = shape.span[0]
    m = _COMPARE.search(q, start)
    if m is None:  # not the shape of this question: ask it as it is
        return q
    asked = "什么时候" if shape.asks_time else "有多少"
    what = _DEGREE.sub("", m.group("what"))
    tail = _QUESTION_END.sub("", m.group("tail"))
    return f"{q[:start]}{side}{what}{asked}{tail}？"
