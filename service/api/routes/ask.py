"""``POST /v1/ask``: a cited answer composed from the retrieved passages."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request

from service.api.auth import ReadKey, requested_kb
from service.api.deps import EngineDep, SettingsDep, StateDep, enforce_limits
from service.api.disconnect import answer_while_connected
from service.api.errors import error_responses
from service.api.schemas import AskRequest, AskResponse, selected_reports

router = APIRouter(prefix="/v1", tags=["ask"], dependencies=[ReadKey])


# Model inference runs in the threadpool (``answer_while_connected``), never on the loop, and
# stops when the client goes away.
@router.post(
    "/ask",
    summary="Answer a question with citations",
    description="Each sentence of `answer` ends with [n] markers naming `citations`; every "
    "citation's `quote` equals the report's text[start:end]. When the reports do not answer, "
    "`answerable` is false, the answer says 资料中未找到…… and `passages` lists the closest ones. "
    "`answer_id` names the answer for POST /v1/feedback.",
    responses=error_responses(401, 403, 422, 503),
)
async def ask(
    request: Request, body: AskRequest, engine: EngineDep, settings: SettingsDep, state: StateDep
) -> AskResponse:
    start = time.perf_counter()
    top_k = enforce_limits(settings, "question", body.question, body.top_k, settings.ask_top_k)
    within = selected_reports(body.filters, engine.reports)
    answer = await answer_while_connected(request, engine.steps(body.question, top_k, body.composer, within))
    took_ms = (time.perf_counter() - start) * 1000
    answer_id = uuid.uuid4().hex
    state.remember(answer_id, body.question, answer.text, answer.answerable, answer.citations, engine,
                   requested_kb(request))
    return AskResponse.from_answer(answer, engine.reports, round(took_ms, 2), answer_id)
