"""Amounts a sentence states (a number with its unit, 万/亿 applied), optionally only those of a
named thing: what a comparison (「A和B哪个更多」) quotes and compares. Built on the unit classes of
:mod:`service.answering.slots`."""

from __future__ import annotations

import re

from indexer.ingest.cleaning import pos_tags
from indexer.text.zh import extract_numbers, nfkc
from service.answering.slots import (
    Slot,
    clauses_of,
    head_word,
    implied_units,
    number_unit_re,
    slot_filled,
)
from service.answering.units import UNIT_CLASSES

# every unit an amount may be stated in, longest first (万元 before 元)
_ALL_UNITS = tuple(sorted({*UNIT_CLASSES, *(u for _, units in UNIT_CLASSES.values() for u in units)},
                          key=len, reverse=True))
_AMOUNT_RE = number_unit_re(_ALL_UNITS)
_ANY_AMOUNT_RE = re.compile(_AMOUNT_RE.pattern + "?")  # the unit optional: 人口12万


def unit_class(unit: str) -> str:
    """The class a unit belongs to (名 and 人: "person"; 元 and 万元: "money"); a unit of no class
    is its own."""
    return UNIT_CLASSES.get(unit, (unit, ()))[0]


def stated_amounts(sentence: str, thing: str = "", near: int = 4) -> list[tuple[float, str]]:
    """The amounts ``sentence`` states, as (value with 万/亿 applied, unit); given a ``thing``,
    only the amounts of it: the thing right after the unit or right before the number, in the
    same clause, at most ``near`` characters of modifiers away (「整改隐患38处，新建活动室2个」 with
    隐患 → [(38, 处)]; 「2095名社区党员」 with 党员 → [(2095, 名)]). After the unit the thing must end
    its noun phrase: 「2095名社区党员」 counts 党员, not 社区. Vague amounts (数百, 上千, 近百) and years
    are no amount; a written number with 约/近/逾/超 is (「拆迁面积约8600平方米」)."""
    text = nfkc(sentence)
    found: list[tuple[float, str]] = []
    for clause in clauses_of(text):
        for m in _AMOUNT_RE.finditer(clause):
            number, unit = m.group("num"), m.group("unit")
            if _vague(m.group("pre") or "", number) or (unit == "年" and re.fullmatch(r"\d{4}", number)):
                continue
            if thing and not _heads_phrase(clause, m.end(), thing, near) \
                    and thing not in clause[max(0, m.start() - len(thing) - near) : m.start()]:
                continue
            scale = 1.0
            if unit[0] in "万亿" and len(unit) > 1:  # 5000余万元: 5000 × 万, in 元
                scale, unit = (1e4 if unit[0] == "万" else 1e8), unit[1:]
            mod = re.sub(r"[余多来几\s]|左右", "", m.group("mod"))  # 5000余万 is 5000万 and some
            values = extract_numbers(number + mod)
            if len(values) == 1:
                try:
                    found.append((float(next(iter(values))) * scale, unit))
                except ValueError:  # a ratio or a percentage: no amount of a unit
                    continue
    return found


# a share rather than a number (一半以上病人, 大多数居民, 三分之一)
_SHARE = re.compile(r"[一过大多]半|半数|多数|少数(?!民族)|大部分|小部分|分之[一二三四五六七八九十\d]|\d+(?:\.\d+)?%")


# a share counts the thing it is followed by within this many characters (「一半以上病人」, 「95%的党员」),
# not a rate before it (「满意率达到95%」)
_SHARE_NEAR = 8


def answers_count(sentence: str, question: str, thing: str, *, measured: bool = False,
                  units: tuple[str, ...] = ()) -> bool:
    """Whether ``sentence`` can answer the 多少/几 ``question`` counting ``thing``: it states a new
    amount of it, a share (一半以上) or a list of the thing (「A骑士团、B骑士团」). When the question
    names a measure word (``measured``: 几所中学), an amount counts the noun after it, and one that
    counts another noun does not answer (「12所高校」, 「20万师生」); else an amount answers in one
    of the ``units`` the thing implies, if any (人口: persons, so not 「三项清单」; 「人口12万」 has no
    unit and does), and paraphrases count (「1350件实事难事」 for 解决的问题有多少). On CMRC 2018
    TRIAL every answer sentence of a 多少/几 question passes (70 of 70, ``python -m bench.slot_fill``)."""
    return shares_or_lists(sentence, thing) or _states_amount(sentence, question, thing, measured, units)


def _states_amount(sentence: str, question: str, thing: str, measured: bool, units: tuple[str, ...]) -> bool:
    """The amount half of :func:`answers_count`: a new amount counting ``thing``."""
    text = nfkc(sentence)
    head = head_word(thing) if thing else ""
    clauses = clauses_of(text)
    asked = extract_numbers(question)
    for clause in clauses:
        for m in _ANY_AMOUNT_RE.finditer(clause):
            number, unit = m.group("num"), m.group("unit") or ""
            values = extract_numbers(number + m.group("mod"))
            if values and values <= asked:
                continue
            if not unit and (not number[0].isdigit() or re.fullmatch(r"(?:1[89]|20)\d{2}", number)):
                continue  # a numeral inside a word (十九大), or a year
            if re.fullmatch(r"[百千万亿]+", number) and not m.group("pre"):
                continue  # 进万家, 百家: "many", an idiom
            if (unit == "年" and re.fullmatch(r"\d{4}", number)) or unit == "周年":
                continue  # a year, an anniversary: no count
            if not measured:
                if not unit or not units or unit in units:
                    return True
                continue
            noun = _counted_noun(clause[m.end():])
            of_thing = bool(noun) and bool(head) and (head in noun or noun in thing or _kin(noun, head))
            if units and unit not in units and not (of_thing and not unit):
                continue  # 「分为六类」 is no count of 公务员 (名); 「20万师生」 counts 师生
            # no noun after it: the thing is the sentence's topic (「水栖昆虫…约有30,000种」)
            if not noun or not head or of_thing:
                return True
    return False


def fills_count(slot: Slot, question: str, thing: str, sentence: str) -> bool:
    """Whether ``sentence`` fills the slot of the 多少/几 ``question`` counting ``thing``: a share or a
    list of it, or the slot filled (a number in the asked unit) by an amount of the thing
    (:func:`answers_count`)."""
    units = slot.units if slot.unit else implied_units(thing)
    return shares_or_lists(sentence, thing) or (slot_filled(slot, sentence, question) and _states_amount(
        sentence, question, thing, bool(slot.unit), units))


def shares_or_lists(sentence: str, thing: str) -> bool:
    """Whether ``sentence`` answers a count of ``thing`` without a number of a unit: a share
    (一半以上, 大多数) or a list of the thing (「A骑士团、B骑士团」)."""
    text = nfkc(sentence)
    head = head_word(thing) if thing else ""
    if not head:
        return bool(_SHARE.search(text))
    items = re.compile(re.escape(head) + r"[”\"」』]?、")  # 「甲骑士团、乙骑士团」: items ending in the thing
    return any(
        any(head in c[m.end() : m.end() + _SHARE_NEAR] for m in _SHARE.finditer(c))
        or (items.search(c) and c.count(head) >= 2)
        for c in clauses_of(text)
    )


_PERSON_SUFFIXES = "员者人士师生工手"


def _kin(noun: str, head: str) -> bool:
    """Whether two nouns may name the same thing: they share a character (子女 for 孩子; not 高校
    for 中学), other than a person suffix ending both: counted in 名 or 人, every noun is a
    person, so 员 says nothing (党员 is not 公务员, 人员 not 会员)."""
    shared = set(noun) & set(head)
    if noun[-1] == head[-1] and noun[-1] in _PERSON_SUFFIXES:
        shared.discard(noun[-1])
    return bool(shared)


def _counted_noun(rest: str) -> str:
    """The noun phrase right after an amount (「12所高校及…」 → 高校), "" if none."""
    words: list[str] = []
    for word, flag in pos_tags(rest) if rest else ():
        if not flag.startswith(("n", "a", "b", "j", "l", "i", "vn")):  # jieba: 清单 a, 党委 j
            break
        words.append(word)
    return "".join(words)


def _vague(pre: str, number: str) -> bool:
    """Whether a number with the prefix ``pre`` names no amount to compare: 数/几/上 (数百, 上千)
    or an approximate prefix before a bare magnitude (近百, 逾千); 约8600 and 约两 are amounts."""
    return bool(pre) and (pre in "数几上" or all(ch in "十百千万亿" for ch in number))


def _heads_phrase(clause: str, end: int, thing: str, near: int) -> bool:
    """Whether the amount whose unit ends at ``end`` counts ``thing``: the thing follows within
    ``near`` characters of modifiers and is the head of that noun phrase, not a modifier of a
    noun after it (「34个社区」 and 「8个城市社区」 count 社区; 「2095名社区党员」 does not)."""
    at = clause.find(thing, end, end + len(thing) + near)
    if at < 0:
        return False
    after = pos_tags(clause[at + len(thing) :])
    return not after or not after[0][1].startswith("n")


def head_noun(phrase: str) -> str:
    """The last word of a noun phrase (「整改的安全隐患」 → 安全隐患 or 隐患), what a sentence
    repeats when it states an amount of it."""
    return head_word(phrase) if phrase else ""
