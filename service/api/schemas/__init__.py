"""Pydantic models of the HTTP API: requests, responses and the error body.

These are the only pydantic models in zhiwen; they convert from the core dataclasses
(``Hit``, ``Report``, ``Answer``) at the edge.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from indexer.retrieval.filters import ReportFilter, allowed_reports
from indexer.types import Hit, Report
from service.answering.types import Answer, AnswerKind, Citation

# Exactly the characters Python's ``str.isspace`` (and ``re``'s ``\s``) treat as whitespace,
# spelled out so every regex engine (ECMA in the OpenAPI schema, Python in schemathesis,
# pydantic) agrees on what a "blank" question is.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_WS = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)
NOT_BLANK_PATTERN = f"[^{_WS}]"
# Control characters (Unicode Cc) other than tab, line feed, vertical tab, form feed and carriage
# return: a report text may not hold them (the indexer would take the text for binary data).
CONTROLS = "\\u0000-\\u0008\\u000e-\\u001f\\u007f-\\u009f"
# No such control character anywhere (a title); and something besides whitespace (a text).
NO_CONTROLS_PATTERN = f"^[^{CONTROLS}]*$"
REPORT_TEXT_PATTERN = f"^[^{CONTROLS}]*[^{CONTROLS}{_WS}][^{CONTROLS}]*$"


def _not_blank(value: str) -> str:
    # str.strip() removes exactly the WHITESPACE characters above
    if not value.strip():
        raise PydanticCustomError("blank_string", "must not be empty or whitespace-only")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_unicode", "must be valid Unicode text") from None
    return value


# The upper length bound comes from Settings; routes check it and the app writes it into the
# OpenAPI schema (see service.api.app), so it is not part of the static type.
_CONTROL_RE = re.compile(f"[{CONTROLS}]")


def _no_controls(value: str) -> str:
    if _CONTROL_RE.search(value):
        raise PydanticCustomError(
            "control_characters",
            "must not contain control characters (other than tabs and line breaks)",
        )
    return value


# A report's text and title as the write endpoints accept them; the patterns say the same in
# the OpenAPI schema.
ReportText = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": REPORT_TEXT_PATTERN}),
    AfterValidator(_not_blank),
    AfterValidator(_no_controls),
]
ReportTitle = Annotated[
    str,
    Field(json_schema_extra={"pattern": NO_CONTROLS_PATTERN}),
    AfterValidator(_no_controls),
]

QueryText = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
    AfterValidator(_not_blank),
]


def integral(value: Any) -> Any:
    # JSON Schema's "integer" includes 7.0; strict mode would reject it, so accept integral floats
    # (and only those: "7", true and 7.5 still fail the strict int check)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


TopK = Annotated[int, Field(ge=1), BeforeValidator(integral)]


class _Request(BaseModel):
    # strict: "5" is not a top_k and 1 is not a question; unknown fields are typos, not options
    model_config = ConfigDict(strict=True, extra="forbid")


def _iso_date(value: str) -> str:
    """``value`` as YYYY-MM-DD (the form report dates take, compared as strings)."""
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise PydanticCustomError("date_format", "Input should be a date as YYYY-MM-DD") from None


# a string with JSON Schema's "date" format (strict pydantic takes no string for a date type)
IsoDate = Annotated[str, Field(json_schema_extra={"format": "date"}, examples=["2021-01-30"]),
                    AfterValidator(_iso_date)]
ReportFormat = Literal["txt", "md", "html", "docx", "pdf", "image"]


class Filters(_Request):
    """Which reports to search (report metadata). Each given criterion must hold; within one,
    any value may match. A filter no report matches gives no passages and a refusal."""

    places: list[Annotated[str, Field(min_length=1, max_length=30)]] = Field(
        default=[], max_length=20,
        description="Places the report is about (街道, 社区, 区, as the indexer found them); "
        "「九水」 matches 九水街道.")
    date_from: IsoDate | None = Field(default=None, description="Report date on or after (YYYY-MM-DD).")
    date_to: IsoDate | None = Field(default=None, description="Report date on or before (YYYY-MM-DD). "
                                    "A report without a date matches no date range, and a range "
                                    "ending before it starts matches nothing.")
    doc_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default=[], max_length=500, description="Only these reports.")
    formats: list[ReportFormat] = Field(default=[], max_length=6, description="File formats.")

    def report_filter(self) -> ReportFilter:
        return ReportFilter(tuple(self.places), self.date_from, self.date_to, tuple(self.doc_ids),
                            tuple(self.formats))


def selected_reports(filters: Filters | None, reports: Mapping[str, Report]) -> frozenset[str] | None:
    """The ids of the reports ``filters`` select (None: no filter, every report)."""
    if filters is None:
        return None
    chosen = filters.report_filter()
    return None if chosen.empty else allowed_reports(reports.values(), chosen)


FILTERS_DESCRIPTION = "Search only reports with this metadata (places, dates, ids, formats)."


class SearchRequest(_Request):
    """Find the passages closest to a query."""

    query: QueryText = Field(description="What to look for (Chinese text).")
    top_k: TopK | None = Field(
        default=None, description="How many passages to return (default from settings: 10)."
    )
    filters: Filters | None = Field(default=None, description=FILTERS_DESCRIPTION)
    explain: bool = Field(default=False, description="Also list each passage's matched keyword terms.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"query": "九水街道党工委获得了什么荣誉称号？", "top_k": 5}]
        }
    )


class AskRequest(_Request):
    """Answer a question from the reports, with citations."""

    question: QueryText = Field(description="The question (Chinese text).")
    top_k: TopK | None = Field(
        default=None, description="Passages to compose from (default from settings: 5)."
    )
    composer: Literal["extractive", "llm"] | None = Field(
        default=None,
        description="Answer composer (default from settings). `llm` falls back to `extractive` "
        "with a warning when no LLM is configured.",
    )
    filters: Filters | None = Field(default=None, description=FILTERS_DESCRIPTION)

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"question": "九水街道党工委获得了什么荣誉称号？"}]}
    )


# -- responses ----------------------------------------------------------------------------------


def _finite(value: float) -> float:
    """JSON has no NaN/inf; a degenerate score becomes 0 rather than a 500."""
    value = float(value)
    return value if math.isfinite(value) else 0.0


class Scores(BaseModel):
    """Per-retriever scores of a passage: BM25 keyword, dense cosine, and the fused rank score."""

    keyword: float
    dense: float
    fused: float


class Passage(BaseModel):
    """A retrieved passage: ``text == report.text[start:end]``."""

    doc_id: str
    title: str
    chunk_id: str
    text: str
    start: int
    end: int
    score: float
    scores: Scores
    ocr_confidence: float | None = Field(
        default=None, description="For a passage read by OCR: the recogniser's confidence, 0-1 "
        "(the lowest of the pages it spans); null otherwise.")
    matched_terms: list[str] | None = Field(
        default=None, description="With `explain`: the query's keyword terms this passage holds.")

    @classmethod
    def from_hit(cls, hit: Hit, reports: Mapping[str, Report]) -> Passage:
        chunk = hit.chunk
        report = reports.get(chunk.doc_id)
        title = chunk.title or (report.title if report is not None else "")
        return cls(
            doc_id=chunk.doc_id,
            title=title,
            chunk_id=chunk.chunk_id,
            text=chunk.text,
            start=chunk.start,
            end=chunk.end,
            score=_finite(hit.score),
            scores=Scores(
                keyword=_finite(hit.scores.get("keyword", 0.0)),
                dense=_finite(hit.scores.get("dense", 0.0)),
                fused=_finite(hit.scores.get("fused", hit.score)),
            ),
            ocr_confidence=chunk.ocr_confidence,
        )


class Facet(BaseModel):
    name: str
    reports: int = Field(description="How many reports have it.")


class Facets(BaseModel):
    """What the reports can be filtered by (the values `filters` takes), with report counts."""

    places: list[Facet] = Field(description="Places the indexer found (街道, 社区, 区 …), most reports first.")
    formats: list[Facet]
    earliest: str | None = Field(description="The earliest report date (YYYY-MM-DD), if any report has one.")
    latest: str | None
    undated: int = Field(description="Reports without a date (no date range selects them).")

    @classmethod
    def of(cls, reports: Sequence[Report]) -> Facets:
        from collections import Counter

        from indexer.retrieval.filters import report_format

        places = Counter(str(p) for r in reports for p in dict.fromkeys(r.meta.get("places") or ()))
        formats = Counter(report_format(r.meta) for r in reports)
        dates = sorted(str(r.meta["date"]) for r in reports if r.meta.get("date"))
        return cls(
            places=[Facet(name=n, reports=c) for n, c in sorted(places.items(), key=lambda x: (-x[1], x[0]))],
            formats=[Facet(name=n, reports=c) for n, c in sorted(formats.items())],
            earliest=dates[0] if dates else None, latest=dates[-1] if dates else None,
            undated=len(reports) - len(dates),
        )


class SearchResponse(BaseModel):
    results: list[Passage]
    took_ms: float

    @classmethod
    def from_hits(
        cls, hits: Sequence[Hit], reports: Mapping[str, Report], took_ms: float
    ) -> SearchResponse:
        return cls(results=[Passage.from_hit(h, reports) for h in hits], took_ms=took_ms)


class CitationOut(BaseModel):
    """A cited span: ``quote == report.text[start:end]`` of report ``doc_id``."""

    n: int = Field(description="The marker [n] that cites this span in the answer.")
    doc_id: str = Field(description="Report id (GET /v1/documents/{doc_id}).")
    title: str = Field(description="Report title.")
    quote: str = Field(description="The cited words, exactly as the report has them.")
    start: int = Field(description="Offset of the quote's first character in the report text.")
    end: int = Field(description="Offset just past the quote's last character.")
    supported: bool = Field(description="False for an LLM sentence its cited passage does not "
                            "support (kept as a citation, removed from the answer text).")
    page: int | None = Field(default=None, description="Page of the original file (PDF) where the "
                             "quote starts, 1-based; null for formats without pages.")
    ocr_confidence: float | None = Field(
        default=None, description="For a quote read by OCR (a scanned page, an image): the "
        "recogniser's confidence, 0-1 (the lowest of the pages it spans); null otherwise.")

    @classmethod
    def from_citation(cls, c: Citation) -> CitationOut:
        return cls(**dataclasses.asdict(c))


class CuratedOut(BaseModel):
    """The curated answer (FAQ) this is: staff wrote it for a question close to this one."""

    id: str
    question: str = Field(description="The curated question it was written for.")
    similarity: float = Field(description="Cosine of the two questions (at least the threshold).")
    source: str = Field(description="The report it comes from (doc_id), or empty.")

    @classmethod
    def of(cls, answer: Answer) -> CuratedOut | None:
        c = answer.curated
        return None if c is None else cls(id=c.id, question=c.question, similarity=c.similarity, source=c.source)


class GroupOut(BaseModel):
    """One report's part of a list or comparison answer."""

    doc_id: str = Field(description="Report id (GET /v1/documents/{doc_id}).")
    title: str = Field(description="Report title.")
    places: list[str] = Field(description="Places the report is about (as the indexer found them).")
    citations: list[CitationOut] = Field(description="The citations that quote this report.")


class AnswerShape(BaseModel):
    """What kind of answer this is, and how it is grouped by report (``/v1/ask`` and chat)."""

    answer_kind: AnswerKind = Field(
        default="fact", description="`fact`: one answer; `list`: one part per report that states "
        "it (哪些街道…); `comparison`: both sides quoted; `refusal`: the reports do not answer.")
    groups: list[GroupOut] = Field(
        default_factory=list, description="For `list` and `comparison`: the reports quoted, each with "
        "its citations, in the order the answer gives them.")
    question_places: list[str] = Field(
        default_factory=list, description="Places the (resolved) question names; the chat page shows "
        "them as automatic chips. They are not a filter.")
    filtered_out: bool = Field(
        default=False, description="True when the request's filters select no report: the answer "
        "says so, and asking without them searches every report.")

    @staticmethod
    def fields_of(answer: Answer) -> dict[str, Any]:
        cited = {c.n: c for c in answer.citations}
        return {
            "answer_kind": answer.answer_kind,
            "groups": [
                GroupOut(doc_id=g.doc_id, title=g.title, places=list(g.places), citations=[
                    CitationOut.from_citation(cited[n]) for n in g.citations if n in cited])
                for g in answer.groups
            ],
            "question_places": list(answer.question_places),
            "filtered_out": answer.filtered_out,
        }


class AskResponse(AnswerShape):
    answer_id: str = Field(description="This answer's id: send it to POST /v1/feedback.")
    answer: str = Field(description="Chinese answer; each sentence ends with [n] markers.")
    answerable: bool = Field(description="False when the reports do not answer the question.")
    confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Calibrated probability (0-1) that the extractive answer holds the right answer, "
        "from the fitted answerability model; below its threshold the question is refused. "
        "null when no model judged the answer (LLM answers, questions without content).",
    )
    citations: list[CitationOut]
    passages: list[Passage]
    composer_used: str
    warnings: list[str]
    took_ms: float
    curated: CuratedOut | None = Field(
        default=None, description="Set when the answer is a curated one (FAQ), not composed from the reports.")

    @classmethod
    def from_answer(
        cls, answer: Answer, reports: Mapping[str, Report], took_ms: float,
        answer_id: str | None = None,
    ) -> AskResponse:
        return cls(
            answer_id=answer_id or uuid.uuid4().hex,
            answer=answer.text,
            answerable=answer.answerable,
            confidence=None if answer.confidence is None else round(answer.confidence, 4),
            citations=[
                CitationOut.from_citation(c) for c in answer.citations
            ],
            passages=[Passage.from_hit(h, reports) for h in answer.passages],
            composer_used=answer.composer,
            warnings=list(answer.warnings),
            took_ms=took_ms,
            curated=CuratedOut.of(answer),
            **AnswerShape.fields_of(answer),
        )
