"""Sentences of a report, with offsets into its original text."""

from __future__ import annotations

from indexer.ingest.cleaning.layout import _Layout, _layout
from indexer.ingest.cleaning.lexicon import (
    _CAPTION_TRIM_END_RE,
    _CAPTION_TRIM_START_RE,
    _PUNCT_ONLY_RE,
    CLOSERS,
    FINAL_PUNCT,
    clean_span,
    cleaned_offsets,
)
from indexer.types import Report, Sentence, SentenceKind

# --- sentences --------------------------------------------------------------------------------


def split_sentence_spans(clean: str) -> list[tuple[int, int]]:
    """(start, end) of the sentences of a cleaned paragraph, stripped of whitespace.

    A sentence ends after a run of 。！？；… and the closing quotes/brackets that follow it.
    A piece of punctuation only is attached to the sentence before it.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    i = 0
    n = len(clean)
    while i < n:
        if clean[i] in FINAL_PUNCT:
            j = i + 1
            while j < n and (clean[j] in FINAL_PUNCT or clean[j] in CLOSERS):
                j += 1
            spans.append((start, j))
            start = i = j
            continue
        i += 1
    if start < n:
        spans.append((start, n))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and clean[s].isspace():
            s += 1
        while e > s and clean[e - 1].isspace():
            e -= 1
        if s >= e:
            continue
        if out and _PUNCT_ONLY_RE.match(clean[s:e]):
            out[-1] = (out[-1][0], e)
            continue
        out.append((s, e))
    return out


def _block_sentences(
    text: str, layout: _Layout, kind: SentenceKind, idx: list[int]
) -> list[Sentence]:
    """Sentences of one block; offsets into ``text``."""
    lines = layout.lines
    start, end = lines[idx[0]].start, lines[idx[-1]].end
    if kind in ("title", "heading"):
        return [Sentence(ln.start, ln.end, ln.text, kind) for ln in (lines[i] for i in idx)]
    if kind == "caption":
        t = lines[idx[0]].text
        lead = len(_CAPTION_TRIM_START_RE.match(t).group(0))  # type: ignore[union-attr]
        trail_m = _CAPTION_TRIM_END_RE.search(t)
        trail = len(t) - trail_m.start() if trail_m else 0
        if lead + trail >= len(t):
            lead = trail = 0
        s, e = start + lead, end - trail
        return [Sentence(s, e, clean_span(text[s:e]), "caption")]
    positions = cleaned_offsets(text, start, end)
    clean = "".join(text[p] for p in positions)
    out: list[Sentence] = []
    # a table row is one sentence (「项目：注册志愿者；数量：5200人」): its cells read together
    spans = [(0, len(clean))] if idx[0] in layout.rows and clean.strip() else split_sentence_spans(clean)
    for s, e in spans:
        o_start, o_end = positions[s], positions[e - 1] + 1
        out.append(Sentence(o_start, o_end, clean_span(text[o_start:o_end]), kind))
    return out


def report_sentences(report: Report) -> list[Sentence]:
    """The cleaned reading of a report as sentences (boilerplate and meta lines dropped).

    ``clean_span(report.text[s.start:s.end]) == s.text`` for every sentence; kinds are title,
    heading, body and caption.
    """
    marked, rows = report.meta.get("headings"), report.meta.get("rows")
    layout = _layout(report.text, frozenset(marked) if isinstance(marked, list) else frozenset(),
                     frozenset(rows) if isinstance(rows, list) else frozenset())
    out: list[Sentence] = []
    for kind, idx in layout.blocks:
        out.extend(_block_sentences(report.text, layout, kind, idx))
    return out
