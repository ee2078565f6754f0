"""How a report's span is quoted in an answer: the report's own words in their cleaned reading,
list and caption marks trimmed from the cited span, and, for a 「哪个街道」 question whose sentence
only says 「街道」, the line of the report that names the place."""

from __future__ import annotations

from collections.abc import Mapping

from indexer.ingest.cleaning import clean_span
from indexer.retrieval.evidence import Candidate, QuestionInfo
from indexer.text.zh import place_name_re
from indexer.types import Report


def shown(quote: str) -> str:
    """How a quoted span reads in an answer: the report's own words, with only the layout
    (line breaks and the indentation around them) taken out: the same cleaned reading that
    retrieval and the highlight use. Spaces inside a line stay (「时代先锋 幸福九水」)."""
    return clean_span(quote)


_LEAD_MARKS = "-▶•·●◆■□☆★※>"


def trim_marks(text: str, start: int, end: int) -> tuple[int, int]:
    """Move a span's start past list and caption marks (「▶ 」「- 」), so the citation holds
    exactly the words the answer shows."""
    while start < end and (text[start] in _LEAD_MARKS or text[start].isspace()):
        start += 1
    return start, end


def place_line(
    info: QuestionInfo, cand: Candidate, reports: Mapping[str, Report]
) -> tuple[Report, int, int] | None:
    """For 「哪个街道…」 questions whose sentence only says 「街道」: the line of the report that
    first names the place (usually its title line), cited like any other sentence, so the
    answer names the place in the report's own words instead of adding words of its own."""
    if info.wants != "place" or not info.place_kind:
        return None
    kind = (info.place_kind,)
    if place_name_re(kind).search(cand.sentence.text.replace("该" + info.place_kind, "")):
        return None
    report = reports.get(cand.hit.chunk.doc_id)
    if report is None:
        return None
    names = [str(p) for p in report.meta.get("places", []) if str(p).endswith(info.place_kind)]
    names += place_name_re(kind, 2, 4).findall(report.title)
    for name in names:
        at = report.text.find(name)
        if at < 0 or at >= cand.sentence.start:
            continue
        line_start = report.text.rfind("\n", 0, at) + 1
        line_end = report.text.find("\n", at)
        line_end = len(report.text) if line_end < 0 else line_end
        start, end = trim_marks(report.text, line_start, line_end)
        while end > start and report.text[end - 1].isspace():
            end -= 1
        if end > start:
            return report, start, end
    return None
