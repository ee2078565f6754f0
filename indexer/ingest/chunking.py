"""Cut a report into retrievable chunks of whole sentences.

Rules:

* Chunks follow sections: a heading starts a new chunk and becomes part of the context of the
  chunks under it; titles and headings are context, never chunk text — unless the report has
  nothing else (a one-line upload): then they are its text, so every non-empty report has a chunk.
* Consecutive body and caption sentences are packed up to ``max_chars`` characters of cleaned
  text. The next chunk repeats the previous chunk's trailing whole sentences totalling at most
  ``overlap`` characters (never all of them), so a fact cut at a boundary is still whole somewhere.
* A sentence longer than the budget is split at clause marks (，,、：:;) and, if a clause is still
  too long, hard-split; the pieces are sentences with their own exact offsets.
* With ``token_len`` and ``max_tokens``, every chunk's ``index_text`` (context + "\\n" + cleaned
  text) fits ``max_tokens``: chunks take fewer sentences and long sentences are split further,
  so the embedder never truncates silently. A context that alone is too long is shortened.

``Chunk.text == report.text[chunk.start:chunk.end]`` always (from the first sentence's start to the
last one's end), and every body and caption sentence of the report lands in some chunk.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from indexer.ingest.cleaning import cleaned_offsets, report_sentences
from indexer.ingest.readers.base import ocr_confidence
from indexer.types import Chunk, Report, Sentence

log = logging.getLogger(__name__)

# Chunk size and overlap used everywhere unless configured (ZHIWEN_CHUNK_MAX_CHARS / _OVERLAP).
# Overlap 100: with 60, an answer sentence could sit at a chunk edge without its subject.
DEFAULT_MAX_CHARS = 300
DEFAULT_OVERLAP = 100

# Clause marks where an over-long sentence may be cut, best first.
_CLAUSE_MARKS = "，,、：:;；"
# Context stays short: it is repeated in front of every chunk of the report.
CONTEXT_MAX = 80
_HEADING_MAX_IN_CONTEXT = 40
_MAX_EXTRA_PLACES = 2

Fits = Callable[[str], bool]


def chunk_context(report: Report, heading: str = "", limit: int = CONTEXT_MAX) -> str:
    """Title, the first place names missing from it, and the section heading, joined by " | "."""
    title = report.title
    # Only 区/街道/镇 names: a 社区 is usually one sub-unit of the report, not what it is about.
    places = [
        p for p in report.meta.get("places", []) if p not in title and not p.endswith("社区")
    ][:_MAX_EXTRA_PLACES]
    head = " ".join([title, *places]).strip()
    heading = heading if len(heading) <= _HEADING_MAX_IN_CONTEXT else heading[:39] + "…"
    parts = [p for p in (head, heading) if p]
    context = " | ".join(parts)
    if len(context) <= limit:
        return context
    # Too long: drop the subtitle first (it follows "——"), then shorten the title.
    main = title.split("——")[0] or title
    head = " ".join([main, *[p for p in places if p not in main]]).strip()
    room = limit - (len(heading) + 3 if heading else 0)
    if len(head) > room:
        head = head[: max(room - 1, 0)] + "…" if room > 1 else ""
    return " | ".join(p for p in (head, heading) if p)


def _shorter_contexts(context: str) -> list[str]:
    """Ever shorter versions of a context, for when a token budget cannot hold it."""
    out = []
    parts = context.split(" | ")
    if len(parts) > 1:
        out.append(parts[0])
    base = parts[0]
    n = len(base)
    while n > 1:
        n //= 2
        out.append(base[:n] + "…")
    out.append("")
    return out


def _split_piece(text: str, sentence: Sentence, fits: Fits) -> list[Sentence]:
    """Split one sentence until every piece ``fits``: at clause marks, then hard cuts.

    Pieces keep exact offsets: they are cut in the cleaned text and mapped back through
    :func:`cleaned_offsets`, then stripped of whitespace at their edges.
    """
    if fits(sentence.text):
        return [sentence]
    positions = cleaned_offsets(text, sentence.start, sentence.end)
    clean = "".join(text[p] for p in positions)
    if clean != sentence.text:  # not a span-derived sentence; cannot map pieces back
        log.warning("sentence at %d does not match its span; left whole", sentence.start)
        return [sentence]

    # Clause boundaries in the cleaned text (after each mark and its closing quotes).
    cuts = [i + 1 for i, ch in enumerate(clean) if ch in _CLAUSE_MARKS and i + 1 < len(clean)]
    bounds = [0, *cuts, len(clean)]
    pieces: list[tuple[int, int]] = []
    start = 0
    k = 1
    while start < len(clean):
        # Greedy: the furthest clause boundary whose piece fits.
        best = None
        while k < len(bounds) and fits(clean[start : bounds[k]]):
            best = bounds[k]
            k += 1
        if best is None:
            # Even the next clause is too long: hard-cut at the longest fitting prefix.
            lo, hi = 1, (bounds[k] if k < len(bounds) else len(clean)) - start
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if fits(clean[start : start + mid]):
                    lo = mid
                else:
                    hi = mid - 1
            best = start + lo
            while k < len(bounds) and bounds[k] <= best:
                k += 1
        pieces.append((start, best))
        start = best
    out: list[Sentence] = []
    for a, b in pieces:
        while a < b and clean[a].isspace():
            a += 1
        while b > a and clean[b - 1].isspace():
            b -= 1
        if a < b:
            out.append(Sentence(positions[a], positions[b - 1] + 1, clean[a:b], sentence.kind))
    return out


def _sections(sentences: Sequence[Sentence]) -> list[tuple[str, list[Sentence]]]:
    """(heading, body and caption sentences) per section; title sentences are dropped. A report
    with no body at all (one short line such as 「九水街道整改隐患三百处」, read as its title) is
    one section of its title and heading lines as body: stored text must be findable."""
    if sentences and all(s.kind in ("title", "heading") for s in sentences):
        return [("", [dataclasses.replace(s, kind="body") for s in sentences])]
    sections: list[tuple[str, list[Sentence]]] = [("", [])]
    for s in sentences:
        if s.kind == "title":
            continue
        if s.kind == "heading":
            sections.append((s.text, []))
        else:
            sections[-1][1].append(s)
    return [(h, ss) for h, ss in sections if ss]


def chunk_report(
    report: Report,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    token_len: Callable[[str], int] | None = None,
    max_tokens: int | None = None,
) -> list[Chunk]:
    """Sentence-aware chunks of ``report`` (pure; see the module docstring for the rules)."""
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    if not 0 <= overlap < max_chars:
        raise ValueError(f"overlap must be in [0, max_chars), got {overlap}")
    if (token_len is None) != (max_tokens is None):
        raise ValueError("token_len and max_tokens must be given together")
    if max_tokens is not None and max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")

    def within_tokens(context: str, body: str) -> bool:
        if token_len is None or max_tokens is None:
            return True
        index_text = f"{context}\n{body}" if context else body
        return token_len(index_text) <= max_tokens

    def context_fits(context: str) -> bool:
        # The context may take at most a third of the token budget: the rest is for the text.
        if token_len is None or max_tokens is None or not context:
            return True
        return token_len(context) <= max_tokens // 3

    if not within_tokens("", "字"):
        raise ValueError(f"max_tokens={max_tokens} cannot hold a single character")

    chunks: list[Chunk] = []
    for heading, sentences in _sections(report_sentences(report)):
        context = chunk_context(report, heading)
        if not context_fits(context):
            context = next(c for c in _shorter_contexts(context) if context_fits(c))
            log.debug(
                "%s: context shortened to %r for %s tokens", report.doc_id, context, max_tokens
            )

        def fits(body: str, ctx: str = context) -> bool:
            return len(body) <= max_chars and within_tokens(ctx, body)

        pieces = [p for s in sentences for p in _split_piece(report.text, s, fits)]
        groups: list[list[Sentence]] = []
        current: list[Sentence] = []
        for piece in pieces:
            if not current or fits("".join(s.text for s in [*current, piece])):
                current.append(piece)
                continue
            groups.append(current)
            # Overlap: trailing whole sentences of the previous chunk, never all of them.
            carry: list[Sentence] = []
            size = 0
            for s in reversed(current[1:]):
                if size + len(s.text) > overlap:
                    break
                carry.insert(0, s)
                size += len(s.text)
            while carry and not fits("".join(s.text for s in [*carry, piece])):
                carry.pop(0)
            current = [*carry, piece]
        if current:
            groups.append(current)
        for group in groups:
            start, end = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    chunk_id=f"{report.doc_id}#{len(chunks)}",
                    doc_id=report.doc_id,
                    start=start,
                    end=end,
                    text=report.text[start:end],
                    title=report.title,
                    context=context,
                    sentences=tuple(group),
                    ocr_confidence=ocr_confidence(report.meta, start, end),
                )
            )
    return chunks
