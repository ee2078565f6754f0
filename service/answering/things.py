"""The thing a list question asks each report about (「哪些街道推行了垃圾分类？」 → 垃圾分类), as the
words a quoted sentence must hold to state it, and the sentences a list row or a comparison side
may quote (:func:`rows_stating`).

A list quotes, from each report, only sentences that hold the thing; which words name it is
decided from the question's grammar (its noun phrases and quoted names) and the index's term
statistics, never from a word list:

* a quoted name (“三会一课”, “党建+”) is the thing, whole: program names match exactly;
* else the rarest term of the question's noun phrases (拆迁 of 拆迁工作, not the verb 承担), with
  the terms of its phrase that are about as rare (垃圾 of 垃圾分类: a sentence about 分类制定标准 does
  not state it; 工作 of 拆迁工作 is common and need not be there);
* an attribute is the thing only with its noun (临时 of 临时党支部: not 「临时救助」);
* a noun the reports never use (河长制, 无偿献血) is the thing: nothing states it;
* a compound word stands for itself or for all of its parts (安全隐患: 「消防安全、用电安全等隐患」);
* a question asking which place of a level (「属于哪个区」) is stated by a place of that level.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from indexer.retrieval.evidence import Candidate
from indexer.text.zh import GENERIC_AREAS, PLACE_SUFFIXES, norm
from service.answering.amounts import head_noun, stated_amounts, unit_class
from service.answering.slots import Slot, slot_filled

_QUOTED = re.compile(r"[“「『\"‘']([^”」』\"’']{2,30})[”」』\"’']")
# a companion term of the thing's phrase is required when at most this many times as common
COMPANION_RATIO = 2


@dataclass(frozen=True)
class Thing:
    """The words a sentence must hold to state what a list question asks about: every term of
    ``terms``, each by its own string or (``parts``) by all of its parts."""

    terms: tuple[str, ...] = ()
    parts: tuple[tuple[str, ...], ...] = ()  # per term: sub-words that together spell it; () none
    places: tuple[str, ...] = ()  # a question asking which place of a level (哪个区): one of these

    def __bool__(self) -> bool:
        return bool(self.terms or self.places)

    def held_by(self, text: str) -> bool:
        """Whether ``text`` (normalised as :func:`indexer.text.zh.norm`) states the thing."""
        if self.places and not any(p in text for p in self.places):
            return False
        return all(
            term in text or (bool(parts) and all(p in text for p in parts))
            for term, parts in zip(self.terms, self.parts, strict=True)
        )


NOTHING = Thing()


def make_thing(terms: Sequence[str], all_terms: Sequence[str]) -> Thing:
    """A thing of ``terms`` (normalised), each with the sub-words among ``all_terms`` (the
    question's terms) that spell all of it, when there are such."""
    wanted = tuple(dict.fromkeys(norm(t) for t in terms if norm(t)))
    return Thing(wanted, tuple(_spelling_parts(t, [norm(a) for a in all_terms]) for t in wanted))


def _spelling_parts(term: str, candidates: Sequence[str]) -> tuple[str, ...]:
    """The shorter ``candidates`` inside ``term`` that together cover every character of it (安全隐患
    → 安全, 隐患); () when they do not (主题党日 with only 主题)."""
    parts = [c for c in dict.fromkeys(candidates) if 1 < len(c) < len(term) and c in term]
    covered = [False] * len(term)
    for p in parts:
        at = term.find(p)
        while at >= 0:
            covered[at : at + len(p)] = [True] * len(p)
            at = term.find(p, at + 1)
    return tuple(parts) if parts and all(covered) else ()


def places_of_level(places: Iterable[str], level: str) -> tuple[str, ...]:
    """The ``places`` of ``level`` (区: 李沧区, not 延川路社区, whose level is 社区, nor 辖区, no
    place), longest first."""
    def level_of(place: str) -> str:
        return max((s for s in PLACE_SUFFIXES if place.endswith(s)), key=len, default="")
    named = {norm(p) for p in places if level_of(p) == level and len(p) > len(level) and p not in GENERIC_AREAS}
    return tuple(sorted(named, key=lambda p: (-len(p), p)))


def quoted_names(question: str) -> list[str]:
    """The names ``question`` quotes (“三会一课”, 「巷网会客议事厅」)."""
    return [m.group(1).strip() for m in _QUOTED.finditer(question) if m.group(1).strip()]


def list_thing(
    question: str,
    terms: Sequence[str],
    weights: Sequence[float],
    phrases: Sequence[str],
    verbs: frozenset[str],
    doc_freq: Callable[[str], int] | None,
    place_kind: str = "",
    known_places: Iterable[str] = (),
    attributes: frozenset[str] = frozenset(),
) -> Thing:
    """What the list question ``question`` (asked of one report: 「推行了垃圾分类？」) asks about.
    ``terms``/``weights``: its search terms and their weights (IDF); ``phrases``: its noun phrases;
    ``verbs``: its words tagged as verbs; ``doc_freq``: passages of the index holding a term (None:
    unknown); ``place_kind``: the level of place it asks for (哪个区: 区), if it asks for one, stated
    by one of the ``known_places`` of that level; ``attributes``: its words tagged as attributes
    (临时, 安全)."""
    if place_kind:
        return Thing(places=places_of_level(known_places, place_kind))
    quoted = quoted_names(question)
    if quoted:
        return make_thing(quoted, terms)
    weighted = [(w, t) for t, w in zip(terms, weights, strict=False) if len(t) >= 2]
    if not weighted:
        return NOTHING

    def df(term: str) -> int | None:
        return doc_freq(term) if doc_freq is not None else None

    def unused(term: str) -> bool:
        # no passage uses it, nor every part of it (法律顾问 is indexed as 法律 + 顾问)
        parts = _spelling_parts(term, terms)
        return df(term) == 0 and not (parts and all(df(p) for p in parts))

    # a noun no report uses names the thing: nothing states it
    never = [t for _, t in weighted if t not in verbs and unused(t)]
    if never:
        return make_thing([max(never, key=len)], terms)
    named = [(w, t) for w, t in weighted if any(t in p for p in phrases)]
    # a verb leading the phrase that no report uses (建有党群服务中心) does not name the thing
    named = [(w, t) for w, t in named if not (t in verbs and unused(t))] or named
    key = max(named or weighted)[1]
    phrase = next((p for p in phrases if key in p), "")
    key_df = df(key)
    companions = [
        t for _, t in weighted
        if phrase and t in phrase and t not in key and key not in t and t not in verbs
        and key_df is not None and (df(t) or 0) <= COMPANION_RATIO * key_df + 1
    ]
    if key in attributes and phrase.startswith(key):
        # an attribute is no thing by itself: 临时 of 临时党支部 needs its noun (not 临时救助)
        head = max((t for t in terms if phrase.endswith(t) and t != key and key not in t), key=len, default="")
        companions += [head] if head else []
    return make_thing([key, *companions], terms)


_STATED_YEAR = re.compile(r"(?:1[89]|20)\d{2}年")


def rows_stating(
    ranked: Sequence[Candidate],
    question: str,
    thing: Thing,
    slot: Slot | None,
    *,
    dated: bool = False,
    amount_of: str = "",
) -> list[Candidate]:
    """The ``ranked`` sentences a list row or comparison side may quote: holding ``thing``,
    stating the asked ``slot`` (:func:`states_slot`; an amount in the asked unit first), a year
    when ``dated``, an amount of the noun ``amount_of`` when given."""
    rows = [c for c in ranked if thing.held_by(norm(c.sentence.text))] if thing else list(ranked)
    if dated:
        rows = [c for c in rows if _STATED_YEAR.search(norm(c.sentence.text))]
    if amount_of:
        rows = [c for c in rows if stated_amounts(c.sentence.text, amount_of)]
    if slot is not None:
        rows = [c for c in rows if states_slot(slot, c.sentence.text, question)]
        # an amount in the asked unit first (「34个社区」 before 「2095名社区党员」)
        rows.sort(key=lambda c: not exact_amount(slot, c.sentence.text))
    return rows


def states_slot(slot: Slot, sentence: str, question: str) -> bool:
    """Whether ``sentence`` states what ``slot`` asks, as a list row must: the slot filled and,
    for an amount of a named thing, an amount of that thing (「8个城市社区」 for 多少个社区, not
    「四个放心」 in a clause that also names 社区, nor 「10年的社区居民」)."""
    if not slot_filled(slot, sentence, question):
        return False
    noun = head_noun(slot.thing) if slot.kind == "quantity" and slot.thing else ""
    if not noun or not slot.units:
        return True
    return any(unit in slot.units or unit_class(unit) == slot.unit_class
               for _, unit in stated_amounts(sentence, noun))


def exact_amount(slot: Slot, sentence: str) -> bool:
    """Whether ``sentence`` states an amount of the slot's thing in the asked unit (多少个社区:
    「34个社区」, not 「2095名社区党员」)."""
    if slot.kind != "quantity" or not slot.unit or not slot.thing:
        return False
    return any(unit == slot.unit for _, unit in stated_amounts(sentence, head_noun(slot.thing)))
