"""Splitting a file into reports, and each report's title and metadata."""

from __future__ import annotations

import logging
from typing import Any

from indexer.ingest.cleaning.layout import _Layout, _layout
from indexer.ingest.cleaning.lexicon import (
    _PLACE_HEAD_RE,
    _SEPARATOR_RE,
    FINAL_PUNCT,
    HEADING_MAX,
    MIN_REPORT_BODY,
    ends_sentence,
)
from indexer.ingest.cleaning.lines import _byline_names, _is_body_paragraph, _lines, _outlet_name
from indexer.ingest.cleaning.places import find_places
from indexer.types import Report

log = logging.getLogger(__name__)

# --- reports ----------------------------------------------------------------------------------


def _title_candidates(text: str) -> list[int]:
    """Offsets of lines that open a report: ``<place>:<headline>`` (or ``<place>:`` + headline
    line), each followed by at least :data:`MIN_REPORT_BODY` characters of body text."""
    lines = _lines(text)
    cands: list[int] = []
    for i, line in enumerate(lines):
        t = line.text
        if len(t) > 60 or any(ch in t for ch in "。！？!?"):
            continue
        m = _PLACE_HEAD_RE.match(t)
        if not m:
            continue
        if not m.group("head"):
            nxt = lines[i + 1].text if i + 1 < len(lines) else ""
            if not nxt or len(nxt) > HEADING_MAX or ends_sentence(nxt):
                continue
        cands.append(i)
    kept: list[int] = []
    for k, i in enumerate(cands):
        stop = cands[k + 1] if k + 1 < len(cands) else len(lines)
        body = sum(len(ln.text) for ln in lines[i + 1 : stop] if _is_body_paragraph(ln.text))
        if body >= MIN_REPORT_BODY:
            kept.append(i)
    if len(kept) < 2:
        return []
    # The first candidate must be the file's own title, or every candidate have its own byline.
    first_body = next(
        (j for j, ln in enumerate(lines) if _is_body_paragraph(ln.text) and len(ln.text) > 40),
        len(lines),
    )
    in_header = kept[0] < first_body

    def has_byline(i: int) -> bool:
        window = lines[i + 1 : i + 8]
        return any(
            _byline_names(ln.text, allow_bare=False) is not None
            or _outlet_name(ln.text, near_byline=False) is not None
            for ln in window
        )

    if not in_header and not all(has_byline(i) for i in kept):
        return []
    return [lines[i].start for i in kept]


def _line_start(text: str, offset: int) -> int:
    """Offset of the start of the line holding ``offset``."""
    return text.rfind("\n", 0, offset) + 1


def split_sources(text: str) -> list[tuple[int, int]]:
    """(start, end) slices of ``text`` holding one report each (see the module docstring)."""
    cuts: list[tuple[int, int]] = []  # (end of previous, start of next)
    pos = 0
    for raw in text.split("\n"):
        line_end = pos + len(raw)
        if _SEPARATOR_RE.match(raw):
            cuts.append((pos, min(line_end + 1, len(text))))
        elif "\f" in raw:
            for k, ch in enumerate(raw):
                if ch == "\f":
                    cuts.append((pos + k, pos + k + 1))
        pos = line_end + 1
    if not cuts:
        starts = [_line_start(text, off) for off in _title_candidates(text)]
        cuts = [(s, s) for s in starts[1:]]
    bounds: list[tuple[int, int]] = []
    begin = 0
    for end, nxt in cuts:
        bounds.append((begin, end))
        begin = nxt
    bounds.append((begin, len(text)))
    return [(s, e) for s, e in bounds if text[s:e].strip()]


def parse_reports(source_id: str, text: str, source_name: str | None = None) -> list[Report]:
    """Split a file's text into reports with titles and metadata.

    Report ``i`` of a file holding several gets ``doc_id = f"{source_id}-{i}"`` (1-based); a
    single report keeps ``source_id``. ``Report.text`` is the report's unmodified slice of the file.
    """
    slices = split_sources(text)
    if len(slices) > 1:
        log.info("%s: %d reports in one file", source_name or source_id, len(slices))
    reports: list[Report] = []
    for k, (start, end) in enumerate(slices, start=1):
        body = text[start:end]
        layout = _layout(body)
        doc_id = f"{source_id}-{k}" if len(slices) > 1 else source_id
        title = _full_title(layout) or _fallback_title(layout) or doc_id
        header_lines = [
            layout.lines[i].text for i, kind in enumerate(layout.kinds) if kind == "title"
        ]
        meta: dict[str, Any] = {
            "source": source_name or f"{source_id}.txt",
            "source_id": source_id,
            "source_offset": start,
        }
        if layout.subtitle:
            meta["subtitle"] = layout.subtitle
        places = find_places(_content(layout), header_lines)
        if places:
            meta["places"] = places
        if layout.date:
            meta["date"] = layout.date
        if layout.authors:
            meta["authors"] = list(layout.authors)
        if layout.outlet:
            meta["outlet"] = layout.outlet
        reports.append(Report(doc_id=doc_id, title=title, text=body, meta=meta))
    return reports


def _content(layout: _Layout) -> str:
    """The report's content lines (title, headings, body, captions) joined by newlines; page
    breaks are rejoined so a name cut by a page break is found whole."""
    parts: list[str] = []
    for _kind, idx in layout.blocks:
        parts.append("".join(layout.lines[i].text for i in idx))
    return "\n".join(parts)


def _full_title(layout: _Layout) -> str:
    """Title and subtitle joined: a subtitle starting with a dash is appended as is, others after
    "——" (the usual Chinese title–subtitle separator)."""
    if not layout.title:
        return ""
    if not layout.subtitle:
        return layout.title
    sub = layout.subtitle
    if sub.startswith(("—", "-", "－")):
        return layout.title + sub
    return f"{layout.title}——{sub}"


def _fallback_title(layout: _Layout) -> str:
    """A title for a report without a header: its first sentence, shortened."""
    for kind, idx in layout.blocks:
        if kind in ("body", "heading"):
            first = "".join(layout.lines[i].text for i in idx)
            end = next((k + 1 for k, ch in enumerate(first) if ch in FINAL_PUNCT), len(first))
            sentence = first[:end]
            return sentence if len(sentence) <= 40 else sentence[:39] + "…"
    return ""


