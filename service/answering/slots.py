"""The asked slot: what a 多少/几, date, person or name question wants, bound to the thing it asks
about, and whether a sentence fills it.

A 多少/几 question whose measure word names a unit (多少名党员, 几家企业, 多少钱, 多少处) is answered
only by a number with that unit or a compatible one (名/人/位/人次; 元/万元/亿元; 家 …), in the clause
about the asked thing (党员, 企业) when the sentence names it — not by any number of the sentence.
A 哪一年 question wants a year, 几月 a month, 哪一天 a day; 谁/叫什么名字 a person's name; 叫什么 a
named thing; 什么时候 any time expression; a named dimension (面积有多大) a number in its units. A
slot is *confident* when its grammar leaves no doubt (a unit measure word, a dimension, a date, a
person's name); a confident slot that no sentence fills makes the composer refuse, and so does a
多少/几 count that no sentence states an amount of (:func:`asks_count`; the check is
``service.answering.amounts.fills_count``). Vague slots (多高, 多久, 谁 alone, 叫什么) only choose
and trim sentences: as a hard rule the loose type detectors refused 4 % of answerable CMRC 2018
questions. ``python -m bench.slot_fill`` checks every refusing rule on CMRC TRIAL.

Everything here is Chinese question grammar, written once and tested on sentences of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from indexer.ingest.cleaning import pos_tags
from indexer.text.zh import extract_numbers, nfkc
from service.answering.checks import _has_person, _new_numbers, expected_type, type_present
from service.answering.dimensions import DIMENSION_CLASSES, asked_dimension
from service.answering.persons import PERSON_NOUN, asked_role, names_role_holder
from service.answering.units import DIMENSION_UNITS, MONEY, PERSONS, UNIT_CLASSES

SlotKind = Literal["quantity", "date", "person", "name"]
Granularity = Literal["", "year", "month", "day"]

# Nouns that imply a unit class without naming the unit (多少资金, 多少党员). The unit is then a
# guess, so the slot is not confident: only a sentence with no amount of the noun at all refuses.
_MONEY_NOUNS = ("资金", "经费", "投资", "费用", "金额", "资产", "收入", "奖金", "补贴", "人民币")
_PERSON_NOUN_ENDS = ("员", "者", "民", "众", "生", "师", "工", "兵", "口", "户", "人", "士")

# The interrogative of a quantity, not 几乎/几经/几度 (adverbs) nor 好几 (an amount, not a question)
# nor 哪几 (which ones: a list) or 第几 (an ordinal)
_QUANTITY_WORD = re.compile(r"(?<![哪第])多少|(?<![好哪第])几(?![乎何经度近多])")
_VAGUE_QUANTITY = re.compile(r"多大(?!学)|多高|多长|多久|多远|多重|比例|百分之")
_MEASURES = sorted(UNIT_CLASSES, key=len, reverse=True)
_MEASURE_AFTER = re.compile("(" + "|".join(map(re.escape, _MEASURES)) + ")")
_MONEY_NOUN_AFTER = re.compile("(" + "|".join(_MONEY_NOUNS) + ")")

_DATE_WORDS: tuple[tuple[Granularity, re.Pattern[str]], ...] = (
    ("year", re.compile(r"哪一?年(?!代|级)|何年")),
    ("month", re.compile(r"几月(?!份?[的里中])|哪一?个月|几月份")),
    ("day", re.compile(r"哪一?天|几号|几月几[日号]|哪一?日")),
)
_DATE_ANY = re.compile(r"什么时候|何时|什么时间|哪个时期|什么年代|哪一?年代")
# what answers 什么时候 besides a calendar date: an era, a season, a time of day, an age, a time
# relative to an event (「四国征伐后」). On CMRC 2018 TRIAL every answer sentence of such a
# question holds one (84 of 84, ``python -m bench.slot_fill``), against 52 of the bundled
# reports' 267 body sentences: a sentence without one does not answer it.
_WHEN = re.compile(
    r"\d{1,4}\s*[年月日号]|\d{1,2}[:：]\d{2}|[一二三四五六七八九十〇零两]{1,4}[年月日号]|世纪|年代|时期|时代|时候|期间"
    r"|之[前后际初末]|以[前后来]|[年月纪代朝期唐宋元明清]初|[年月纪代朝期唐宋元明清]末|[初末]期|[起最]初"
    r"|[汉唐宋元明清秦隋晋周商夏]朝|王朝|朝代|[古近现当汉唐宋元明清秦隋晋周商夏]代|[春夏秋冬]季|[春夏秋冬]天"
    r"|(?:春|中秋|端午|国庆|元宵|清明|重阳|劳动|圣诞|七夕)节|节日|除夕|当[天日年时晚]|[同次翌]年|此后|其后"
    r"|至今|岁|早上|晚上|凌晨|中午|正午|深夜|午夜|[早中晚后前]期|[\u4e00-\u9fff]{2,}后(?=[,，。])"
)
# A person's name is surely asked by 姓名 and 哪位, and by 叫什么名字 after a person (书记, 负责人);
# 谁 is answered by roles and bodies as often (由谁委任 → 总督; 归谁所有 → a company): on CMRC 2018
# TRIAL 16 of 71 answer sentences of 谁 questions name no person, so 谁 alone is not confident.
_NAME_ASKED = re.compile(r"姓名|哪一?位(?![置于])")
_PERSON_NAME_ASKED = re.compile(PERSON_NOUN + r"(?:的名字)?(?:叫什么名字|叫什么|名字是什么|的名字叫什么)")
# the interrogative a refusal's phrase is cut at, by slot kind (most specific first)
_INTERROGATIVES: dict[SlotKind, re.Pattern[str]] = {
    "quantity": re.compile(r"多少|(?<!好)几(?![乎何经度近多])|多大|多高|多长|多久|多远|多重|百分之"),
    "date": re.compile(r"几月几[日号]|几月份?|几号|什么时候|何时|什么时间|哪一?[年天日]|何年|哪一?个月|哪个时期"
                       r"|什么年代"),
    "person": re.compile(r"谁|叫什么名字|姓名|名字是什么|哪一?位"),
    "name": re.compile(r"叫什么|什么名称|名称是|什么品牌|什么称号|什么荣誉|什么奖|什么口号|什么平台|哪个平台"
                       r"|什么项目|什么活动"),
}

# A number a sentence states: Arabic or a Chinese numeral run, an optional approximation before it
# (数百, 上千, 近万) and after it (余, 多, 万, 亿: 5000余万元).
_NUMBER = r"(?<![第\d.])(?P<pre>[数几上近约逾超])?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|[零〇一二两三四五六七八九十百千万亿]+)"
_AFTER_NUMBER = r"(?P<mod>\s*(?:[余多来几万亿千百十]|左右)*\s*)"
# clauses end at ，；。 (NFKC writes ， as ",", which is no thousands separator here: 1,750 stays whole)
_CLAUSE_SPLIT = re.compile(r"[；;。！!？?\n]|,(?!\d{3}(?!\d))")
# a table row as the readers write it (「项目：注册志愿者；数量：5200人」, NFKC): its cells are one clause
_TABLE_ROW = re.compile(r"[^:;。]{1,30}:[^;。]*(?:;[^:;。]{1,30}:[^;。]*)+")


def clauses_of(text: str) -> list[str]:
    """The clauses of an NFKC sentence; a table row is one clause (its cells name each other)."""
    if _TABLE_ROW.fullmatch(text):
        return [text]
    return [c for c in _CLAUSE_SPLIT.split(text) if c]

# a year: 2018年, 一九九八年, an era's year (崇宁五年), 同年/次年 after a stated one; not 今年 or
# 去年, which a report never anchors (「今年以来」 does not say which year)
_YEAR = re.compile(
    r"\d{2,4}\s*年(?!代)|[〇零一二三四五六七八九]{2,4}年|[元正一二三四五六七八九十百]{1,4}年|[同当次翌]年"
    r"|(?<!\d)(?:1\d{3}|20\d{2})(?!\d)|\d{2,4}\s*年代"
)
_MONTH = re.compile(r"\d{1,2}\s*月|[一二三四五六七八九十正腊冬]{1,2}月")
_DAY = re.compile(
    r"\d{1,2}\s*[日号]|[一二三四五六七八九十廿卅]{1,3}[日号]|初[一二三四五六七八九十]|除夕|[\u4e00-\u9fff]{1,4}节"
    r"|星期[一二三四五六日天]|周[一二三四五六日天]"
)
# a foreign name: transliterated with a middle dot (乔治·华盛顿) or in Latin script (Kampon, Konami);
# an acronym (GDP) is no name
_FOREIGN_NAME = re.compile(r"[\u4e00-\u9fff]{1,8}[·•・][\u4e00-\u9fff]{1,8}|(?<![A-Za-z])[A-Z][a-z]{2,}")

# words of the asked thing: nouns, adjectives and distinguishing words before the noun, idioms,
# abbreviations; a leading two-character verb may qualify it (在编公务员)
_THING_FLAGS = ("n", "b", "a", "i", "j", "l", "vn", "f", "nz")
_NOT_QUALIFIERS = frozenset({"是", "有", "为", "被", "在", "将", "把", "让", "对", "从", "由"})
# words that link a subject to the interrogative, dropped from a refusal's phrase
_LINKS = ("一共有", "总共有", "共计有", "共有", "一共", "总共", "共计", "合计", "大约有", "大约", "约有",
          "拥有", "包括", "有", "是", "为", "约", "了", "于", "在", "达", "达到", "共")
_LOCATIVE_END = re.compile(r"(?:当中|之中|中|里|内)$")
_ASPECT = re.compile(r"了(?!解)")
_CLASS_NOUNS = {"person": "人数", "money": "金额", "area": "面积", "length": "长度", "weight": "重量",
                "duration": "时长", "age": "年龄", "倍": "倍数"}
_GRANULARITY_NOUNS = {"year": "年份", "month": "月份", "day": "日期", "": "时间"}


@dataclass(frozen=True)
class Slot:
    """What a question asks for.

    ``unit`` is the measure word or unit noun it names ("" for a bare 多少), ``unit_class`` its
    class ("person", "money", "家" …), ``units`` the units that answer it; ``thing`` the noun
    phrase it counts (党员, 五星级酒店) and ``head`` its last word (酒店), or for 「…社长是谁」 the role
    whose holder is asked (社长); ``granularity`` how fine
    a date it wants; ``confident``: no sentence without it can answer the question."""

    kind: SlotKind
    confident: bool
    unit: str = ""
    unit_class: str = ""
    units: tuple[str, ...] = ()
    thing: str = ""
    head: str = ""
    granularity: Granularity = ""


def parse_slot(question: str) -> Slot | None:
    """The slot ``question`` asks to fill, or ``None`` when it asks for no number, date, person or
    name (为什么, 怎么, 哪个街道 …)."""
    q = nfkc(question)
    kind = expected_type(q)
    if kind == "date":
        for granularity, pattern in _DATE_WORDS:
            if pattern.search(q):
                return Slot("date", confident=True, granularity=granularity)
        return Slot("date", confident=bool(_DATE_ANY.search(q)))  # 什么时候: some time expression
    if kind == "person":
        role = asked_role(q)  # 「…社长是谁」: the role whose holder a sentence must name
        return Slot("person", confident=bool(_NAME_ASKED.search(q) or _PERSON_NAME_ASKED.search(q) or role),
                    thing=role)
    if kind == "name":
        return Slot("name", confident=False)
    if kind == "quantity" and (_QUANTITY_WORD.search(q) or _VAGUE_QUANTITY.search(q)):
        return _quantity_slot(q)
    return None  # 为什么, 怎么, 哪个街道; or 几 as in 几乎 (almost), which asks nothing


def _quantity_slot(q: str) -> Slot:
    """A 多少/几 slot: the unit named right after the interrogative and the thing after it; with
    no unit after it (「党员有多少名」), the unit at the end and the thing before it."""
    word = _QUANTITY_WORD.search(q)
    measured = word is not None and _MEASURE_AFTER.match(q[word.end():]) is not None
    dimension = None if measured else asked_dimension(q)
    if dimension is not None:  # 面积有多大: an area, though no unit is named
        # no thing to bind the number to: the owner (袋鼠) is the sentence's subject, and the
        # number often stands in a later clause (「尤金袋鼠很细小，约只有8公斤重」)
        unit_class = dimension[1]
        return Slot("quantity", confident=True, unit_class=unit_class, units=DIMENSION_UNITS[unit_class])
    if word is None:  # 多大, 多久, 比例: a quantity with no unit to hold it to
        return Slot("quantity", confident=False)
    before, after = q[: word.start()], q[word.end():]
    money = _MONEY_NOUN_AFTER.match(after)
    if money:
        thing = _thing(after) or money.group(1)
        return Slot("quantity", confident=False, unit=money.group(1), unit_class="money", units=MONEY,
                    thing=thing, head=head_word(thing))
    measure = _MEASURE_AFTER.match(after)
    first = pos_tags(after)[0][0] if after else ""
    if measure is not None and len(first) > len(measure.group(1)) and first != "个月":
        measure = None  # the start of a noun, not a measure word (多少人口, 几年级)
    if measure is None:
        thing = _thing(after)
        if thing and implied_units(thing) == PERSONS:
            head = head_word(thing)
            return Slot("quantity", confident=False, unit_class="person", units=PERSONS, thing=thing, head=head)
        return Slot("quantity", confident=False, thing=thing, head=head_word(thing) if thing else "")
    unit = measure.group(1)
    if unit == "个" and after[1:2] == "月":
        unit = "个月"
    unit_class, units = UNIT_CLASSES[unit]
    # after a measure word a word jieba tags as a name is the counted noun (多少名师生: 师生 nr)
    thing = _thing(after[len(unit):], names=True)
    if not thing:
        thing = _last_noun(before)
    return Slot("quantity", confident=True, unit=unit, unit_class=unit_class, units=units,
                thing=thing, head=head_word(thing) if thing else "")


def counted_thing(question: str) -> str:
    """The noun a 多少/几 question counts: after the interrogative and its measure word (多少名党员
    → 党员, 几所中学 → 中学), else the noun right before it (「人口有多少」 → 人口); "" if none."""
    q = nfkc(question)
    word = _QUANTITY_WORD.search(q)
    if word is None:
        return ""
    return _quantity_slot(q).thing or _last_noun(q[: word.start()])


def implied_units(thing: str) -> tuple[str, ...]:
    """The units a counted noun implies without a measure word (人口, 党员: persons; 资金: money),
    () for a noun of no class (问题: 件, 个, 项 … all count it)."""
    if thing.endswith(_MONEY_NOUNS):
        return MONEY
    if thing.endswith(_PERSON_NOUN_ENDS) and not thing.endswith("收入"):
        return PERSONS
    return ()


def _thing(text: str, *, names: bool = False) -> str:
    """The noun phrase at the start of ``text`` (「五星级酒店被评为…」 → 五星级酒店); a word tagged as
    a person's name starts it only with ``names``."""
    words: list[str] = []
    for i, (word, flag) in enumerate(tags := pos_tags(text)):
        if (flag.startswith(_THING_FLAGS) and not flag.startswith(("nr", "ns"))) or (flag == "nr" and (words or names)):
            words.append(word)
            continue
        if words and flag in ("zg", "g", "ng") and len(word) == 1:  # a bound suffix: 网格 + 员
            words.append(word)
            continue
        # a qualifying verb before the noun (在编公务员), not a copula (是村改居社区)
        nxt = tags[i + 1][1] if i + 1 < len(tags) else ""
        if not words and flag == "v" and len(word) == 2 and word not in _NOT_QUALIFIERS and nxt.startswith("n"):
            words.append(word)
            continue
        break
    return "".join(words)


def _last_noun(text: str) -> str:
    """The last noun of ``text`` (「街道的党员有」 → 党员), the counted thing of 「…有多少名」."""
    tags = pos_tags(text)
    for word, flag in reversed(tags):
        if flag.startswith("n") and not flag.startswith(("nr", "ns")) and len(word) >= 2:
            return word
        if flag.startswith(("n", "v", "a", "b")) and word not in _LINKS:
            return ""  # the noun is not right before the interrogative: no thing to bind to
    return ""


def head_word(thing: str) -> str:
    """The last word of ``thing`` (五星级酒店 → 酒店), the part a sentence usually repeats."""
    words = [w for w, _ in pos_tags(thing)]
    head = words[-1] if words else thing
    return head if len(head) >= 2 else thing


def number_unit_re(units: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(u) for u in sorted(set(units), key=len, reverse=True))
    return re.compile(_NUMBER + _AFTER_NUMBER + f"(?P<unit>{alternatives})")


def _counts(slot: Slot, text: str, question: str) -> bool:
    """Whether ``text`` states a number with a unit of ``slot`` that the question does not state
    and that is not a date (2018年 does not answer 多少年)."""
    stated = extract_numbers(question)
    for m in number_unit_re(slot.units).finditer(text):
        number, pre, mod = m.group("num"), m.group("pre") or "", m.group("mod").strip()
        if (number == "一" and not pre and not mod) or (re.fullmatch(r"[百千万亿]+", number) and not pre):
            continue  # 一件小事: the article "a"; 万家, 百家: "many", an idiom, not a count
        if m.group("unit") == "年" and re.fullmatch(r"\d{4}", number):
            continue
        values = extract_numbers(number + mod)
        if values and values <= stated:
            continue
        return True
    return False


def slot_filled(slot: Slot, sentence: str, question: str) -> bool:
    """Whether ``sentence`` carries an answer to ``slot`` of ``question``.

    A quantity with a unit: a new number with a compatible unit, in a clause that names the asked
    thing when the sentence names it (「有企业30家，其中五星级酒店…」 does not count hotels); a
    quantity without one: any new number. A date: one as fine as asked (a year for 哪一年). A
    person: a person's name. A name: a quoted name or proper noun."""
    text = nfkc(sentence)
    if slot.kind == "quantity":
        if not slot.units:
            return bool(_new_numbers(text, question))
        clauses = clauses_of(text)
        # a number right before the counted noun counts it with no measure word (「20万师生」)
        slot = replace(slot, units=slot.units + tuple(n for n in (slot.thing, slot.head) if n))
        for name in (slot.thing, slot.head):
            if name and name in text:
                clauses = [c for c in clauses if name in c]
                break
        return any(_counts(slot, clause, question) for clause in clauses)
    if slot.kind == "date":
        if slot.granularity == "year":
            return bool(_YEAR.search(text))
        if slot.granularity == "month":
            return bool(_MONTH.search(text))
        if slot.granularity == "day":
            return bool(_DAY.search(text))
        return type_present("date", text, question) or bool(_YEAR.search(text) or _WHEN.search(text))
    if slot.kind == "person":
        return _has_person(text) or bool(_FOREIGN_NAME.search(text)) or names_role_holder(text, slot.thing)
    return type_present("name", text, question)


def asks_count(slot: Slot, question: str) -> bool:
    """Whether ``question`` asks 多少/几 of something (not 多大/比例): only a sentence stating an
    amount of what it counts answers it (:func:`service.answering.amounts.answers_count`)."""
    return slot.kind == "quantity" and bool(_QUANTITY_WORD.search(nfkc(question)))


def unfilled(slot: Slot | None, question: str, window_fills: Sequence[bool]) -> str | None:
    """What a refusal says is missing (see :func:`missing_phrase`) when no sentence of the refusal
    window fills (``window_fills``) a confident slot or a 多少/几 count; ``None`` when nothing is."""
    if slot is None or not (slot.confident or asks_count(slot, question)) or any(window_fills):
        return None
    return missing_phrase(slot, question)


def missing_phrase(slot: Slot, question: str) -> str:
    """What a refusal says was not found: the question's subject, the asked thing and what about
    it was asked (「星海街道有多少名党员？」 → 「星海街道党员的人数」); "" when the question names
    no subject to say it of."""
    q = nfkc(question).strip().rstrip("?？。!！ 呢吗")
    ask = _INTERROGATIVES[slot.kind].search(q)
    if ask is None:
        return ""
    # 了 marks an aspect, which a noun phrase does not take (「拆除了…的用时」 → 「拆除…的用时」)
    subject = _strip_links(_ASPECT.sub("", q[: ask.start()]))
    subject = _LOCATIVE_END.sub("", subject)
    rest = _ASPECT.sub("", q[ask.end():])
    if slot.kind == "quantity":
        if slot.unit and rest.startswith(slot.unit):
            rest = rest[len(slot.unit):]
        if slot.unit_class == "duration":  # 用几天时间拆除… → 拆除…的用时
            rest = _strip_links(rest.removeprefix(slot.thing), trailing=False)
            return _join(subject.removesuffix("用").removesuffix("花"), rest) + "的用时"
        thing = slot.thing if slot.thing and slot.thing not in subject else ""
        noun = _CLASS_NOUNS.get(slot.unit_class, "数量" if slot.unit_class else "")
        phrase = _join(subject, thing)
        if not noun or not phrase or subject.endswith(tuple(DIMENSION_CLASSES)):  # 「…活动室面积」 names it  # bare 多少: the subject is what was asked (「…的财政收入是多少」)
            return phrase
        return phrase + "的" + noun
    rest = _strip_links(rest.removesuffix("的"), trailing=False)
    if slot.kind == "date":
        return _join(subject, rest) + "的" + _GRANULARITY_NOUNS[slot.granularity]
    if slot.kind == "person":
        if not subject:
            return rest + "的人" if rest else ""
        return _join(subject, rest) + "的姓名"
    return _join(subject, rest) + "的名称" if subject else ""


def _strip_links(text: str, *, trailing: bool = True) -> str:
    """``text`` without the linking words between it and the interrogative (有, 是, 共有 …)."""
    changed = True
    while changed and text:
        changed = False
        for link in _LINKS:
            if trailing and text.endswith(link):
                text, changed = text[: -len(link)], True
                break
            if not trailing and text.startswith(link) and len(text) > len(link):
                text, changed = text[len(link):], True
                break
    return text


def _join(subject: str, thing: str) -> str:
    """``subject`` and ``thing`` as one noun phrase: 「街道的书记」 + 「的姓名」 reads 「街道书记的姓名」."""
    phrase = subject + thing
    if "的" in phrase:
        phrase = phrase[: phrase.rindex("的")] + phrase[phrase.rindex("的") + 1:]
    return phrase
