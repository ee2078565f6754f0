"""Answer checks that hold on questions nobody tuned for: what kind of answer the question expects,
whether quoted sentences carry it, and whether they are about the things the question names.

* **Expected type**, from the question's interrogative: a quantity (多少, 几, 多大…), a person
  (谁, 叫什么名字), a date (什么时候, 何时, 哪一年…), a place or organisation (哪个街道, 哪家单位…), a
  name (叫什么, 什么品牌…) or a method (怎么, 如何, 采取了什么措施). Other questions (为什么, 什么)
  expect no particular type.
* **Type present**: a quantity is a number the question does not already state (「2020年」 in
  「湖岛街道2020年的GDP增长了多少？」 is not an answer to 多少), read with the number normaliser of
  the LLM checks; a person is a name jieba tags as a person (书记陆兆纲), not a place it misreads;
  a date is a year, month or day; a place is a place name; a name is a quoted name, a proper
  noun or a Latin-script name.
* **Named things match**: places (街道/社区/区…), quoted names and Latin-script terms (GDP, 5G) in
  the question must appear in the quoted sentence or in its report's title and place metadata: a
  sentence about 王哥庄街道's 党工委书记 does not answer a question about 堤口路街道's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from indexer.ingest.cleaning import find_places, pos_tags
from indexer.text.zh import PLACE_SUFFIXES, extract_numbers, nfkc, place_name_re, suffix_pattern
from indexer.types import Report

AnswerType = Literal["quantity", "person", "date", "place", "name", "method", "other"]

# The place levels a 哪个… question names: all of ``PLACE_SUFFIXES`` but 新区 (as they always were).
_ASKED_LEVELS = "|".join(s for s in PLACE_SUFFIXES if s != "新区")

# The interrogatives of each type, most specific first. These are Chinese question grammar, not
# words of any evaluated question.
_TYPE_PATTERNS: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    ("date", re.compile(r"什么时候|何时|哪一?年|哪一?天|几月|几号|哪个月|什么时间|哪一?日")),
    ("person", re.compile(r"谁|叫什么名字|姓名|名字是什么|哪位")),
    ("place", re.compile(rf"哪个?(?:{_ASKED_LEVELS}|单位|部门|机构|公司|企业|学校|医院)|哪里|哪儿|什么地方|何处|哪家")),
    ("quantity", re.compile(r"多少|几[个天年次名所处件家项条期人位户轮批种支座万千百十]?|多大(?!学)|多高|多长|多久|多远|多重|比例|百分之")),
    ("method", re.compile(r"怎么|怎样|如何|采取了?(?:哪些|什么)|通过(?:哪些|什么)(?:方式|办法|措施|途径)|(?:哪些|什么)(?:措施|办法|举措|方式|做法)")),
    ("name", re.compile(r"叫什么|什么名称|名称是|什么品牌|什么称号|什么荣誉|什么奖|什么口号|什么平台|哪个平台|什么项目|什么活动")),
)
_YEARISH = re.compile(r"\d{4}\s*年|\d{1,2}\s*月|\d{1,2}\s*[日号]|[一二三四五六七八九十〇零]{2,4}年")
_DATE = re.compile(r"\d{4}\s*年|\d{1,2}\s*月|\d{1,2}\s*[日号]|年初|年底|年末|上半年|下半年|今年|去年|明年|春节|国庆|元旦|季度")
_QUOTED = re.compile(r"[“「『《\"][^”」』》\"]{2,30}[”」』》\"]")
_PLACE_SUFFIX_WORDS = frozenset((*PLACE_SUFFIXES, "路", "街", "小区"))
# only searched for: whether a text holds a place name does not depend on the longest name
_PLACE_NAME = place_name_re(PLACE_SUFFIXES)
# a place suffix at the end (before a final line break, as ``$`` reads it)
_PLACE_SUFFIX_END = re.compile(suffix_pattern(PLACE_SUFFIXES) + "$")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*[A-Za-z0-9+]|[A-Za-z]")
_PERSON_FLAGS = frozenset({"nr", "nrfg", "nrt"})
_PLACE_FLAGS = frozenset({"ns", "nt", "nsf"})
_NAME_FLAGS = frozenset({"nz", "nt", "eng"})


def expected_type(question: str) -> AnswerType:
    """The kind of answer ``question`` asks for ("other" when its interrogative names none)."""
    q = nfkc(question)
    for kind, pattern in _TYPE_PATTERNS:
        if pattern.search(q):
            return kind
    return "other"


def _new_numbers(text: str, question: str) -> frozenset[str]:
    """Numbers of ``text`` that are not dates and not already stated in ``question``."""
    undated = _YEARISH.sub(" ", nfkc(text))
    return extract_numbers(undated) - extract_numbers(question)


def type_present(kind: AnswerType, text: str, question: str) -> bool:
    """Whether ``text`` (the quoted sentences) carries an answer of ``kind`` to ``question``."""
    if kind in ("other", "method"):
        return True  # a method is told in words: its check is where it is (see the composer)
    if kind == "quantity":
        return bool(_new_numbers(text, question))
    if kind == "date":
        return bool(_DATE.search(nfkc(text)))
    if kind == "name":
        # a quoted name, or one jieba knows as a proper noun or organisation, or Latin script
        if _QUOTED.search(text) or _LATIN.search(text):
            return True
        return any(flag in _NAME_FLAGS and len(word) >= 2 for word, flag in pos_tags(text))
    if kind == "person":
        return _has_person(text)
    # place or organisation
    if _PLACE_NAME.search(text):
        return True
    return any(flag in _PLACE_FLAGS and len(word) >= 2 for word, flag in pos_tags(text))


def _has_person(text: str) -> bool:
    """A person's name: a run of words jieba tags as a person (陆兆纲; 王 + 红梅), 2–4 characters,
    not followed by a place word (王哥庄 + 街道 is a place jieba misreads as a name)."""
    tags = pos_tags(text)
    i = 0
    while i < len(tags):
        if tags[i][1] not in _PERSON_FLAGS:
            i += 1
            continue
        j = i
        while j < len(tags) and tags[j][1] in _PERSON_FLAGS:
            j += 1
        name = "".join(word for word, _ in tags[i:j])
        following = tags[j][0] if j < len(tags) else ""
        if 2 <= len(name) <= 4 and following not in _PLACE_SUFFIX_WORDS:
            return True
        i = j
    return False


def question_entities(question: str, known_places: Iterable[str] = ()) -> tuple[str, ...]:
    """The named things ``question`` is about: place names, quoted names, Latin-script terms."""
    q = nfkc(question)
    # places the corpus knows or jieba's place finder recognises; not the loose 「…区/县」 pattern
    # of follow-up resolution, which reads 「秦朝时期成纪县」 or 「香港地区」 as a place name
    known = [k for k in known_places if k and k in q]
    found: list[str] = sorted(known, key=q.index) + [p for p in find_places(q) if p not in known]
    found += [m.group(0)[1:-1] for m in _QUOTED.finditer(q)]
    found += [m.group(0) for m in _LATIN.finditer(q) if len(m.group(0)) >= 2]
    return tuple(dict.fromkeys(e for e in found if e))


def _about(report: Report | None) -> str:
    if report is None:
        return ""
    places = report.meta.get("places") or []
    return " ".join([report.title, *(str(p) for p in places if p)])


def entities_match(entities: Iterable[str], text: str, report: Report | None) -> bool:
    """Every named thing of the question is in ``text`` (a sentence or its passage) or in what
    its report is about."""
    where = nfkc(text + " " + _about(report)).lower()
    for entity in entities:
        name = entity.lower()
        if name in where:
            continue
        # a place may be written without its suffix (王哥庄 for 王哥庄街道) or with a longer one
        stem = _PLACE_SUFFIX_END.sub("", name)
        if len(stem) >= 2 and stem != name and stem in where:
            continue
        return False
    return True


_SENTENCE_END = re.compile(r"[。！？!?；;…]")
_HEADING_MAX = 40


def is_heading(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (a sentence of a report) is a heading, a subtitle or a byline
    rather than a statement: a line of its own with no sentence-ending mark, short (「——青岛市崂山区
    王哥庄街道党建工作纪实」「党建引领 乡村振兴」), or a line opening with a dash."""
    span = text[start:end].strip()
    if not span:
        return False
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : len(text) if line_end < 0 else line_end].strip()
    if line.startswith(("——", "—", "--", "□", "■")):
        return True
    return line == span and len(span) <= _HEADING_MAX and not _SENTENCE_END.search(span)


# word classes of a noun phrase: nouns (not places), abbreviations, idioms, fixed phrases, verbal
# nouns; a verb joins when a noun follows it (拆迁 + 工作), an attribute when it leads a noun
# (临时 + 党支部, 安全 + 生产教育)
_NOUNISH = ("n", "j", "l", "i", "vn", "nz")
_ATTRIBUTES = frozenset({"a", "an", "b"})


def noun_phrases(text: str) -> list[str]:
    """The noun phrases of ``text`` (「承担了拆迁工作」 → [拆迁工作]; 「借助了高校的力量」 → [高校,
    力量]; 「成立了临时党支部」 → [临时党支部]); pronouns (自己) and places are none. Words jieba
    tags as persons count as nouns: it misreads nouns so (养老, 法律顾问), and a name is a noun."""
    phrases: list[str] = []
    run: list[str] = []
    tags = pos_tags(text)

    def nounish(i: int) -> bool:
        return i < len(tags) and tags[i][1].startswith(_NOUNISH) and not tags[i][1].startswith("ns")

    for i, (word, flag) in enumerate(tags):
        verb_before_noun = flag == "v" and not run and nounish(i + 1)
        attribute = flag in _ATTRIBUTES and nounish(i + 1)
        if nounish(i) or verb_before_noun or attribute:
            run.append(word)
            continue
        if run:
            phrases.append("".join(run))
            run = []
    if run:
        phrases.append("".join(run))
    return phrases
