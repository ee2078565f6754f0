"""A change to a knowledge base over HTTP, for every route that makes one (documents, knowledge
bases): the failures as HTTP errors (nothing was stored for any of them), the body that says what
changed, and ``Prefer: respond-async``, which runs the change as a job (:mod:`service.jobs`) and
answers 202 at once."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from indexer.changes import Delete, Put, UpdateResult
from indexer.errors import (
    CorpusUnavailable,
    DocumentConflict,
    DocumentExists,
    DocumentNotFound,
    IndexMismatch,
    InvalidDocument,
    NotText,
    TooLarge,
    UpdateError,
    WriterBusy,
)
from indexer.ingest.corpus import DOC_ID_PATTERN, default_doc_id
from service.api.errors import ApiError
from service.api.routes.jobs import job_body
from service.api.schemas import NO_CONTROLS_PATTERN, REPORT_TEXT_PATTERN
from service.api.schemas.documents import (
    MAX_TITLE_CHARS,
    ChunkChanges,
    DocumentChange,
    DocumentIn,
    IndexStatus,
    ReportChanges,
    ReportIn,
)
from service.api.uploads import FileUpload, document_from_request, form_fields
from service.kb import KnowledgeBase, KnowledgeBaseGone

log = logging.getLogger(__name__)


def api_error(exc: Exception) -> ApiError:
    """Domain failures of a change as HTTP errors (nothing was stored for any of them)."""
    from indexer.errors import BackendUnavailable, IndexLoadError

    if isinstance(exc, WriterBusy):
        return ApiError(409, "write_in_progress", str(exc), headers={"Retry-After": "2"})
    if isinstance(exc, InvalidDocument):
        return ApiError(422, "validation_error", exc.message)
    if isinstance(exc, NotText):
        return ApiError(415, "unsupported_media_type", exc.message)
    if isinstance(exc, TooLarge):
        return ApiError(413, "payload_too_large", exc.message)
    if isinstance(exc, DocumentNotFound):
        return ApiError(404, "not_found", exc.message)
    if isinstance(exc, (DocumentExists, DocumentConflict, IndexMismatch)):
        return ApiError(409, exc.code, exc.message)
    if isinstance(exc, CorpusUnavailable):
        return ApiError(503, exc.code, exc.message)
    if isinstance(exc, UpdateError):
        return ApiError(400, exc.code, exc.message)
    if isinstance(exc, BackendUnavailable):
        return ApiError(503, "backend_unavailable", str(exc), headers={"Retry-After": "5"})
    if isinstance(exc, IndexLoadError):
        return ApiError(503, "index_unavailable", f"the index cannot be updated: {exc}")
    raise exc


async def new_report(request: Request) -> tuple[str, Put]:
    """The report a POST body holds (JSON or a file), as a change that must not replace one."""
    document = await document_from_request(request, DocumentIn)
    if isinstance(document, FileUpload):
        doc_id = document.doc_id or default_doc_id(document.data.hex())
        return doc_id, Put(doc_id, must="new", data=document.data, suffix=document.suffix)
    assert isinstance(document, DocumentIn)
    doc_id = document.doc_id or default_doc_id(document.text)
    return doc_id, Put(doc_id, document.text, document.title, must="new")


def change_error(exc: Exception) -> ApiError:
    """A failed change as its HTTP error (unknown exceptions re-raised by ``api_error``)."""
    if isinstance(exc, KnowledgeBaseGone):  # DELETE /v1/kbs/{name} raced this write: 409 while, 404 after
        return ApiError(exc.status, "conflict" if exc.status == 409 else "not_found", exc.message)
    return api_error(exc)


async def apply_change(kb: KnowledgeBase, change: Put | Delete) -> UpdateResult:
    try:
        return await run_in_threadpool(kb.apply, [change])
    except Exception as exc:
        raise change_error(exc) from exc


def change_response(result: UpdateResult, kb: KnowledgeBase, doc_id: str, started: float,
              status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    body = change_body(result, kb, doc_id, started)
    return JSONResponse(body, status_code=status, headers=headers)


def change_body(result: UpdateResult, kb: KnowledgeBase, doc_id: str,
                 started: float) -> dict[str, Any]:
    if result.files:
        # a report stored anew in another format: its new file was created, the old one deleted
        actions = set(result.files.values())
        source, action = next(((n, a) for n, a in result.files.items() if a != "deleted"),
                              next(iter(result.files.items())))
        if action == "created" and "deleted" in actions:
            action = "replaced"
    else:
        source, action = f"{doc_id}.txt", "unchanged"
    body = DocumentChange(
        doc_id=doc_id,
        action=action,  # type: ignore[arg-type]
        source=source,
        reports=ReportChanges(added=list(result.reports_added), updated=list(result.reports_updated),
                              removed=list(result.reports_removed)),
        chunks=ChunkChanges(added=result.chunks_added, removed=result.chunks_removed,
                            embedded=result.embedded, reused=result.reused),
        index=IndexStatus(**kb.info()),
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return body.model_dump(mode="json")


# -- jobs: ``Prefer: respond-async`` answers 202 with a job (service.jobs) -------------------------
_RESPOND_ASYNC = re.compile(r"(?:^|[,;\s])respond-async(?:$|[,;\s])", re.IGNORECASE)


def wants_job(request: Request) -> bool:
    """Whether the client asked for a job instead of waiting (RFC 7240 ``Prefer: respond-async``)."""
    return bool(_RESPOND_ASYNC.search(request.headers.get("prefer", "")))


def job_failure(exc: Exception) -> tuple[int, str, str]:
    """A job's failure as the synchronous call's status, code and message."""
    try:
        error = change_error(exc)
    except Exception:  # not a domain failure: the job failed on a bug, said as 500
        log.exception("upload job failed")
        return 500, "internal_error", "internal server error"
    return error.status_code, error.code, error.message


def start_job(request: Request, kb: KnowledgeBase, doc_id: str, change: Put,
              started: float, status: Callable[[UpdateResult], int]) -> JSONResponse:
    """Run ``change`` as a job: 202 with its record and ``Location: /v1/jobs/{id}``."""
    jobs = request.app.state.zhiwen.jobs

    def work() -> tuple[int, dict[str, Any]]:
        result = kb.apply([change])
        return status(result), change_body(result, kb, doc_id, started)

    job = jobs.start(kb=request.query_params.get("kb") or "default", doc_id=doc_id, file_name=change.name,
                     data=change.stored_bytes(), work=work, failure=job_failure)
    return JSONResponse(job_body(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def body_doc(model: type[ReportIn]) -> dict[str, Any]:
    """The request body of POST (``DocumentIn``) / PUT (``ReportIn``) as the route reads it: JSON
    or a form. Inline: the route reads the body itself, so FastAPI never adds the model to the
    components and a $ref to it would not resolve."""
    form: dict[str, Any] = {
        # text (sent as text/plain, or as a file part): what the route accepts
        "file": {"type": "string", "contentMediaType": "text/plain",
                 "pattern": REPORT_TEXT_PATTERN,
                 "description": "The report: a file in any report format, told by its bytes "
                 "(.txt .md .html .docx .pdf .png .jpg; GET /v1/index lists them and their "
                 "limits). Described here as its text form: UTF-8 or GBK, not blank, not binary."},
        "doc_id": {"type": "string", "pattern": DOC_ID_PATTERN,
                   "description": "Default: the file's name without extension."},
        "title": {"type": "string", "maxLength": MAX_TITLE_CHARS,
                  "pattern": NO_CONTROLS_PATTERN},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "additionalProperties": False,
                        "properties": {k: form[k] for k in form_fields(model)},
                    }
                },
            },
        }
    }
