"""Scoring list and comparison answers by report: did the answer name the reports that state the
asked thing, each with a citation of where it says so, and no others?

A question item names its expected reports, each with evidence strings (the clauses that state
the thing). An answer is scored as groups, one per report it quotes (``Answer.groups`` of a list or
comparison answer; a fact answer counts as one group per distinct report among its citations, so
the answers of today's composer are measured the same way). A group is *right* when its report is
expected and one of its citations overlaps (shares at least one character with, or contains) an
occurrence of that report's evidence in the report text.

Per question: report recall = expected reports with a right group / expected reports; report
precision = right groups / groups. The empty cases: nothing expected and the answer refuses: both
1.0; nothing expected and the answer answers: both 0.0; something expected and no group (a refusal,
or an answer citing nothing): both 0.0 (as trec_eval scores P of an empty ranking). Aggregated
micro (summed counts: a question expecting nothing adds no expected report, but each group it was
wrongly given) and macro (mean of the per-question values), by kind; plus the share of the
questions expecting nothing that were refused. Plain counting: no IR library needed for sets.

Pure: no I/O; the report texts are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from service.answering.types import Answer

MultiKind = Literal["list", "comparison"]
KINDS: tuple[MultiKind, ...] = ("list", "comparison")

# The rows `zhiwen eval --multi` reports, in order: (metric name, label, the metric counting the
# questions it is over). Metric names are flat (as in metrics.json); recall and precision have
# ``_macro`` twins beside the micro ones.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("multi_list_report_recall", "multi list report recall", "multi_list_questions"),
    ("multi_list_report_precision", "multi list report precision", "multi_list_questions"),
    ("multi_list_answered_as_list", "multi list answered as a list", "multi_list_questions_with_reports"),
    ("multi_comparison_report_recall", "multi comparison report recall", "multi_comparison_questions"),
    ("multi_comparison_report_precision", "multi comparison report precision", "multi_comparison_questions"),
    ("multi_comparison_answered_as_comparison", "multi comparison answered as a comparison",
     "multi_comparison_questions_with_reports"),
    ("multi_no_report_refused", "multi no-report refused", "multi_no_report_questions"),
    ("multi_all_report_recall", "multi all (list + comparison) report recall", "multi_all_questions"),
    ("multi_all_report_precision", "multi all (list + comparison) report precision", "multi_all_questions"),
)


class MultiDataError(ValueError):
    """A question item is malformed; the message says where."""


@dataclass(frozen=True)
class Expected:
    """A report that states the asked thing, and the clauses of its text that state it."""

    doc_id: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class MultiQuestion:
    """One list or comparison question; ``expected`` empty: no report states it (refuse)."""

    qid: str
    question: str
    kind: MultiKind
    expected: tuple[Expected, ...]
    note: str = ""

    @property
    def expected_docs(self) -> tuple[str, ...]:
        return tuple(e.doc_id for e in self.expected)


@dataclass(frozen=True)
class CitedSpan:
    """One citation of a group: ``report.text[start:end] == quote``."""

    start: int
    end: int
    quote: str = ""


@dataclass(frozen=True)
class AnswerGroup:
    """One report an answer quotes, with the spans it cites there."""

    doc_id: str
    spans: tuple[CitedSpan, ...]


@dataclass(frozen=True)
class QuestionScore:
    """How one answer was scored. ``given``: the groups' reports in answer order; ``found``: the
    expected reports with a right group; ``right``: how many groups are right."""

    qid: str
    kind: MultiKind
    expected: tuple[str, ...]
    given: tuple[str, ...]
    found: tuple[str, ...]
    right: int
    refused: bool
    answer_kind: str  # the answer's: fact, list, comparison or refusal
    recall: float
    precision: float

    @property
    def groups(self) -> int:
        return len(self.given)


def parse_item(row: Mapping[str, Any], where: str) -> MultiQuestion:
    """A question item from its JSON object (``id``, ``question``, ``kind``, ``expected``:
    ``[{doc_id, evidence: [...]}]``, optional ``note``)."""
    def text(name: str) -> str:
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise MultiDataError(f"{where}: '{name}' must be a non-empty string")
        return value

    qid, question, kind = text("id"), text("question"), text("kind")
    if kind not in KINDS:
        raise MultiDataError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    raw = row.get("expected")
    if not isinstance(raw, list):
        raise MultiDataError(f"{where}: 'expected' must be a list (empty: no report states it)")
    expected: list[Expected] = []
    for e in raw:
        if not isinstance(e, dict) or not isinstance(e.get("doc_id"), str):
            raise MultiDataError(f"{where}: each 'expected' item needs a 'doc_id' string")
        evidence = e.get("evidence")
        if (not isinstance(evidence, list) or not evidence
                or not all(isinstance(s, str) and s for s in evidence)):
            raise MultiDataError(f"{where}: {e['doc_id']}: 'evidence' must be a non-empty list of strings")
        expected.append(Expected(e["doc_id"], tuple(evidence)))
    docs = [e.doc_id for e in expected]
    if len(set(docs)) != len(docs):
        raise MultiDataError(f"{where}: a report is expected twice")
    note = row.get("note", "")
    return MultiQuestion(qid, question, kind, tuple(expected), note if isinstance(note, str) else "")


def evidence_problems(question: MultiQuestion, texts: Mapping[str, str]) -> list[str]:
    """What makes ``question`` unscorable on these reports: an unknown report, evidence not in
    its text. Empty when it can be scored."""
    problems = []
    for e in question.expected:
        text = texts.get(e.doc_id)
        if text is None:
            problems.append(f"{question.qid}: report {e.doc_id} is not in the index")
            continue
        problems += [f"{question.qid}: {e.doc_id}: evidence {s!r} is not in its text"
                     for s in e.evidence if s not in text]
    return problems


def evidence_spans(text: str, evidence: Iterable[str]) -> list[tuple[int, int]]:
    """Every occurrence of every evidence string in ``text``, as (start, end)."""
    spans = []
    for s in evidence:
        at = text.find(s)
        while s and at >= 0:
            spans.append((at, at + len(s)))
            at = text.find(s, at + 1)
    return spans


def overlaps(span: CitedSpan, start: int, end: int) -> bool:
    """The citation shares at least one character with [start, end) (containment included)."""
    return span.start < end and start < span.end


def groups_of(answer: Answer) -> tuple[AnswerGroup, ...]:
    """An answer's groups as scored: none for a refusal; a list or comparison answer's own groups
    (citations looked up by ``n``); a fact answer: one group per distinct cited report, in order."""
    if not answer.answerable:
        return ()
    by_n = {c.n: c for c in answer.citations}
    if answer.groups:
        return tuple(
            AnswerGroup(g.doc_id, tuple(CitedSpan(by_n[n].start, by_n[n].end, by_n[n].quote)
                                        for n in g.citations if n in by_n))
            for g in answer.groups
        )
    spans: dict[str, list[CitedSpan]] = {}
    for c in answer.citations:
        spans.setdefault(c.doc_id, []).append(CitedSpan(c.start, c.end, c.quote))
    return tuple(AnswerGroup(doc, tuple(s)) for doc, s in spans.items())


def score_question(
    question: MultiQuestion,
    groups: Sequence[AnswerGroup],
    texts: Mapping[str, str],
    *,
    refused: bool,
    answer_kind: str = "fact",
) -> QuestionScore:
    """Score one answer's ``groups`` against ``question``; ``texts``: report id -> text (the
    expected reports' at least). ``refused``: the answer is a refusal (its groups are then none)."""
    groups = () if refused else tuple(groups)
    wanted = {e.doc_id: evidence_spans(texts.get(e.doc_id, ""), e.evidence) for e in question.expected}
    right_docs = [
        g.doc_id for g in groups
        if any(overlaps(s, a, b) for s in g.spans for a, b in wanted.get(g.doc_id, ()))
    ]
    found = tuple(d for d in question.expected_docs if d in right_docs)
    if not question.expected:
        recall = precision = 1.0 if refused else 0.0
    else:
        recall = len(found) / len(question.expected)
        precision = len(right_docs) / len(groups) if groups else 0.0
    return QuestionScore(
        question.qid, question.kind, question.expected_docs, tuple(g.doc_id for g in groups), found,
        len(right_docs), refused, "refusal" if refused else answer_kind, recall, precision,
    )


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(scores: Sequence[QuestionScore]) -> dict[str, float | None]:
    """Flat metrics by kind: ``multi_{kind}_report_recall`` / ``_precision`` (micro) with their
    ``_macro`` twins, ``multi_{kind}_answered_as_{kind}`` (share of the questions some report
    answers whose answer has the asked kind), ``multi_{kind}_questions`` (and ``…_with_reports``); and
    ``multi_no_report_refused`` over the questions no report answers. None: nothing to count."""
    out: dict[str, float | None] = {}
    for kind in KINDS:
        typed = [s for s in scores if s.kind == kind]
        answerable = [s for s in typed if s.expected]
        p = f"multi_{kind}"
        out[f"{p}_questions"] = float(len(typed))
        out[f"{p}_questions_with_reports"] = float(len(answerable))
        out[f"{p}_report_recall"] = _share(sum(len(s.found) for s in typed), sum(len(s.expected) for s in typed))
        out[f"{p}_report_precision"] = _share(sum(s.right for s in typed), sum(s.groups for s in typed))
        out[f"{p}_report_recall_macro"] = _mean([s.recall for s in typed])
        out[f"{p}_report_precision_macro"] = _mean([s.precision for s in typed])
        out[f"{p}_answered_as_{kind}"] = _share(sum(s.answer_kind == kind for s in answerable), len(answerable))
    # both kinds together, micro (the whole set's figure)
    out["multi_all_questions"] = float(len(scores))
    out["multi_all_report_recall"] = _share(sum(len(s.found) for s in scores), sum(len(s.expected) for s in scores))
    out["multi_all_report_precision"] = _share(sum(s.right for s in scores), sum(s.groups for s in scores))
    empty = [s for s in scores if not s.expected]
    out["multi_no_report_questions"] = float(len(empty))
    out["multi_no_report_refused"] = _share(sum(s.refused for s in empty), len(empty))
    return out
