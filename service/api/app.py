"""The FastAPI application: ``create_app(settings)`` assembles state, middleware and routers.

Run with ``zhiwen serve`` or ``uvicorn service.api.app:create_app --factory``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.answering.engine import QAEngine
from service.api.cors import install_cors
from service.api.deps import AppState, reject_unknown_query
from service.api.errors import error_response, install_error_handlers
from service.api.metrics import Metrics, MetricsMiddleware
from service.api.routes import ask, chat, documents, faq, feedback, health, jobs, kbs, search, web
from service.api.schemas import AskRequest, SearchRequest
from service.api.schemas.feedback import FeedbackCorrection, FeedbackRequest
from service.feedback import AnswerLog
from service.jobs import JobStore
from service.kb import KnowledgeBase, connect_default, load_model, open_knowledge_base
from service.kbs import KnowledgeBases
from zhiwen.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
知问 answers questions over Chinese reports. Every answer sentence ends with [n] citations; each
citation names the report and the exact span (`start`/`end` offsets into the report's original
text, as returned by `GET /v1/documents/{doc_id}`). Errors are `{"error": {"code", "message"}}`.
"""


def _version() -> str:
    try:
        return version("zhiwen")
    except PackageNotFoundError:
        return "0.0.0"


def _load_failure(exc: Exception) -> str:
    """What /readyz says when loading failed: the message of an expected failure (missing or
    corrupt index, model not found), else the exception, logged with its traceback."""
    try:
        from embeddings import ModelNotFoundError
        from indexer.errors import BackendUnavailable, IndexLoadError

        expected: tuple[type[Exception], ...] = (IndexLoadError, ModelNotFoundError, BackendUnavailable)
    except ImportError:
        expected = ()
    if isinstance(exc, expected):
        log.error("index not loaded: %s", exc)
        return str(exc) or type(exc).__name__
    log.error("index not loaded", exc_info=exc)
    return f"failed to load the index: {type(exc).__name__}: {exc}"


async def _load(state: AppState) -> None:
    """Load the model, then open each knowledge base in its own thread, off the event loop; on
    failure keep serving and report why in /readyz.

    A base rolling forward a long interrupted change (after a kill during a large upload) keeps
    only itself at 503 ``loading``: ``default`` and the others serve as soon as they are open,
    and GET /v1/kbs lists it as ``loading``. /readyz and the ``zhiwen_index_*`` metrics are about
    ``default``."""
    settings = state.settings
    log.info("loading model %s and the index (%s backend)", settings.model, settings.backend)
    metrics = state.metrics

    def published(engine: QAEngine) -> None:
        metrics.index_documents.set(len(engine.searcher.reports))
        metrics.index_chunks.set(len(engine.searcher.chunks))

    try:
        # a missing or unreadable default index (or a Milvus that does not answer) fails before
        # the model loads
        backend = await asyncio.to_thread(connect_default, settings)
        embedder = await asyncio.to_thread(load_model, settings)
    except Exception as exc:
        state.reason = _load_failure(exc)
        state.loading = False
        return
    kbs = KnowledgeBases(settings, embedder=embedder)
    named = await asyncio.to_thread(kbs.found)
    state.kbs = kbs  # from here each knowledge base answers as soon as it is open

    async def open_default() -> None:
        try:
            # load + verify + roll forward interrupted index changes
            kb = await asyncio.to_thread(open_knowledge_base, settings, published, embedder, backend)
        except Exception as exc:
            state.reason = _load_failure(exc)
            state.loading = False
            kbs.set_default(None, state.reason)
            return
        kbs.set_default(kb)
        _ready(state, kb)

    await asyncio.gather(open_default(), *(asyncio.to_thread(kbs.open_named, n) for n in named))


def _ready(state: AppState, kb: KnowledgeBase) -> None:
    state.kb = kb
    state.reason = ""
    state.loading = False
    state.metrics.index_ready.set(1)
    state.metrics.index_documents.set(len(kb.current.reports))
    state.metrics.index_chunks.set(len(kb.current.chunks))
    log.info("ready: %d reports, %d passages", len(kb.current.reports), len(kb.current.chunks))


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start loading the model and index once, in the background, so /healthz answers at once
    and /readyz says 503 (with the reason) until the index is there."""
    state: AppState = app.state.zhiwen
    _open_feedback(state)
    task = asyncio.create_task(_load(state), name="zhiwen-load")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if state.kbs is not None:  # stop the snapshot watchers
            state.kbs.close()
        elif state.kb is not None:
            state.kb.close()
        if state.feedback is not None:
            state.feedback.close()


def _open_feedback(state: AppState) -> None:
    """Open the feedback database; if it cannot be, the rest serves and /v1/feedback says why."""
    import sqlite3

    from service.feedback import FeedbackStore

    path = state.settings.feedback_db
    try:
        state.feedback = FeedbackStore.open(path)
    except (OSError, sqlite3.Error) as exc:
        state.feedback_reason = f"feedback storage {path} cannot be opened: {exc}"
        log.error("%s", state.feedback_reason)


def _document_unknown_kb(schema: dict[str, Any]) -> None:
    """Every operation that takes ``?kb=`` may answer 404 for a knowledge base that does not exist."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            if any(p.get("name") == "kb" and p.get("in") == "query" for p in operation.get("parameters", [])):
                operation.setdefault("responses", {}).setdefault("404", {
                    "description": "Not Found (an unknown knowledge base)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                })


def _document_limits(schema: dict[str, Any], settings: Settings) -> None:
    """Write the limits that come from settings into the OpenAPI schema, so clients (and
    schemathesis) see the same bounds the routes enforce."""
    components = schema.get("components", {}).get("schemas", {})
    for model, text_field, default in (
        (SearchRequest.__name__, "query", settings.default_top_k),
        (AskRequest.__name__, "question", settings.ask_top_k),
    ):
        properties = components.get(model, {}).get("properties", {})
        if text_field in properties:
            properties[text_field]["maxLength"] = settings.max_question_chars
        top_k = properties.get("top_k")
        if top_k is None:
            continue
        for branch in top_k.get("anyOf", [top_k]):
            if branch.get("type") == "integer":
                branch["maximum"] = settings.max_top_k
        top_k["description"] = f"How many passages (1..{settings.max_top_k}; default {default})."
    for model, fields in (
        (FeedbackRequest.__name__, {"question": settings.max_question_chars,
                                    "answer": settings.max_feedback_chars,
                                    "comment": settings.max_feedback_chars}),
        (FeedbackCorrection.__name__, {"answer": settings.max_feedback_chars,
                                       "quote": settings.max_feedback_chars}),
    ):
        properties = components.get(model, {}).get("properties", {})
        for name, limit in fields.items():
            prop = properties.get(name, {})
            for branch in prop.get("anyOf", [prop]):
                if branch.get("type") == "string":
                    branch["maxLength"] = limit
    limits = (
        f" Limits per report: .txt/.md/.html (and JSON text) up to {settings.max_text_bytes:,} "
        f"bytes; .docx/.pdf/images up to {settings.max_file_bytes:,} bytes; PDFs up to "
        f"{settings.max_pdf_pages} pages; images (and scanned pages) up to "
        f"{settings.max_image_pixels:,} pixels; OCR {'on' if settings.ocr else 'off'}. "
        "Over a limit: 413 naming the file and the limit, nothing stored."
    )
    for path, method in (("/v1/documents", "post"), ("/v1/documents/{doc_id}", "put")):
        operation = schema.get("paths", {}).get(path, {}).get(method)
        if operation is not None:
            operation["description"] = operation.get("description", "") + limits


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with the JSON 413 every other error has.

    A declared Content-Length is checked before reading; a body without one is counted as it
    streams in. (FastAPI's own ``max_body_size`` answers a declared oversize body in plain text.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes  # report uploads; their readers check each format's limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("method") in ("POST", "PUT") and scope.get("path", "").startswith(
            "/v1/documents")
        limit = self.upload_bytes if upload else self.max_bytes
        message = f"request body over {limit} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await error_response(413, "payload_too_large", message)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    # raised while a route reads its body: the HTTPException handler answers
                    raise HTTPException(413, message)
            return msg

        await self.app(scope, limited_receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Assemble the app. The model and index load in ``lifespan``, not here, so this is cheap."""
    settings = settings or get_settings()
    state = AppState(settings=settings, metrics=Metrics(),
                     answers=AnswerLog(settings.answer_log_size), jobs=JobStore(settings.jobs_dir))
    app = FastAPI(
        dependencies=[Depends(reject_unknown_query)],
        title="知问 zhiwen",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs: service.api.routes.web, from the installed package (no CDN)
        redoc_url=None,  # none: ReDoc's page fetches its logo from a CDN
    )
    app.state.zhiwen = state
    install_error_handlers(app)

    for module in (health, search, ask, documents, jobs, kbs, faq, chat, feedback, web):
        app.include_router(module.router)

    install_cors(app, settings)  # ZHIWEN_CORS_ORIGINS; none listed: every preflight is refused
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes,
                       upload_bytes=settings.max_upload_body_bytes)
    # added last = outermost: it also times CORS preflights and error responses
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)

    _document_limits(app.openapi(), settings)
    _document_unknown_kb(app.openapi())
    return app
