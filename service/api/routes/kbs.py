"""Knowledge bases: ``GET /v1/kbs`` lists them; ``POST /v1/kbs/{name}`` creates one with its first
report (the body of ``POST /v1/documents``); ``DELETE /v1/kbs/{name}`` removes one. Creating and
deleting need a ``ZHIWEN_API_KEYS`` key (scoped keys only use knowledge bases). Every other route
takes ``?kb=<name>``.

The listing shows a caller only what it may read (``auth.readable_kbs``): a scoped key sees the
knowledge bases it names, a global key all; with reads open a caller without a key sees all (it
may read them all). Each entry says whether it is ``ready``, ``loading`` (being opened on start,
e.g. rolling forward an interrupted change: its routes answer 503 ``loading`` meanwhile),
``deleting`` or ``unavailable`` (could not be opened; ``reason`` says why)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from indexer.errors import NothingToIndex, WriterBusy
from service.api.auth import AdminKey, readable_kbs
from service.api.changes import api_error, body_doc, new_report
from service.api.deps import KB_PATTERN, SettingsDep, StateDep
from service.api.errors import ApiError, error_responses
from service.api.schemas.documents import DocumentIn
from service.kbs import KnowledgeBaseError, KnowledgeBases

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["knowledge bases"])

KbPath = Annotated[str, Path(pattern=KB_PATTERN, max_length=40, description="Knowledge base name.")]


class KbInfo(BaseModel):
    name: str
    reports: int | None = None  # (None unless ready)
    chunks: int | None = None
    state: Literal["ready", "loading", "deleting", "unavailable"] = "ready"
    reason: str | None = None  # why it is not ready


class KbList(BaseModel):
    kbs: list[KbInfo]


def _kbs(state: StateDep) -> KnowledgeBases:
    if state.kbs is None:
        raise ApiError(503, state.not_ready_code, state.reason, headers={"Retry-After": "5"})
    return state.kbs


def _info(kbs: KnowledgeBases, name: str) -> KbInfo:
    kb = kbs.get(name)
    status = kbs.state(name)
    if kb is None or status is None or status[0] != "ready":
        what, reason = status or ("unavailable", f"knowledge base {name!r} is gone")
        return KbInfo(name=name, state=what, reason=reason)
    current = kb.current
    return KbInfo(name=name, reports=len(current.reports), chunks=len(current.chunks))


@router.get("/kbs", summary="The knowledge bases the caller may read",
            description="A scoped key sees only the knowledge bases it may read; a ZHIWEN_API_KEYS key "
            "all; without a key, all while reads are open (401 when they need a key).",
            responses=error_responses(401, 403, 503))
def list_kbs(request: Request, state: StateDep, settings: SettingsDep) -> KbList:
    may_read = readable_kbs(request, settings)
    kbs = _kbs(state)
    return KbList(kbs=[_info(kbs, n) for n in kbs.names() if may_read(n)])


@router.post(
    "/kbs/{name}",
    operation_id="create_kb",
    summary="Create a knowledge base with its first report",
    description="The body is the one `POST /v1/documents` takes (JSON or a report file). Needs a "
    "ZHIWEN_API_KEYS key.",
    status_code=201,
    responses=error_responses(401, 403, 409, 413, 415, 422, 503),
    openapi_extra=body_doc(DocumentIn),
    dependencies=[AdminKey],
)
async def create_kb(name: KbPath, request: Request, state: StateDep) -> KbInfo:
    kbs = _kbs(state)
    _, change = await new_report(request)
    try:
        await run_in_threadpool(kbs.create, name, [change])
    except NothingToIndex as exc:
        raise ApiError(422, "validation_error", f"the first report holds no text to index ({exc})") from exc
    except KnowledgeBaseError as exc:
        code = {409: "conflict", 503: "loading"}.get(exc.status, "validation_error")
        raise ApiError(exc.status, code, str(exc)) from exc
    except Exception as exc:
        raise api_error(exc) from exc
    return _info(kbs, name)


@router.delete("/kbs/{name}", operation_id="delete_kb", summary="Delete a knowledge base and its reports",
               responses=error_responses(401, 403, 404, 409, 422, 503), dependencies=[AdminKey])
async def delete_kb(name: KbPath, state: StateDep) -> dict[str, str]:
    kbs = _kbs(state)
    try:
        # refuses its new writes at once, waits (ZHIWEN_WRITE_LOCK_TIMEOUT_S at most) for the one
        # in flight, then removes the folder
        await run_in_threadpool(kbs.delete, name)
    except KnowledgeBaseError as exc:
        raise ApiError(exc.status, "not_found" if exc.status == 404 else "conflict", str(exc)) from exc
    except WriterBusy as exc:
        raise ApiError(409, "write_in_progress", str(exc), headers={"Retry-After": "2"}) from exc
    # its feedback goes with it: a base created again under this name must not inherit another
    # office's questions (nor its remembered answer ids)
    state.answers.forget_kb(name)
    if state.feedback is not None:
        try:
            removed = await run_in_threadpool(state.feedback.delete_kb, name)
            log.info("knowledge base %s deleted with its %d feedback rows", name, removed)
        except sqlite3.Error as exc:
            log.error("feedback of deleted knowledge base %s not removed: %s", name, exc)
    return {"deleted": name}
