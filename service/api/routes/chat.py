"""OpenAI-compatible chat: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The official ``openai`` SDK works unchanged against ``base_url=http://HOST:8000/v1``. The answer is
the assistant message (its sentences end with ``[n]`` markers, followed by a 来源 list unless
``include_sources`` is false); the structured ``citations`` and ``passages`` are extra top-level
fields of the completion, or of the last chunk when streaming.

Conversations: the latest user message is answered; earlier user turns only resolve an
elliptical follow-up into a self-contained retrieval question (``service.answering.followup``).
System and assistant messages are accepted and ignored (the composers have their own prompts).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from indexer.errors import BackendUnavailable
from service.answering.engine import COMPOSERS, QAEngine
from service.answering.types import Answer
from service.api.auth import ReadKey, requested_kb
from service.api.deps import AppState, EngineDep, SettingsDep, StateDep, enforce_limits
from service.api.disconnect import answer_while_connected, events_while_connected
from service.api.errors import error_responses
from service.api.schemas import AnswerShape, CitationOut, CuratedOut, Passage, selected_reports
from service.api.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    ModelCard,
    ModelList,
    Usage,
    UserMessage,
)
from zhiwen.settings import Settings

if TYPE_CHECKING:
    from indexer.types import Report
    from service.answering.types import Citation

log = logging.getLogger(__name__)

router = APIRouter(tags=["openai"])

MODEL_PREFIX = "zhiwen-"
# Model ids name composers: "zhiwen-llm" -> "llm". Any other model id uses the default composer.
STREAM_PIECE_CHARS = 6  # extractive answers are streamed in pieces of about this many characters
QUOTE_PREVIEW_CHARS = 60
REVISED_MARK = "\n\n——\n核对出处后的回答：\n"
_CREATED = int(time.time())


# -- composing -----------------------------------------------------------------------------------


def composer_for_model(model: str | None) -> str | None:
    """``zhiwen-llm`` / ``llm`` → ``llm``; unknown ids → None (the default composer)."""
    if not model:
        return None
    name = model.strip().lower().removeprefix(MODEL_PREFIX)
    return name if name in COMPOSERS else None


def model_id(composer: str) -> str:
    return MODEL_PREFIX + composer


def _clip(quote: str, limit: int = QUOTE_PREVIEW_CHARS) -> str:
    flat = re.sub(r"\s*\n\s*", "", quote).strip()
    return flat if len(flat) <= limit else flat[:limit] + "…"


def sources_text(citations: Sequence[Citation]) -> str:
    """The 来源 list appended to the assistant message: ``[n] 标题 — 「quote…」`` a line."""
    if not citations:
        return ""
    lines = [f"[{c.n}] {c.title or c.doc_id} — 「{_clip(c.quote)}」" for c in citations]
    return "\n\n来源：\n" + "\n".join(lines)


def text_pieces(text: str, size: int = STREAM_PIECE_CHARS) -> Iterator[str]:
    """Split ``text`` into small pieces for streaming, never cutting a ``[n]`` marker."""
    for m in re.finditer(rf"\[\d+\]|[^\[]{{1,{size}}}|\[", text):
        yield m.group(0)


@dataclasses.dataclass
class _Turn:
    """One request, resolved: what to retrieve and how to answer."""

    request: ChatCompletionRequest
    question: str  # the latest user message
    retrieval_query: str
    composer: str
    top_k: int
    started: float
    within: frozenset[str] | None = None  # the reports the request's filters select
    completion_id: str = dataclasses.field(
        default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:24]
    )
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))

    def took_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)


def _extras(turn: _Turn, answer: Answer, reports: Mapping[str, Report]) -> dict[str, Any]:
    return {
        "answer_id": turn.completion_id,
        "citations": [
            CitationOut.from_citation(c) for c in answer.citations
        ],
        "passages": [Passage.from_hit(h, reports) for h in answer.passages],
        "curated": CuratedOut.of(answer),
        "answerable": answer.answerable,
        "confidence": None if answer.confidence is None else round(answer.confidence, 4),
        "composer_used": answer.composer,
        "retrieval_query": turn.retrieval_query,
        "warnings": list(answer.warnings),
        "took_ms": turn.took_ms(),
        **AnswerShape.fields_of(answer),
    }


def _content(turn: _Turn, answer: Answer) -> str:
    tail = sources_text(answer.citations) if turn.request.include_sources else ""
    return answer.text + tail


def _sse(chunk: ChatCompletionChunk) -> str:
    body = chunk.model_dump(mode="json", exclude_none=True)
    for choice in body["choices"]:
        choice.setdefault("finish_reason", None)
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _chunk(turn: _Turn, model: str, delta: Delta, **extra: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id=turn.completion_id,
        created=turn.created,
        model=model,
        choices=[ChunkChoice(delta=delta, finish_reason="stop" if extra else None)],
        **extra,
    )


def _remember(state: AppState, engine: QAEngine, kb: str, turn: _Turn, answer: Answer) -> None:
    """Keep the answer for feedback, under the completion id and knowledge base ``kb``. The
    question kept is the one answered: a follow-up resolved into a self-contained question, as
    evaluation will ask it."""
    state.remember(turn.completion_id, turn.retrieval_query, answer.text, answer.answerable,
                   answer.citations, engine, kb)


def _stream_answer(
    engine: QAEngine, turn: _Turn, on_answer: Callable[[Answer], None] | None = None
) -> Generator[str, None, None]:
    """SSE events: role, content deltas, the source list, a last chunk with the citations.
    Composer choice, fallback and citation checks are the engine's (``QAEngine.stream``);
    ``on_answer`` gets the checked answer before the last chunk goes out (to remember it)."""
    model = model_id(engine.composer_name(turn.composer))
    yield _sse(_chunk(turn, model, Delta(role="assistant", content="")))
    streamed = ""
    try:
        answer: Answer | None = None
        items = engine.stream(turn.retrieval_query, turn.top_k, turn.composer, turn.within)
        with contextlib.closing(items):  # closed with this generator when the client leaves
            for item in items:
                if isinstance(item, Answer):
                    answer = item
                else:
                    streamed += item
                    yield _sse(_chunk(turn, model, Delta(content=item)))
        assert answer is not None, "the engine ends every stream with an answer"
        model = model_id(answer.composer)
        content = _content(turn, answer)
        if content.startswith(streamed):
            rest = content[len(streamed) :]
        else:
            # Validation changed what was streamed (e.g. dropped an unsupported sentence). A stream
            # cannot take text back: the checked answer follows, marked, and the last chunk's
            # `answer` holds it alone for clients that replace the draft.
            log.info("streamed draft differs from the validated answer; sending the answer")
            rest = REVISED_MARK + content
        for piece in text_pieces(rest):
            yield _sse(_chunk(turn, model, Delta(content=piece)))
        extras = _extras(turn, answer, engine.reports)
        if on_answer is not None:
            on_answer(answer)
        yield _sse(_chunk(turn, model, Delta(), answer=content, **extras))
    except BackendUnavailable as exc:  # the headers are sent: the error goes in the stream
        error = {"error": {"code": "backend_unavailable", "message": str(exc)}}
        yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
    except Exception as exc:
        log.exception("chat completion stream failed")
        error = {"error": {"code": "internal_error", "message": f"answer failed: {exc}"}}
        yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _resolve_turn(body: ChatCompletionRequest, engine: QAEngine, settings: Settings) -> _Turn:
    started = time.perf_counter()
    # Every user turn is bounded, not only the one answered: earlier turns feed follow-up
    # resolution and the searched query.
    for i, message in enumerate(body.messages):
        if isinstance(message, UserMessage):
            enforce_limits(settings, f"messages.{i}.content", message.text, None, settings.ask_top_k)
    user_turns = body.user_texts
    question = user_turns[-1]
    top_k = enforce_limits(settings, "messages", question, body.top_k, settings.ask_top_k)
    retrieval_query = engine.resolve(user_turns)
    if retrieval_query != question:
        log.info("follow-up %r resolved to %r", _for_log(question), _for_log(retrieval_query))
    composer = composer_for_model(body.model) or engine.default_composer
    within = selected_reports(body.filters, engine.reports)
    return _Turn(body, question, retrieval_query, composer, top_k, started, within)


def _for_log(text: str, limit: int = 120) -> str:
    """User text as logged: at most ``limit`` characters, so a log line stays a line."""
    return text if len(text) <= limit else f"{text[:limit]}…(+{len(text) - limit})"


# OpenAPI 3.1: the schema of a text/event-stream response describes one event.
_SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": "A JSON `chat.completion.chunk` (the last one, with finish_reason "
            '"stop", also carries `answer`, `answer_id`, `citations` and `passages`), a JSON `{"error": …}` '
            "if the answer fails mid-stream, or `[DONE]` at the end.",
        },
        "event": {"type": "string"},
    },
}


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    dependencies=[ReadKey],
    responses={
        200: {
            "description": "A chat completion, or with `stream: true` server-sent events of "
            "`chat.completion.chunk` objects ending with `data: [DONE]`.",
            "content": {"text/event-stream": {"schema": _SSE_EVENT_SCHEMA}},
        },
        **error_responses(401, 403, 422, 503),
    },
    summary="Answer the latest user message (OpenAI Chat Completions format)",
)
async def chat_completions(
    request: Request, body: ChatCompletionRequest, engine: EngineDep, settings: SettingsDep,
    state: StateDep,
) -> ChatCompletion | StreamingResponse:
    # follow-up resolution tokenises: in the threadpool, like the answer
    turn = await run_in_threadpool(_resolve_turn, body, engine, settings)
    kb = requested_kb(request)  # as select_kb chose the engine
    if body.stream:
        return StreamingResponse(
            events_while_connected(
                _stream_answer(engine, turn, functools.partial(_remember, state, engine, kb, turn))
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    steps = engine.steps(turn.retrieval_query, turn.top_k, turn.composer, turn.within)
    answer = await answer_while_connected(request, steps)
    _remember(state, engine, kb, turn, answer)
    content = _content(turn, answer)
    prompt_chars = sum(len(m.text) for m in body.messages)
    return ChatCompletion(
        id=turn.completion_id,
        created=turn.created,
        model=model_id(answer.composer),
        choices=[Choice(message=AssistantMessage(content=content))],
        usage=Usage(
            prompt_tokens=prompt_chars,
            completion_tokens=len(content),
            total_tokens=prompt_chars + len(content),
        ),
        **_extras(turn, answer, engine.reports),
    )


@router.get(
    "/v1/models",
    response_model=ModelList,
    dependencies=[ReadKey],
    responses=error_responses(401, 403),
    summary="Models (answer composers) usable as `model` in chat completions",
)
def list_models(settings: SettingsDep) -> ModelList:
    names = [settings.composer] + [c for c in COMPOSERS if c != settings.composer]
    if not settings.llm_configured:
        names = [n for n in names if n != "llm"]
    return ModelList(data=[ModelCard(id=model_id(n), created=_CREATED) for n in names])
