"""``POST /v1/feedback`` (a 👍/👎 and optional correction on one answer) and ``GET /v1/feedback``
(the stored feedback, for reviewers: it shows other users' questions, so it needs a write key).

Both are about the knowledge base ``?kb=`` names (``default`` without), with that base's key
rules: an answer id is found only among that base's answers, a correction is checked against that
base's reports, and the list shows that base's feedback only. Nothing in a response depends on
another knowledge base (an answer id or report of another base is as unknown as a made-up one)."""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from service.answering.engine import QAEngine
from service.api.auth import ReadKey, WriteKey
from service.api.deps import (
    FeedbackDep,
    KbName,
    SettingsDep,
    StateDep,
    index_version,
    knowledge_base,
)
from service.api.errors import ApiError, error_responses, field_error, printable
from service.api.schemas.feedback import (
    FeedbackCreated,
    FeedbackList,
    FeedbackOut,
    FeedbackRequest,
)
from service.feedback import AnswerRecord, Correction, iso_utc
from zhiwen.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["feedback"])

MAX_LIST = 1000


def _check_lengths(body: FeedbackRequest, settings: Settings) -> None:
    limit = settings.max_feedback_chars
    texts: list[tuple[str, str | None, int]] = [
        ("question", body.question, settings.max_question_chars),
        ("answer", body.answer, limit),
        ("comment", body.comment, limit),
    ]
    if body.correction is not None:
        texts += [("correction.answer", body.correction.answer, limit),
                  ("correction.quote", body.correction.quote, limit)]
    for name, text, most in texts:
        if text is not None and len(text) > most:
            raise field_error(name, "string_too_long", f"String should have at most {most} characters")


def _engine(state: StateDep, kb: str) -> QAEngine | None:
    """The engine of knowledge base ``kb``, which corrections are checked against; None while the
    default one loads (feedback is taken meanwhile, its correction unchecked). Any other base is
    found as on every route that takes ``?kb=`` (404 unknown, 503 loading)."""
    if kb == "default" and state.kb is None:
        return None
    return knowledge_base(state, kb).engine


def _record(body: FeedbackRequest, state: StateDep, kb: str, engine: QAEngine | None) -> AnswerRecord:
    """The answer the feedback is about: remembered by id for knowledge base ``kb``, else
    described by the body. An id remembered for another knowledge base is unknown here, with the
    same message, so a caller learns nothing about other bases' answers."""
    record = state.answers.get(body.answer_id)
    if record is not None and record.kb == kb:
        return record
    if body.question is None:
        raise ApiError(
            404, "not_found",
            f"answer_id: no recent answer has the id {body.answer_id!r} (the server remembers "
            f"the last {state.answers.capacity}); send `question` (and `answer`) with the feedback "
            "to rate an older answer",
        )
    return AnswerRecord(body.answer_id, body.question.strip(), body.answer or "", None, (),
                        index_version(engine) if engine is not None else "", time.time(), kb)


def _correction(body: FeedbackRequest, engine: QAEngine | None, kb: str) -> Correction | None:
    """The correction, its report checked against knowledge base ``kb``'s reports (``engine``)
    when loaded. Only that base is looked at: a report of another base is "no report" here."""
    c = body.correction
    if c is None:
        return None
    correction = Correction(answer=c.answer.strip() if c.answer else None,
                            doc_id=c.doc_id, quote=c.quote.strip() if c.quote else None)
    if c.doc_id is None or engine is None:
        return correction
    report = engine.reports.get(c.doc_id)
    if report is None:
        raise ApiError(404, "not_found", f"correction.doc_id: no report {printable(c.doc_id)!r} "
                       f"in knowledge base {kb!r}")
    if correction.quote is not None:
        from indexer.text.zh import norm

        if norm(correction.quote) not in norm(report.text):
            raise field_error("correction.quote", "not_in_report",
                              f"the quote is not in report {printable(c.doc_id)!r}")
    return correction


# RFC 3339 date-time (what the schema's "date-time" format means); fromisoformat alone would
# also take a bare date or a time without a zone
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _since(text: str) -> str:
    """``since`` in the stored format (UTC), or 422 naming it."""
    moment = None
    if _RFC3339.fullmatch(text):
        with contextlib.suppress(ValueError):
            # Python takes at most 6 fraction digits; more say nothing a row's time can tell
            moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.upper()))
    if moment is None:
        raise field_error("since", "datetime_parsing",
                          "Input should be an RFC 3339 time, e.g. 2026-12-01T08:00:00+08:00")
    try:
        return iso_utc(moment)
    except OverflowError:  # at the edge of the calendar once moved to UTC: before or after all
        return "0000" if moment.year == 1 else "9999"


@router.post(
    "/feedback",
    status_code=201,
    dependencies=[ReadKey],
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Rate an answer (👍/👎), optionally with the right answer or passage",
    description="Stored durably with the question, answer, citations and index version of the "
    "answer `answer_id` names, under the knowledge base `?kb=` names: the answer must have come "
    "from that knowledge base, and a correction's report is one of its reports. The server "
    "remembers recent answers only: for an older one send `question` (and `answer`) too; "
    "without them an unknown `answer_id` is 404. "
    "`zhiwen feedback export` turns corrections into a QA set for `zhiwen eval --qa`.",
)
def post_feedback(
    body: FeedbackRequest, state: StateDep, settings: SettingsDep, store: FeedbackDep,
    kb: KbName = None,
) -> FeedbackCreated:
    _check_lengths(body, settings)
    name = kb or "default"
    engine = _engine(state, name)
    record = _record(body, state, name, engine)
    correction = _correction(body, engine, name)
    try:
        stored = store.add(record, body.rating, correction, body.comment)
    except sqlite3.Error as exc:
        log.error("feedback not stored: %s", exc)
        raise ApiError(503, "feedback_unavailable", f"feedback could not be stored: {exc}",
                       headers={"Retry-After": "5"}) from exc
    log.info("feedback %d (%s) on answer %s", stored.feedback_id, stored.rating, stored.answer_id)
    return FeedbackCreated(feedback_id=stored.feedback_id, answer_id=stored.answer_id,
                           created_at=stored.created_at, kb=stored.kb)


@router.get(
    "/feedback",
    dependencies=[WriteKey],
    responses=error_responses(401, 403, 422, 503),
    summary="Stored feedback, newest first (needs a write key: it shows users' questions)",
    description="The feedback on answers of the knowledge base `?kb=` names (`default` "
    "without), and of no other; the key must be allowed to write that knowledge base.",
)
def list_feedback(
    store: FeedbackDep,
    kb: KbName = None,
    rating: Annotated[Literal["up", "down"] | None, Query(description="Only 👍 or 👎.")] = None,
    since: Annotated[str | None, Query(
        description="Only feedback from this time on (RFC 3339, e.g. 2026-12-01T08:00:00+08:00).",
        json_schema_extra={"format": "date-time"})] = None,
    corrected: Annotated[Literal["true", "false"] | None, Query(
        description="Only feedback with (true) or without (false) a correction.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="At most this many.")] = 100,
) -> FeedbackList:
    after = _since(since) if since is not None else None
    try:
        rows = store.list(kb=kb or "default", rating=rating, since=after,
                          corrected=None if corrected is None else corrected == "true",
                          limit=limit)
    except sqlite3.Error as exc:
        log.error("feedback not read: %s", exc)
        raise ApiError(503, "feedback_unavailable", f"feedback could not be read: {exc}",
                       headers={"Retry-After": "5"}) from exc
    return FeedbackList(feedback=[FeedbackOut.from_feedback(f) for f in rows], count=len(rows))
