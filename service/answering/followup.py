"""Follow-up questions: a chat sends the whole conversation, retrieval needs one self-contained
question. The rules are below; ``QAEngine.resolve`` applies them with the corpus's place names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from indexer.ingest import cleaning
from indexer.text.zh import (
    GENERIC_AREAS,
    place_name_re,
    place_stem,
    place_suffix,
    place_suffixes,
    suffix_pattern,
)

# -- follow-up questions ------------------------------------------------------------------------
#
# A chat sends the whole conversation; retrieval needs one self-contained question. The latest user
# message is rewritten against the previous (already resolved) user question, so chains of
# follow-ups resolve one step at a time:
#
# 1. Ellipsis "那X呢？" / "X呢" / "X怎么样":
#    - X is a place ("那王哥庄呢？" after "九水街道共有多少处安全隐患被整改？"): the previous
#      question with its place replaced → "王哥庄街道共有多少处安全隐患被整改？" (a bare name
#      borrows the old place's suffix 街道/社区/…);
#    - X is something else ("那党工委书记呢？"): the previous place + X → "九水街道的党工委书记".
# 2. A follow-up without a place of its own — leading 那/还有/另外…, trailing 呢, or 该/这个 +
#    街道/社区… — gets the previous question's place: "那党建示范点是哪个社区？" after
#    "王哥庄街道2018年渔业总产值是多少？" → "王哥庄街道党建示范点是哪个社区？".
# 3. A bare cue ("还有呢？"): previous question + message.
# 4. Anything else is a new, self-contained question and is used as it is.
#
# Places: the corpus's place names (``Searcher.places``: reports' ``meta["places"]``, so a bare 王哥庄 is known as
# 王哥庄街道), the indexer's place finder, and a regex fallback for 2–6 Han characters ending in
# 街道/社区/新区/区/镇/乡/村/县 (the shortest such name, so 李沧区九水街道 is two), minus generic
# words (辖区, 小区…) and question words (哪个社区).

_SUFFIXES = place_suffixes("县")
_PLACE_RE = place_name_re(_SUFFIXES, lazy=True)
_LEADING_FUNCTION_CHARS = frozenset("那么这该此其和与及在从向对把被为的了是请问共有")
_QUESTION_WORDS = ("哪", "什么", "几", "多少", "怎", "如何", "谁", "为何")
_GENERIC_PLACE_WORDS = (*GENERIC_AREAS, "社区", "开发区", "保护区", "试验区", "居民区", "住宅区", "农村")
_CUE_RE = re.compile(r"^(?:那么|那|还有|另外|此外|然后|再问一下|再问|以及)")
_TRAILING_NE_RE = re.compile(r"呢\s*[？?。.！!]*$")
_ELLIPSIS_RE = re.compile(
    r"^(?:那么|那|还有|另外|再看看|换成|如果是)?\s*(?P<entity>[^，,。？?！!\s]{1,15}?)"
    r"(?:的情况|的)?\s*(?:呢|怎么样|如何|又如何|又怎么样)\s*[？?。.！!]*$"
)
_DEICTIC_RE = re.compile(rf"(?:该|这个|那个|此|本)({suffix_pattern(_SUFFIXES)})")
_BARE_CUE_RE = re.compile(
    r"^(?:那么|那|还有|另外|此外|然后)?\s*(?:呢|还有呢|其他呢|别的呢)?\s*[？?。.！!]*$"
)


def _suffix(place: str) -> str:
    return place_suffix(place, _SUFFIXES)


def _stem(place: str) -> str:
    return place_stem(place, _SUFFIXES)


def _regex_places(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _PLACE_RE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start] in _LEADING_FUNCTION_CHARS:
            start += 1
        name = text[start:end]
        if len(_stem(name)) < 2 or any(w in name for w in _QUESTION_WORDS):
            continue
        if name.endswith(_GENERIC_PLACE_WORDS):
            continue
        spans.append((start, end))
    return spans


def find_places(text: str, known: Iterable[str] = ()) -> list[str]:
    """Place names in ``text`` in order of appearance. Known names claim their spans first
    (longest first), then the indexer's place finder (jieba-based), then a regex fallback."""
    spans: list[tuple[int, int]] = []

    def claim(start: int, end: int) -> None:
        if all(end <= s or start >= e for s, e in spans):
            spans.append((start, end))

    for name in sorted({k for k in known if k}, key=len, reverse=True):
        for m in re.finditer(re.escape(name), text):
            claim(m.start(), m.end())
    for name in cleaning.find_places(text):
        for m in re.finditer(re.escape(name), text):
            claim(m.start(), m.end())
    for start, end in _regex_places(text):
        claim(start, end)
    return [text[s:e] for s, e in sorted(spans)]


def _is_place(entity: str, known: Sequence[str]) -> bool:
    if entity in known or any(_suffix(k) and _stem(k) == entity for k in known):
        return True
    return find_places(entity, known) == [entity]


def _with_suffix(entity: str, old_place: str) -> str:
    """A bare name takes the suffix of the place it replaces: 王哥庄 for 九水街道 → 王哥庄街道."""
    if _suffix(entity) or not _suffix(old_place):
        return entity
    return entity + _suffix(old_place)


def rewrite_followup(previous: str, latest: str, known_places: Iterable[str] = ()) -> str:
    """Turn ``latest`` into a self-contained question using ``previous`` (rules above)."""
    known = list(known_places)
    latest = latest.strip()
    previous = previous.strip()
    if not previous:
        return latest
    old_places = find_places(previous, known)
    if _BARE_CUE_RE.match(latest):
        return f"{previous} {latest}"
    ellipsis = _ELLIPSIS_RE.match(latest)
    if ellipsis and not any(w in ellipsis["entity"] for w in _QUESTION_WORDS):
        entity = ellipsis["entity"]
        if _is_place(entity, known):
            if old_places:
                return previous.replace(old_places[0], _with_suffix(entity, old_places[0]), 1)
            return f"{entity} {previous}"
        if old_places:
            return f"{old_places[0]}的{entity}"
        return f"{previous} {entity}"
    if old_places and not find_places(latest, known):
        place = old_places[0]
        deictic = _DEICTIC_RE.search(latest)
        if deictic and deictic[1] == _suffix(place):
            return latest[: deictic.start()] + place + latest[deictic.end() :]
        cue = _CUE_RE.match(latest)
        if cue or deictic or _TRAILING_NE_RE.search(latest):
            return place + latest[cue.end() if cue else 0 :].lstrip("，,、 ")
    return latest


# A follow-up refers to the recent questions: only the last few user turns are read, so the
# work (and the merged query's length) is bounded whatever the length of the history.
CONTEXT_TURNS = 5


def resolve_question(user_turns: Sequence[str], known_places: Iterable[str] = ()) -> str:
    """The retrieval question for the last of ``user_turns``, resolving follow-ups in order over
    the last ``CONTEXT_TURNS`` of them."""
    known = list(known_places)
    resolved = ""
    for turn in user_turns[-CONTEXT_TURNS:]:
        resolved = rewrite_followup(resolved, turn, known) if resolved else turn.strip()
    return resolved
