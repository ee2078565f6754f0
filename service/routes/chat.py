"""OpenAI-compatible chat: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The official ``openai`` SDK works unchanged against ``base_url=http://HOST:8000/v1``. The answer is
the assistant message (its sentences end with ``[n]`` markers, followed by a 来源 list unless
``include_sources`` is false); the structured ``citations`` and ``passages`` are extra top-level
fields of the completion, or of the last chunk when streaming.

Conversations: the latest user message is answered; earlier user turns only resolve an
elliptical follow-up into a self-contained retrieval question (see ``rewrite_followup``).
System and assistant messages are accepted and ignored (the composers have their own prompts).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from indexer import cleaning
from service.answering.types import Answer
from service.auth import ReadKey
from service.chat_schemas import (
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
)
from service.deps import EXTRACTIVE, EngineDep, QAEngine, SettingsDep, enforce_limits
from service.errors import error_responses
from service.schemas import CitationOut, Passage
from service.settings import Settings

if TYPE_CHECKING:
    from indexer.types import Hit, Report
    from service.answering.types import Citation, Composer

log = logging.getLogger(__name__)

router = APIRouter(tags=["openai"])

MODEL_PREFIX = "zhiwen-"
# Model ids name composers: "zhiwen-llm" -> "llm". Any other model id uses the default composer.
KNOWN_COMPOSERS = ("extractive", "llm")
STREAM_PIECE_CHARS = 6  # extractive answers are streamed in pieces of about this many characters
QUOTE_PREVIEW_CHARS = 60
REVISED_MARK = "\n\n——\n核对出处后的回答：\n"
_CREATED = int(time.time())


@runtime_checkable
class StreamingComposer(Protocol):
    """A composer that can stream: text deltas, then the final validated ``Answer``."""

    name: str

    def stream(
        self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]
    ) -> Iterator[str | Answer]: ...


# -- follow-up questions ------------------------------------------------------------------------
#
# A chat sends the whole conversation; retrieval needs one self-contained question. The latest user
# message is rewritten against the previous (already resolved) user question, so chains of
# follow-ups resolve one step at a time:
#
# 1. Ellipsis "那X呢？" / "X呢" / "X怎么样":
#    - X is a place ("那王哥庄呢？" after "九水街道共有多少处安全隐患被整改？"): the previous
#      question with its place replaced → "王哥庄街道共有多少处安全隐患被整改？" (a bare name
#      borrows the old place's suffix 街道/社区/…);
#    - X is something else ("那党工委书记呢？"): the previous place + X → "九水街道的党工委书记".
# 2. A follow-up without a place of its own — leading 那/还有/另外…, trailing 呢, or 该/这个 +
#    街道/社区… — gets the previous question's place: "那党建示范点是哪个社区？" after
#    "王哥庄街道2018年渔业总产值是多少？" → "王哥庄街道党建示范点是哪个社区？".
# 3. A bare cue ("还有呢？"): previous question + message.
# 4. Anything else is a new, self-contained question and is used as it is.
#
# Places: the corpus's place names (reports' ``meta["places"]``, so a bare 王哥庄 is known as
# 王哥庄街道), the indexer's place finder, and a regex fallback for 2–6 Han characters ending in
# 街道/社区/新区/区/镇/乡/村/县, minus generic words (辖区, 小区…) and question words (哪个社区).

PLACE_SUFFIXES = ("街道", "社区", "新区", "区", "镇", "乡", "村", "县")
_PLACE_RE = re.compile(r"[\u4e00-\u9fff]{2,6}?(?:街道|社区|新区|区|镇|乡|村|县)")
_LEADING_FUNCTION_CHARS = frozenset("那么这该此其和与及在从向对把被为的了是请问共有")
_QUESTION_WORDS = ("哪", "什么", "几", "多少", "怎", "如何", "谁", "为何")
_GENERIC_PLACE_WORDS = (
    "辖区",
    "城区",
    "园区",
    "小区",
    "片区",
    "景区",
    "街区",
    "校区",
    "市区",
    "郊区",
    "山区",
    "社区",
    "示范区",
    "功能区",
    "开发区",
    "保护区",
    "试验区",
    "居民区",
    "住宅区",
    "农村",
)
_CUE_RE = re.compile(r"^(?:那么|那|还有|另外|此外|然后|再问一下|再问|以及)")
_TRAILING_NE_RE = re.compile(r"呢\s*[？?。.！!]*$")
_ELLIPSIS_RE = re.compile(
    r"^(?:那么|那|还有|另外|再看看|换成|如果是)?\s*(?P<entity>[^，,。？?！!\s]{1,15}?)"
    r"(?:的情况|的)?\s*(?:呢|怎么样|如何|又如何|又怎么样)\s*[？?。.！!]*$"
)
_DEICTIC_RE = re.compile(r"(?:该|这个|那个|此|本)(街道|社区|新区|区|镇|乡|村|县)")
_BARE_CUE_RE = re.compile(
    r"^(?:那么|那|还有|另外|此外|然后)?\s*(?:呢|还有呢|其他呢|别的呢)?\s*[？?。.！!]*$"
)


def _suffix(place: str) -> str:
    return next((s for s in PLACE_SUFFIXES if place.endswith(s)), "")


def _stem(place: str) -> str:
    return place[: len(place) - len(_suffix(place))]


def _regex_places(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _PLACE_RE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start] in _LEADING_FUNCTION_CHARS:
            start += 1
        name = text[start:end]
        if len(_stem(name)) < 2 or any(w in name for w in _QUESTION_WORDS):
            continue
        if name.endswith(_GENERIC_PLACE_WORDS):
            continue
        spans.append((start, end))
    return spans


def find_places(text: str, known: Iterable[str] = ()) -> list[str]:
    """Place names in ``text`` in order of appearance. Known names claim their spans first
    (longest first), then the indexer's place finder (jieba-based), then a regex fallback."""
    spans: list[tuple[int, int]] = []

    def claim(start: int, end: int) -> None:
        if all(end <= s or start >= e for s, e in spans):
            spans.append((start, end))

    for name in sorted({k for k in known if k}, key=len, reverse=True):
        for m in re.finditer(re.escape(name), text):
            claim(m.start(), m.end())
    for name in cleaning.find_places(text):
        for m in re.finditer(re.escape(name), text):
            claim(m.start(), m.end())
    for start, end in _regex_places(text):
        claim(start, end)
    return [text[s:e] for s, e in sorted(spans)]


def corpus_places(reports: Iterable[Report]) -> frozenset[str]:
    """Place names the corpus knows: the reports' ``meta["places"]`` (found by the indexer)."""
    names: set[str] = set()
    for report in reports:
        places = report.meta.get("places") or []
        if isinstance(places, list):
            names.update(str(p) for p in places if p)
    return frozenset(names)


def _is_place(entity: str, known: Sequence[str]) -> bool:
    if entity in known or any(_suffix(k) and _stem(k) == entity for k in known):
        return True
    return find_places(entity, known) == [entity]


def _with_suffix(entity: str, old_place: str) -> str:
    """A bare name takes the suffix of the place it replaces: 王哥庄 for 九水街道 → 王哥庄街道."""
    if _suffix(entity) or not _suffix(old_place):
        return entity
    return entity + _suffix(old_place)


def rewrite_followup(previous: str, latest: str, known_places: Iterable[str] = ()) -> str:
    """Turn ``latest`` into a self-contained question using ``previous`` (rules above)."""
    known = list(known_places)
    latest = latest.strip()
    previous = previous.strip()
    if not previous:
        return latest
    old_places = find_places(previous, known)
    if _BARE_CUE_RE.match(latest):
        return f"{previous} {latest}"
    ellipsis = _ELLIPSIS_RE.match(latest)
    if ellipsis and not any(w in ellipsis["entity"] for w in _QUESTION_WORDS):
        entity = ellipsis["entity"]
        if _is_place(entity, known):
            if old_places:
                return previous.replace(old_places[0], _with_suffix(entity, old_places[0]), 1)
            return f"{entity} {previous}"
        if old_places:
            return f"{old_places[0]}的{entity}"
        return f"{previous} {entity}"
    if old_places and not find_places(latest, known):
        place = old_places[0]
        deictic = _DEICTIC_RE.search(latest)
        if deictic and deictic[1] == _suffix(place):
            return latest[: deictic.start()] + place + latest[deictic.end() :]
        cue = _CUE_RE.match(latest)
        if cue or deictic or _TRAILING_NE_RE.search(latest):
            return place + latest[cue.end() if cue else 0 :].lstrip("，,、 ")
    return latest


def resolve_question(user_turns: Sequence[str], known_places: Iterable[str] = ()) -> str:
    """The retrieval question for the last of ``user_turns``, resolving follow-ups in order."""
    known = list(known_places)
    resolved = ""
    for turn in user_turns:
        resolved = rewrite_followup(resolved, turn, known) if resolved else turn.strip()
    return resolved


# Corpus place names, computed once per loaded searcher (the object is kept so its id stays valid).
_places_cache: dict[int, tuple[object, frozenset[str]]] = {}


def _known_places(engine: QAEngine) -> frozenset[str]:
    key = id(engine.searcher)
    cached = _places_cache.get(key)
    if cached is None or cached[0] is not engine.searcher:
        cached = (engine.searcher, corpus_places(engine.reports.values()))
        _places_cache.clear()
        _places_cache[key] = cached
    return cached[1]


# -- composing -----------------------------------------------------------------------------------


def composer_for_model(model: str | None) -> str | None:
    """``zhiwen-llm`` / ``llm`` → ``llm``; unknown ids → None (the default composer)."""
    if not model:
        return None
    name = model.strip().lower().removeprefix(MODEL_PREFIX)
    return name if name in KNOWN_COMPOSERS else None


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


def _select_composer(engine: QAEngine, wanted: str) -> tuple[Composer, list[str]]:
    """The composer to use and warnings, falling back to extractive like ``QAEngine.ask``."""
    chosen = engine.composers.get(wanted)
    if chosen is not None:
        return chosen, []
    reason = engine.unavailable.get(wanted, "unknown composer")
    log.warning("composer %s unavailable (%s); falling back to extractive", wanted, reason)
    return engine.composers[EXTRACTIVE], [
        f"composer '{wanted}' unavailable ({reason}); used '{EXTRACTIVE}'"
    ]


@dataclasses.dataclass
class _Turn:
    """One request, resolved: what to retrieve and how to answer."""

    request: ChatCompletionRequest
    question: str  # the latest user message
    retrieval_query: str
    composer: str
    top_k: int
    started: float
    completion_id: str = dataclasses.field(
        default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:24]
    )
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))

    def took_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)


def _extras(turn: _Turn, answer: Answer, reports: Mapping[str, Report]) -> dict[str, Any]:
    return {
        "citations": [
            CitationOut.from_citation(c) for c in answer.citations
        ],
        "passages": [Passage.from_hit(h, reports) for h in answer.passages],
        "answerable": answer.answerable,
        "composer_used": answer.composer,
        "retrieval_query": turn.retrieval_query,
        "warnings": list(answer.warnings),
        "took_ms": turn.took_ms(),
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


def _stream_answer(engine: QAEngine, turn: _Turn) -> Iterator[str]:
    """SSE events: role, content deltas, the source list, a last chunk with the citations."""
    composer, warnings = _select_composer(engine, turn.composer)
    model = model_id(composer.name)
    yield _sse(_chunk(turn, model, Delta(role="assistant", content="")))
    streamed = ""
    try:
        if isinstance(composer, StreamingComposer) and composer.name != EXTRACTIVE:
            answer: Answer | None = None
            hits = engine.search(turn.retrieval_query, turn.top_k)
            try:
                for item in composer.stream(turn.retrieval_query, hits, engine.reports):
                    if isinstance(item, Answer):
                        answer = item
                    elif item:
                        streamed += item
                        yield _sse(_chunk(turn, model, Delta(content=item)))
                if answer is None:
                    raise RuntimeError(f"composer '{composer.name}' ended without an answer")
            except Exception:
                if streamed:
                    raise
                log.exception("composer %s failed; falling back to extractive", composer.name)
                warnings.append(f"composer '{composer.name}' failed; used '{EXTRACTIVE}'")
                answer = engine.composers[EXTRACTIVE].compose(
                    turn.retrieval_query, hits, engine.reports
                )
                model = model_id(EXTRACTIVE)
            engine._check_citations(answer)
        else:
            answer = engine.ask(turn.retrieval_query, turn.top_k, composer.name)
        if warnings:
            answer = dataclasses.replace(answer, warnings=(*warnings, *answer.warnings))
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
        yield _sse(_chunk(turn, model, Delta(), answer=content, **extras))
    except Exception as exc:
        log.exception("chat completion stream failed")
        error = {"error": {"code": "internal_error", "message": f"answer failed: {exc}"}}
        yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _resolve_turn(body: ChatCompletionRequest, engine: QAEngine, settings: Settings) -> _Turn:
    started = time.perf_counter()
    user_turns = body.user_texts
    question = user_turns[-1]
    top_k = enforce_limits(settings, "messages", question, body.top_k, settings.ask_top_k)
    retrieval_query = resolve_question(user_turns, _known_places(engine))
    if retrieval_query != question:
        log.info("follow-up %r resolved to %r", question, retrieval_query)
    composer = composer_for_model(body.model) or settings.composer
    return _Turn(body, question, retrieval_query, composer, top_k, started)


# OpenAPI 3.1: the schema of a text/event-stream response describes one event.
_SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": "A JSON `chat.completion.chunk` (the last one, with finish_reason "
            '"stop", also carries `answer`, `citations` and `passages`), a JSON `{"error": …}` '
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
        **error_responses(401, 422, 503),
    },
    summary="Answer the latest user message (OpenAI Chat Completions format)",
)
def chat_completions(
    body: ChatCompletionRequest, engine: EngineDep, settings: SettingsDep
) -> ChatCompletion | StreamingResponse:
    turn = _resolve_turn(body, engine, settings)
    if body.stream:
        return StreamingResponse(
            _stream_answer(engine, turn),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = engine.ask(turn.retrieval_query, turn.top_k, turn.composer)
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
    summary="Models (answer composers) usable as `model` in chat completions",
)
def list_models(settings: SettingsDep) -> ModelList:
    names = [settings.composer] + [c for c in KNOWN_COMPOSERS if c != settings.composer]
    if not settings.llm_configured:
        names = [n for n in names if n != "llm"]
    return ModelList(data=[ModelCard(id=model_id(n), created=_CREATED) for n in names])
