"""Feedback → a QA set that ``zhiwen eval --qa`` reads (``eval/data.py``'s format), so each
correction becomes a regression test for the next index or model. Pure: no I/O.

A QA line is ``{id, question, doc, answers, evidence, type}``: ``doc`` is the gold report (null
means "the reports hold no answer: refuse"), ``evidence`` strings a relevant passage of that report
must contain (empty: any passage of it counts), ``answers`` strings a correct answer must contain
(empty: the answer is not judged, only retrieval). What each kind of feedback gives:

* a correction naming a report (``doc_id``): that report; evidence = the quote if given, else the
  corrected answer if that report holds it; answers = the corrected answer if given;
* a correction with an answer (or a quote) but no report: the report that holds that text —
  among those the original answer cited first, then among all reports, if exactly one holds
  it; evidence = that text. If none or several hold it, the first report the original answer
  cited, with no evidence; with no citation either, the feedback is skipped (reason given);
* only with ``include_all``, a 👍 without a correction: a refusal confirmed becomes an
  unanswerable question (doc null); an answer confirmed becomes its first cited report with the
  quotes cited from it as evidence (answers not judged);
* a 👎 without a correction is never exported: nothing says what is right.

One export is about one knowledge base (the reports that locate its corrections are that base's);
each line names it (``kb``). Identical lines (the same question once normalised, the same gold
report, answers and evidence) are one question, however often it was sent: the earliest feedback
gives the line and ``count`` says how many feedback rows it stands for, so 500 identical
corrections weigh as one question in ``zhiwen eval``, not 500.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.feedback import Feedback, cited_docs

_WS = re.compile(r"\s+")


def _normal(text: str) -> str:
    # exactly how eval compares evidence and answers (eval.data.normalize): NFKC, no whitespace
    return _WS.sub("", unicodedata.normalize("NFKC", text))


@dataclass
class Export:
    """The QA lines, and the feedback left out with the reason."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def holders(text: str, reports: Mapping[str, str], prefer: Iterable[str] = ()) -> list[str]:
    """The reports whose text holds ``text`` (normalised as eval compares): those of ``prefer``
    that do if any, else all that do."""
    needle = _normal(text)
    if not needle:
        return []
    preferred = [d for d in prefer if d in reports and needle in _normal(reports[d])]
    if preferred:
        return preferred
    return [d for d, body in reports.items() if needle in _normal(body)]


def _row(fb: Feedback, doc: str | None, answers: list[str], evidence: list[str], kind: str) -> dict[str, Any]:
    return {"id": f"feedback-{fb.feedback_id}", "question": fb.question, "doc": doc,
            "answers": answers, "evidence": evidence, "type": kind,
            "index_version": fb.index_version, "rating": fb.rating, "kb": fb.kb, "count": 1}


def _same(row: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two lines the same question for eval: question, gold report, answers and
    evidence, compared as eval compares them (``_normal``), in the order given."""
    return (row["kb"], _normal(row["question"]), row["doc"],
            tuple(_normal(a) for a in row["answers"]), tuple(_normal(e) for e in row["evidence"]))


def _corrected(fb: Feedback, reports: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    c = fb.correction
    assert c is not None
    answers = [c.answer] if c.answer else []
    cited = cited_docs(fb.citations)
    if c.doc_id:
        if c.quote:
            evidence = [c.quote]
        elif c.answer and c.doc_id in reports and _normal(c.answer) in _normal(reports[c.doc_id]):
            evidence = [c.answer]
        else:
            evidence = []
        return _row(fb, c.doc_id, answers, evidence, "feedback-correction"), ""
    text = c.quote or c.answer or ""
    found = holders(text, reports, prefer=cited)
    if len(found) == 1:
        return _row(fb, found[0], answers, [text], "feedback-correction"), ""
    if cited:
        return _row(fb, cited[0], answers, [], "feedback-correction"), ""
    why = "several reports hold" if found else "no report holds"
    return None, f"{why} the corrected text and the answer cited none: no gold report"


def _confirmed(fb: Feedback) -> tuple[dict[str, Any] | None, str]:
    if fb.answerable is False:
        return _row(fb, None, [], [], "unanswerable"), ""
    cited = cited_docs(fb.citations)
    if not cited:
        return None, "a 👍 on an answer without citations: no gold report"
    quotes = list(dict.fromkeys(c.quote for c in fb.citations if c.doc_id == cited[0]))
    return _row(fb, cited[0], [], quotes, "feedback-confirmed"), ""


def qa_rows(
    feedback: Iterable[Feedback], reports: Mapping[str, str], *, include_all: bool = False
) -> Export:
    """QA lines for ``feedback`` (see the module docstring), oldest feedback first whatever order
    it comes in, so a repeated question keeps its earliest id. ``reports``: doc_id → text of the
    index the corrections are located in (may be empty: then only cited reports are used). All of
    ``feedback`` must be of the knowledge base ``reports`` come from: feedback of several bases is
    a ValueError (the caller exports each base on its own)."""
    out = Export()
    kbs: set[str] = set()
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for fb in sorted(feedback, key=lambda f: (f.created_at, f.feedback_id)):
        kbs.add(fb.kb)
        if len(kbs) > 1:
            raise ValueError(f"feedback of several knowledge bases ({', '.join(sorted(kbs))}): "
                             "export one knowledge base at a time")
        if fb.correction is not None and not fb.correction.empty:
            row, why = _corrected(fb, reports)
        elif include_all and fb.rating == "up":
            row, why = _confirmed(fb)
        else:
            continue
        if row is None:
            out.skipped.append((fb.feedback_id, why))
            continue
        same = first.get(_same(row))
        if same is not None:
            same["count"] += 1
        else:
            first[_same(row)] = row
            out.rows.append(row)
    return out
