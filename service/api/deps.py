"""What routes depend on: the knowledge base's current engine and the settings, provided through
``Annotated[..., Depends()]`` aliases, and the per-app state they come from."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request

from service.answering.engine import QAEngine
from service.api.errors import ApiError, field_error
from service.api.metrics import Metrics
from service.feedback import AnswerLog, AnswerRecord, FeedbackStore, record_answer
from service.jobs import JobStore
from service.kb import KnowledgeBase
from service.kbs import NAME_PATTERN
from zhiwen.settings import Settings

if TYPE_CHECKING:
    from service.kbs import KnowledgeBases

log = logging.getLogger(__name__)


@dataclass
class AppState:
    """Per-app state: the knowledge base once loaded (None until then; ``reason`` says why)."""

    settings: Settings
    metrics: Metrics
    kb: KnowledgeBase | None = None  # the default knowledge base
    kbs: KnowledgeBases | None = None  # every knowledge base, by name
    reason: str = "index is loading"
    loading: bool = True
    # feedback (service.feedback): the recent answers by id, and the store (opened in lifespan;
    # None with ``feedback_reason`` saying why when it could not be opened)
    answers: AnswerLog = field(default_factory=lambda: AnswerLog(1))
    feedback: FeedbackStore | None = None
    feedback_reason: str = "feedback storage is not open yet"
    jobs: JobStore | None = None  # upload jobs (service.jobs), set when the app is made

    def remember(
        self, answer_id: str, question: str, text: str, answerable: bool | None,
        citations: Iterable[object], engine: QAEngine, kb: str,
    ) -> AnswerRecord:
        """Keep an answer by its id with the knowledge base ``kb`` that gave it, so feedback can
        name it (and only feedback on that knowledge base finds it)."""
        return record_answer(self.answers, answer_id, question, text, answerable, citations,
                             index_version(engine), kb)

    @property
    def engine(self) -> QAEngine | None:
        """The engine new requests use: the knowledge base's current one. Take it once per
        request; a live index change replaces it."""
        return self.kb.engine if self.kb is not None else None

    @property
    def not_ready_code(self) -> str:
        """``loading`` (retry soon) or ``index_unavailable`` (loading failed: see the reason)."""
        return "loading" if self.loading else "index_unavailable"


# -- dependencies -----------------------------------------------------------------------------
# ``async`` because they only read memory: FastAPI runs a plain ``def`` dependency in its threadpool,
# one hand-off per dependency and request (measured in the latency benchmark's stage split).


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.zhiwen
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_app_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


KB_PATTERN = NAME_PATTERN
KbName = Annotated[str | None, Query(pattern=KB_PATTERN, max_length=40,
                                     description="Knowledge base (GET /v1/kbs); default: `default`.")]


async def select_kb(state: StateDep, kb: KbName = None) -> KnowledgeBase:
    """The knowledge base a request names (``?kb=``), ready to answer (see :func:`knowledge_base`)."""
    return knowledge_base(state, kb or "default")


def knowledge_base(state: AppState, name: str) -> KnowledgeBase:
    """Knowledge base ``name``, ready to answer: 404 for a name listed nowhere, 503 ``loading``
    (with Retry-After, naming it) for one still being opened — the others answer meanwhile —,
    503 ``index_unavailable`` for one that could not be opened."""
    kbs = state.kbs
    if kbs is None:  # the model is not loaded yet (or failed to)
        if state.kb is not None and name == "default":
            return state.kb
        raise ApiError(503, state.not_ready_code, state.reason, headers={"Retry-After": "5"})
    found = kbs.get(name)
    if found is None:
        status = kbs.state(name)
        if status is None:
            raise ApiError(404, "not_found", f"unknown knowledge base: {name} (GET /v1/kbs lists them)")
        what, reason = status
        if what == "loading":
            raise ApiError(503, "loading", reason, headers={"Retry-After": "5"})
        if what == "deleting":
            raise ApiError(404, "not_found", reason)
        raise ApiError(503, "index_unavailable", reason, headers={"Retry-After": "5"})
    if found.unavailable:
        raise ApiError(503, "backend_unavailable", found.unavailable, headers={"Retry-After": "5"})
    return found


KbDep = Annotated[KnowledgeBase, Depends(select_kb)]


async def require_engine(kb: KbDep) -> QAEngine:
    return kb.engine


EngineDep = Annotated[QAEngine, Depends(require_engine)]


def index_version(engine: QAEngine) -> str:
    """The snapshot an engine answers from (what feedback records as the index version)."""
    from indexer.params import snapshot_version

    return snapshot_version(engine.searcher.meta)


async def require_feedback(state: StateDep) -> FeedbackStore:
    if state.feedback is None:
        raise ApiError(503, "feedback_unavailable", state.feedback_reason,
                       headers={"Retry-After": "5"})
    return state.feedback


FeedbackDep = Annotated[FeedbackStore, Depends(require_feedback)]


def enforce_limits(
    settings: Settings, field_name: str, text: str, top_k: int | None, default_top_k: int
) -> int:
    """Check the limits that come from settings (text length, top_k) and return the top_k to use.

    The static ones (type, non-blank, top_k >= 1) are checked by the request model already.
    """
    if len(text) > settings.max_question_chars:
        raise field_error(
            field_name,
            "string_too_long",
            f"String should have at most {settings.max_question_chars} characters",
        )
    if top_k is not None and top_k > settings.max_top_k:
        raise field_error(
            "top_k",
            "less_than_equal",
            f"Input should be less than or equal to {settings.max_top_k}",
        )
    return top_k if top_k is not None else default_top_k


# -- unknown query parameters -------------------------------------------------------------------
_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _declared_query(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared_query(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter an API route does not take (a typo, as unknown body fields
    are): ``?kb=`` misspelt must not silently answer from the default knowledge base."""
    route = request.scope.get("route")
    if route is None or not request.query_params or not request.url.path.startswith("/v1/"):
        return
    known = _QUERY_NAMES.get(id(route))
    if known is None:
        dependant = getattr(route, "dependant", None)
        # kb: every /v1 route's key check reads it (feedback and models too, which take no engine)
        known = frozenset(_declared_query(dependant) if dependant is not None else ()) | {"kb"}
        _QUERY_NAMES[id(route)] = known
    for name in request.query_params:
        if name not in known:
            raise field_error(name, "extra_forbidden", f"unknown query parameter {name[:40]!r}",
                              location="query")
