"""Knowledge bases: ``GET /v1/kbs`` lists them; ``POST /v1/kbs/{name}`` creates one with its first
report (the body of ``POST /v1/documents``); ``DELETE /v1/kbs/{name}`` removes one. Creating and
deleting need a ``ZHIWEN_API_KEYS`` key (scoped keys only use knowledge bases). Every other route
takes ``?kb=<name>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from indexer.errors import NothingToIndex
from service.api.auth import AdminKey, ReadKey
from service.api.deps import KB_PATTERN, StateDep
from service.api.errors import ApiError, error_responses
from service.api.routes.documents import _api_error, _body_doc, new_report
from service.api.schemas.documents import DocumentIn
from service.kbs import KnowledgeBaseError, KnowledgeBases

router = APIRouter(prefix="/v1", tags=["knowledge bases"])

KbPath = Annotated[str, Path(pattern=KB_PATTERN, max_length=40, description="Knowledge base name.")]


class KbInfo(BaseModel):
    name: str
    reports: int
    chunks: int


class KbList(BaseModel):
    kbs: list[KbInfo]


def _kbs(state: StateDep) -> KnowledgeBases:
    if state.kbs is None:
        raise ApiError(503, state.not_ready_code, state.reason, headers={"Retry-After": "5"})
    return state.kbs


def _info(kbs: KnowledgeBases, name: str) -> KbInfo:
    kb = kbs.get(name)
    assert kb is not None
    return KbInfo(name=name, reports=len(kb.current.reports), chunks=len(kb.current.chunks))


@router.get("/kbs", summary="The knowledge bases", responses=error_responses(401, 403, 503), dependencies=[ReadKey])
def list_kbs(state: StateDep) -> KbList:
    kbs = _kbs(state)
    return KbList(kbs=[_info(kbs, n) for n in kbs.names()])


@router.post(
    "/kbs/{name}",
    operation_id="create_kb",
    summary="Create a knowledge base with its first report",
    description="The body is the one `POST /v1/documents` takes (JSON or a report file). Needs a "
    "ZHIWEN_API_KEYS key.",
    status_code=201,
    responses=error_responses(401, 403, 409, 413, 415, 422, 503),
    openapi_extra=_body_doc(DocumentIn),
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
        raise ApiError(exc.status, "conflict" if exc.status == 409 else "validation_error", str(exc)) from exc
    except Exception as exc:
        raise _api_error(exc) from exc
    return _info(kbs, name)


@router.delete("/kbs/{name}", operation_id="delete_kb", summary="Delete a knowledge base and its reports",
               responses=error_responses(401, 403, 404, 409, 422, 503), dependencies=[AdminKey])
async def delete_kb(name: KbPath, state: StateDep) -> dict[str, str]:
    kbs = _kbs(state)
    try:
        await run_in_threadpool(kbs.delete, name)
    except KnowledgeBaseError as exc:
        raise ApiError(exc.status, "not_found" if exc.status == 404 else "conflict", str(exc)) from exc
    return {"deleted": name}
