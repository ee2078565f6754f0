"""Place names (区/街道/社区/镇) of a report: title chains and jieba-backed body names."""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.ingest.cleaning.lexicon import (
    _DANGLING_WORDS,
    _GENERIC_AREA_ENDINGS,
    _GENERIC_PLACE_BODIES,
    _HIGHER_LEVELS,
    _HIGHER_PLACE_END,
    _LEVEL_RE,
    _NAME_FLAGS,
    _NON_NAME_PREFIXES,
    _NON_NAME_VERBS,
    _ORG_WORDS,
    _PLACE_MAX_BODY,
    _PLACE_SUFFIX_RE,
    _PROPER_FLAGS,
    _pos_cut,
)
from indexer.text.zh import CJK

# --- places -----------------------------------------------------------------------------------


def _non_name(flag: str) -> bool:
    """Whether a jieba tag marks a word that cannot start a place name."""
    return flag.startswith(_NON_NAME_PREFIXES) or flag in _NON_NAME_VERBS


def _header_places(line: str) -> list[str]:
    """Place names in a title line: each runs from the clause start or the end of the previous
    level (市/省/县 or a place) to its suffix (九水街道党工委…, 青岛市崂山区王哥庄街道…,
    泺口街道香磨李社区:…). The chain stops at the first suffix that does not fit."""
    names: list[str] = []
    for clause_m in re.finditer(f"[{CJK}]+", line):
        clause = clause_m.group(0)
        begin = 0
        anchored = False  # right after a higher level, the first word needs no vetting
        for m in _LEVEL_RE.finditer(clause):
            body = clause[begin : m.start()]
            level = m.group(0)
            if level in _HIGHER_LEVELS:
                # A higher level (青岛市) is not collected but anchors the next name; a 市 with
                # a short body is part of a name (市北区) and is skipped.
                if 2 <= len(body) <= 6:
                    begin, anchored = m.end(), True
                continue
            ok = 2 <= len(body) <= _PLACE_MAX_BODY[level] and body not in _GENERIC_PLACE_BODIES
            if ok and not anchored:
                ok = not _non_name(_pos_cut(clause[begin:])[0][1])
            if not ok:
                break
            names.append(body + level)
            begin, anchored = m.end(), True
    return names


def _token_spans(clause: str) -> list[tuple[int, int, str, str]]:
    """(start, end, word, flag) of the jieba tokens of ``clause``."""
    spans: list[tuple[int, int, str, str]] = []
    pos = 0
    for word, flag in _pos_cut(clause):
        spans.append((pos, pos + len(word), word, flag))
        pos += len(word)
    return spans


def _body_places(clause: str) -> list[tuple[int, str]]:
    """(position, name) of place names found in a body clause by their jieba tokens.

    A jieba place word ending in the suffix (李沧区) counts as is. Otherwise the name is the run of
    noun-like tokens before the suffix, stopped by a verb, function word, number or higher-level
    place (在|堤口路|街道, 李沧区|九水|街道); when the run starts with a long common noun or is too
    long, it starts at its first proper-name token instead (党建示范点|唐家庄|社区). The run must
    hold a token jieba tags as a proper or place name (not 城市, 全国, 党员干部联系), and a 区
    found this way must be followed by an organisation word (区委, 区政府).
    """
    suffixes = list(_PLACE_SUFFIX_RE.finditer(clause))
    if not suffixes:
        return []  # no suffix, no name: skip tagging (most clauses; jieba's HMM is the cost)
    spans = _token_spans(clause)
    out: list[tuple[int, str]] = []
    for m in suffixes:
        sfx = m.group(0)
        limit = _PLACE_MAX_BODY[sfx]
        spanning = [t for t in spans if t[0] < m.start() < t[1]]
        if spanning:
            start, end, word, flag = spanning[0]
            body = word[: -len(sfx)] if word.endswith(sfx) else ""
            if (
                end == m.end()
                and flag == "ns"
                and len(body) >= 2
                and body not in _GENERIC_PLACE_BODIES
                and not word.endswith(_GENERIC_AREA_ENDINGS)
            ):
                out.append((start, word))
            continue
        run: list[tuple[int, int, str, str]] = []
        overflow = False
        for tok in reversed([t for t in spans if t[1] <= m.start()]):
            if tok[3] not in _NAME_FLAGS or tok[2] in _DANGLING_WORDS:
                break
            if tok[2].endswith(_HIGHER_PLACE_END) or tok[2] in ("区", *_HIGHER_LEVELS):
                break
            if m.start() - tok[0] > limit:
                overflow = True
                break
            run.insert(0, tok)
        if not run:
            continue
        proper = [k for k, t in enumerate(run) if t[3] in _PROPER_FLAGS]
        if proper and (overflow or (run[0][3] not in _PROPER_FLAGS and len(run[0][2]) >= 3)):
            k = proper[0]
            if run[k][1] - run[k][0] < 2 and k > 0:
                k -= 1
            run = run[k:]
        body = clause[run[0][0] : m.start()]
        if len(body) < 2 or body in _GENERIC_PLACE_BODIES:
            continue
        if not any(t[3] in _PROPER_FLAGS for t in run):
            continue  # common nouns only (党员干部联系社区): jieba saw no name here
        if sfx == "区" and not clause[m.end() :].startswith(_ORG_WORDS):
            continue
        out.append((run[0][0], body + sfx))
    return out


def find_places(content: str, header_lines: Sequence[str] = ()) -> list[str]:
    """区/街道/社区/镇 names of a report, ordered by first occurrence in ``content``.

    Names in the title lines are trusted (:func:`_header_places`); body names must pass the
    stricter token test of :func:`_body_places`.
    """
    first: dict[str, int] = {}
    for line in header_lines:
        for name in _header_places(line):
            pos = content.find(name)
            first.setdefault(name, pos if pos >= 0 else 0)
    for clause_m in re.finditer(f"[{CJK}]+", content):
        for pos, name in _body_places(clause_m.group(0)):
            first.setdefault(name, clause_m.start() + pos)
    return [name for name, _ in sorted(first.items(), key=lambda kv: kv[1])]


