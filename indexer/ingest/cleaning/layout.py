"""Rejoining paragraphs broken by layout, and the layout of one report (title, meta, body)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from indexer.ingest.cleaning.lexicon import (
    _CLAUSE_END,
    _CONTINUATION_START,
    _DANGLING_WORDS,
    _MAX_HEADER_LINES,
    _NAV_SUFFIX_RE,
    _OBJECT_VERBS,
    _PLACE_HEAD_RE,
    _SOURCE_RE,
    CAPTION_MAX,
    HEADING_MAX,
    OPENERS,
    LineKind,
    _dict_tokens,
    _pos_cut,
    ends_sentence,
)
from indexer.ingest.cleaning.lines import (
    _byline_names,
    _is_body_paragraph,
    _is_boilerplate,
    _is_caption_marked,
    _is_date_line,
    _Line,
    _lines,
    _outlet_name,
    _sentence_count,
    parse_date,
)
from indexer.text.zh import CJK_RE
from indexer.types import SentenceKind

# --- joining broken paragraphs ----------------------------------------------------------------


def _word_spans_break(a: str, b: str) -> bool:
    """Whether a dictionary word spans the join of ``a`` and ``b`` (街|道 → 街道)."""
    if not (CJK_RE.match(a[-1]) and CJK_RE.match(b[0])):
        return False
    left, right = a[-4:], b[:4]
    k = len(left)
    return any(start < k < end for _, start, end in _dict_tokens(left + right))


def _unclosed(line: str) -> bool:
    """Whether ``line`` leaves a quotation or bracket open (the sentence must go on)."""
    return any(line.count(o) > line.count(c) for o, c in ("“”", "（）", "()", "《》", "「」"))


def wrap_width(lengths: Sequence[int]) -> int:
    """The width a hard-wrapped text fills its lines to (PDF and OCR lines, text saved from them),
    or 0 when the lines do not share one: the length ``w`` that most lines of 10+ characters
    reach within ``[w - 2, w]`` (digits and Latin letters are narrower, so a full line's count
    varies a little), when at least three lines and a third of such lines do."""
    long = sorted(n for n in lengths if n >= 10)
    if len(long) < 3:
        return 0
    best, width = 0, 0
    for w in set(long):
        count = sum(1 for n in long if w - 2 <= n <= w)
        if count > best or (count == best and w > width):
            best, width = count, w
    return width if best >= max(3, len(long) / 3) else 0


def should_join(a: str, b: str, wrap: int = 0) -> bool:
    """Whether line ``b`` continues line ``a`` across a page break or a hard wrap (rules in the
    module doc); ``wrap``: the text's :func:`wrap_width` (a line filled to it runs on)."""
    if not a or not b or ends_sentence(a):
        return False
    if wrap and len(a) >= wrap - 2:
        return True
    if a[-1] in _CLAUSE_END or b[0] in _CONTINUATION_START or _unclosed(a):
        return True
    b_heading_like = len(b) <= HEADING_MAX and not ends_sentence(b)
    if len(a) > HEADING_MAX and not b_heading_like:
        return True
    if _word_spans_break(a, b):
        return True
    words = _pos_cut(a[-12:])
    if not words:
        return False
    last, flag = words[-1]
    if last in _DANGLING_WORDS or flag in ("p", "c", "u", "uj", "ul", "uz", "ud", "uv", "ug"):
        return True
    return last in _OBJECT_VERBS and b[0] in OPENERS


# --- layout of one report ---------------------------------------------------------------------


@dataclass
class _Layout:
    """The classified lines of one report, its paragraphs and what the header says."""

    lines: list[_Line]
    kinds: list[LineKind]
    # Paragraphs: (kind, line indices) in text order; body paragraphs may span page breaks.
    blocks: list[tuple[SentenceKind, list[int]]] = field(default_factory=list)
    title: str = ""
    subtitle: str = ""
    date: str | None = None
    authors: list[str] = field(default_factory=list)
    outlet: str | None = None
    # Lines that are table rows (line indices): a paragraph and a sentence each, never joined.
    rows: frozenset[int] = frozenset()


def _header_end(lines: Sequence[_Line], kinds: Sequence[LineKind | None], wrap: int = 0) -> int:
    """Index of the first body paragraph line (or line filled to the ``wrap`` width); header
    lines come before it."""
    for i, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        if kind == "body" or (kind is None and (_is_body_paragraph(line.text) or (wrap and len(line.text) >= wrap - 2))):
            return i
    return len(lines)


def _typical_gap(lines: Sequence[_Line]) -> int:
    """The median number of blank lines between paragraphs (1 in most files)."""
    gaps = sorted(line.gap for line in lines[1:])
    return gaps[len(gaps) // 2] if gaps else 1


@lru_cache(maxsize=64)
def _layout(text: str, headings: frozenset[int] = frozenset(), rows: frozenset[int] = frozenset()) -> _Layout:
    """Classify the lines of one report's text (cached: it is pure and used twice).

    ``headings``: start offsets of the lines the file marks as headings (Word heading styles,
    Markdown ``#``). Such a line below the title is a heading whatever its length or punctuation;
    when a file marks any, its other lines are not guessed to be headings. ``rows``: start
    offsets of the lines that are table rows (Word and Markdown tables): body text, each its own
    paragraph and sentence, never a title, heading or caption, never joined to the next row."""
    lines = _lines(text)
    kinds: list[LineKind | None] = [None] * len(lines)
    n = len(lines)
    row_lines = frozenset(i for i, line in enumerate(lines) if line.start in rows)
    for i in row_lines:
        kinds[i] = "body"

    # 1. Boilerplate, dates, bylines (role words anywhere; bare bracketed names at the end).
    for i, line in enumerate(lines):
        if _is_boilerplate(line.text):
            kinds[i] = "boilerplate"
        elif _is_date_line(line.text):
            kinds[i] = "date"
        elif _byline_names(line.text, allow_bare=i >= n - 2) is not None:
            kinds[i] = "byline"

    # 2. Header zone: lines before the first body paragraph (bare-name bylines allowed too).
    # A hard-wrapped text (PDF, OCR) fills its lines to one width: such a line runs on.
    wrap = wrap_width([len(line.text) for i, line in enumerate(lines) if kinds[i] is None])
    head_end = _header_end(lines, kinds, wrap)
    for i in range(min(head_end, n)):
        if kinds[i] is None and _byline_names(lines[i].text, allow_bare=True) is not None:
            kinds[i] = "byline"

    # 3. Outlets: in the header, or next to a byline/date line.
    for i, line in enumerate(lines):
        if kinds[i] is not None:
            continue
        near = any(0 <= j < n and kinds[j] in ("byline", "date") for j in (i - 1, i + 1))
        if _outlet_name(line.text, near) is not None and (i < head_end or near):
            kinds[i] = "outlet"

    # 4. Captions.
    image_gap = max(2, _typical_gap(lines) + 1)
    for i, line in enumerate(lines):
        if kinds[i] is not None or i < head_end:
            continue
        t = line.text
        if _is_caption_marked(t) or (
            line.gap >= image_gap
            and len(t) <= CAPTION_MAX
            and ends_sentence(t)
            and _sentence_count(t) == 1
        ):
            kinds[i] = "caption"

    # 5. Title lines and nav banners in the header.
    head = [i for i in range(min(head_end, n)) if kinds[i] is None]
    place_line = next((i for i in head if _PLACE_HEAD_RE.match(lines[i].text)), None)
    title_lines: list[int] = []

    def next_to_boilerplate(i: int) -> bool:
        before = i > 0 and lines[i].gap == 0 and kinds[i - 1] == "boilerplate"
        after = i + 1 < n and lines[i + 1].gap == 0 and kinds[i + 1] == "boilerplate"
        return before or after

    for i in head:
        if title_lines and lines[i].start in headings:  # a marked heading under the title
            kinds[i] = "heading"
            continue
        before_place = place_line is not None and i < place_line
        navish = bool(_NAV_SUFFIX_RE.search(lines[i].text)) or next_to_boilerplate(i)
        if not title_lines and (before_place or (place_line is None and navish)):
            kinds[i] = "boilerplate"
        else:
            title_lines.append(i)
    title_lines = title_lines[:_MAX_HEADER_LINES]
    for i in title_lines:
        kinds[i] = "title"

    title, subtitle = "", ""
    if title_lines:
        first = lines[title_lines[0]].text
        rest = title_lines[1:]
        m = _PLACE_HEAD_RE.match(first)
        if m and not m.group("head") and rest:
            first = first + lines[rest[0]].text  # "天桥区堤口路街道:" + headline
            rest = rest[1:]
        title = first
        if rest:
            subtitle = lines[rest[0]].text
        # Header lines beyond title and subtitle are headings of the lead.
        for i in rest[1:]:
            kinds[i] = "heading"

    # Headings the file marks (below the header; dates and bylines stay what they are).
    for i, line in enumerate(lines):
        if kinds[i] is None and line.start in headings:
            kinds[i] = "heading"

    # 6. Body lines: rejoin page breaks and hard wraps, then find headings. Boilerplate is
    # transparent; any other classified line (caption, meta, title) ends a paragraph.
    blocks: list[tuple[SentenceKind, list[int]]] = []
    current: list[int] = []

    def flush() -> None:
        if current:
            blocks.append(("body", list(current)))
            current.clear()

    for i in range(n):
        kind = kinds[i]
        if kind == "boilerplate":
            continue
        if kind is None:
            if current and should_join(lines[current[-1]].text, lines[i].text, wrap):
                current.append(i)
                continue
            flush()
            current.append(i)
            continue
        flush()
        if kind in ("title", "heading", "caption", "body"):  # (a body line here is a table row)
            blocks.append((kind, [i]))
    flush()

    # A lone short unpunctuated body line with something after it is a heading (unless the file
    # marks its headings).
    for b, (kind, idx) in enumerate(blocks):
        if headings or kind != "body" or len(idx) != 1 or idx[0] in row_lines:
            continue
        t = lines[idx[0]].text
        if len(t) <= HEADING_MAX and not ends_sentence(t) and b < len(blocks) - 1:
            blocks[b] = ("heading", idx)
            kinds[idx[0]] = "heading"
    for kind, idx in blocks:
        for i in idx:
            if kinds[i] is None:
                kinds[i] = kind

    # Metadata from the meta lines.
    date = next((parse_date(lines[i].text) for i in range(n) if kinds[i] == "date"), None)
    authors: list[str] = []
    for i in range(n):
        if kinds[i] == "byline":
            for name in _byline_names(lines[i].text, allow_bare=True) or []:
                if name not in authors:
                    authors.append(name)
    outlet = next(
        (_outlet_name(lines[i].text, True) for i in range(n) if kinds[i] == "outlet"), None
    )
    if outlet is None:
        outlet = next(
            (m.group(1) for i in range(n) if kinds[i] == "date"
             for m in [_SOURCE_RE.search(lines[i].text)] if m),
            None,
        )  # fmt: skip

    final_kinds: list[LineKind] = [k if k is not None else "body" for k in kinds]
    return _Layout(lines, final_kinds, blocks, title, subtitle, date, authors, outlet, row_lines)


