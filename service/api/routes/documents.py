"""The reports over HTTP, one router: list and read them, add, replace and delete them, and the
index's status. ``GET /v1/documents[/{doc_id}]`` need a read key when reads do.

``POST /v1/documents`` (JSON ``{doc_id?, title?, text}`` or a multipart ``.txt`` upload),
``PUT /v1/documents/{doc_id}`` (same bodies; creates or replaces), ``DELETE
/v1/documents/{doc_id}``: each stores the change durably in the corpus folder, updates the index
(only the changed report is embedded) and answers once the new snapshot is live, saying what
changed and the new index version. They need an API key (see ``service.api.auth``). ``GET /v1/index``
shows the live index: version, counts, model, last update.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse

from indexer.backends.local.journal import WriterBusy
from indexer.backends.local.update import Delete, Put, UpdateResult
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
)
from indexer.ingest.corpus import DOC_ID_PATTERN, default_doc_id
from service.api.auth import ReadKey, WriteKey
from service.api.deps import EngineDep, KbDep, SettingsDep
from service.api.errors import ApiError, error_responses, printable
from service.api.routes.jobs import job_body
from service.api.schemas import (
    NO_CONTROLS_PATTERN,
    REPORT_TEXT_PATTERN,
    ChunkOut,
    DocumentChunks,
    DocumentDetail,
    DocumentList,
    DocumentSummary,
)
from service.api.schemas.documents import (
    MAX_TITLE_CHARS,
    ChunkChanges,
    DocumentChange,
    DocumentIn,
    IndexStatus,
    PathDocId,
    ReportChanges,
    ReportIn,
)
from service.api.uploads import FileUpload, check_doc_id, document_from_request, form_fields
from service.kb import KnowledgeBase, KnowledgeBaseGone

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["documents"])

def _api_error(exc: Exception) -> ApiError:
    """Domain failures of a change as HTTP errors (nothing was stored for any of them)."""
    from indexer.backends.local.store import IndexLoadError
    from indexer.errors import BackendUnavailable

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


def _change_error(exc: Exception) -> ApiError:
    """A failed change as its HTTP error (unknown exceptions re-raised by ``_api_error``)."""
    if isinstance(exc, KnowledgeBaseGone):  # DELETE /v1/kbs/{name} raced this write: 409 while, 404 after
        return ApiError(exc.status, "conflict" if exc.status == 409 else "not_found", exc.message)
    return _api_error(exc)


async def _apply(kb: KnowledgeBase, change: Put | Delete) -> UpdateResult:
    try:
        return await run_in_threadpool(kb.apply, [change])
    except Exception as exc:
        raise _change_error(exc) from exc


def _response(result: UpdateResult, kb: KnowledgeBase, doc_id: str, started: float,
              status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    body = _change_body(result, kb, doc_id, started)
    return JSONResponse(body, status_code=status, headers=headers)


def _change_body(result: UpdateResult, kb: KnowledgeBase, doc_id: str,
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


def _failure(exc: Exception) -> tuple[int, str, str]:
    """A job's failure as the synchronous call's status, code and message."""
    try:
        error = _change_error(exc)
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
        return status(result), _change_body(result, kb, doc_id, started)

    job = jobs.start(kb=request.query_params.get("kb") or "default", doc_id=doc_id, file_name=change.name,
                     data=change.stored_bytes(), work=work, failure=_failure)
    return JSONResponse(job_body(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def _body_doc(model: type[ReportIn]) -> dict[str, Any]:
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


def _document_links(*operations: str) -> dict[str, Any]:
    """OpenAPI links from a write's response to the operations on the report it names (clients
    and schemathesis' stateful tests follow them)."""
    names = {"get_document": "GetDocument", "get_document_file": "GetDocumentFile",
             "put_document": "ReplaceDocument", "delete_document": "DeleteDocument"}
    return {
        "links": {
            names[op]: {"operationId": op, "parameters": {"doc_id": "$response.body#/doc_id"}}
            for op in operations
        }
    }


# what GET /v1/documents/{doc_id}/file may answer with (indexer.ingest.readers.CONTENT_TYPES, images split)
_FILE_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf", "image/png", "image/jpeg",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "application/octet-stream")

# An original file is whatever a write key uploaded, so it is never active content on this origin
# (issue 36: an uploaded web page's script read the admin's key). Every file response forbids
# sniffing and carries a CSP sandbox: the document gets an opaque origin, runs no script and loads
# nothing (inline styles only, for Chromium's own image view). Chromium 156's PDF viewer still
# shows a PDF under this policy (tests/web/test_original_files.py opens one).
FILE_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
FILE_HEADERS: Final = {
    "Content-Security-Policy": FILE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _file_type(kind: str, head: bytes) -> tuple[str, str]:
    """The media type and disposition of a stored file of the reader's ``kind`` (told by
    ``indexer.ingest.readers.sniff`` from its bytes, the name only ever choosing between text kinds):
    PDF and PNG/JPEG images inline, everything else (web pages, Markdown, text, Word) a download."""
    from indexer.ingest.readers import CONTENT_TYPES

    if kind == "pdf":
        return "application/pdf", "inline"
    if kind == "image":
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return "image/png", "inline"
        if head.startswith(b"\xff\xd8\xff"):
            return "image/jpeg", "inline"
    if kind in ("txt", "md", "html", "docx"):
        return CONTENT_TYPES[kind], "attachment"
    return "application/octet-stream", "attachment"


_WRITE_ERRORS = error_responses(401, 403, 404, 409, 413, 415, 422, 503)


# -- routes -------------------------------------------------------------------------------------
@router.get(
    "/documents",
    summary="List the indexed reports",
    responses=error_responses(401, 403, 503),
    dependencies=[ReadKey],
)
async def list_documents(engine: EngineDep) -> DocumentList:
    reports = sorted(engine.reports.values(), key=lambda r: r.doc_id)
    return DocumentList(
        documents=[DocumentSummary.from_report(r) for r in reports], total=len(reports)
    )


@router.get(
    "/documents/{doc_id}/chunks",
    operation_id="get_document_chunks",
    summary="A report's passages as indexed (chunk preview)",
    responses=error_responses(401, 403, 404, 422, 503),
    dependencies=[ReadKey],
)
async def get_document_chunks(doc_id: PathDocId, engine: EngineDep) -> DocumentChunks:
    if doc_id not in engine.reports:
        raise ApiError(404, "not_found", f"unknown document: {printable(doc_id)}")
    chunks = [engine.searcher.chunks[int(i)] for i in engine.searcher.rows_of([doc_id])]
    return DocumentChunks(doc_id=doc_id, chunks=[
        ChunkOut(chunk_id=c.chunk_id, start=c.start, end=c.end, text=c.text, context=c.context,
                 sentences=len(c.sentences), ocr_confidence=c.ocr_confidence) for c in chunks])


@router.get(
    "/admin",
    summary="Whether the key sent may administer (write); the admin page asks this first",
    responses=error_responses(401, 403, 503),
    dependencies=[WriteKey],
)
async def admin_session(kb: KbDep) -> IndexStatus:
    return IndexStatus(**kb.info())


@router.get(
    "/documents/{doc_id}",
    operation_id="get_document",
    summary="One report: original text and metadata",
    description="Citation and passage offsets (start, end) index into `text`.",
    responses=error_responses(401, 403, 404, 422, 503),
    dependencies=[ReadKey],
)
async def get_document(doc_id: str, engine: EngineDep) -> DocumentDetail:
    report = engine.reports.get(doc_id)
    if report is None:
        raise ApiError(404, "not_found", f"unknown document: {printable(doc_id)}")
    return DocumentDetail.from_report(report)


@router.get(
    "/documents/{doc_id}/file",
    operation_id="get_document_file",
    summary="The original file of a report (Word, PDF, image, web page, Markdown or text)",
    description="Served with the content type its bytes show. PDFs and PNG/JPEG images open in the "
    "browser (a PDF at a citation's page with `#page=N`); web pages, Markdown, text and Word files "
    "are downloads (`Content-Disposition: attachment`). Every file is sent with "
    "`X-Content-Type-Options: nosniff` and a sandboxing Content-Security-Policy, so an uploaded "
    "file never runs script on this origin. Several reports split from one file share it.",
    response_class=FileResponse,
    responses={200: {"description": "The file as it was stored",
                     "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                 for media in _FILE_TYPES}},
               **error_responses(401, 403, 404, 422, 503)},
    dependencies=[ReadKey],
)
async def get_document_file(doc_id: PathDocId, kb: KbDep, engine: EngineDep) -> FileResponse:
    from indexer.ingest.readers import sniff

    report = engine.reports.get(doc_id)
    if report is None:
        raise ApiError(404, "not_found", f"unknown document: {printable(doc_id)}")
    source = str(report.meta.get("source") or "")
    folder = kb.corpus_dir
    if folder is None:
        raise ApiError(404, "not_found", f"the original file of {printable(doc_id)} is not kept: "
                       "on the Milvus backend the index holds the reports' text, not their files")
    corpus = folder.resolve()
    path = (corpus / source).resolve()
    if not source or corpus not in path.parents or not path.is_file():
        raise ApiError(404, "not_found", f"the original file of {printable(doc_id)} is gone "
                       "(removed from the corpus folder since the index was built)")
    with path.open("rb") as fh:
        head = fh.read(2048)
    media, disposition = _file_type(sniff(head, path.name), head)
    return FileResponse(path, media_type=media, filename=path.name, content_disposition_type=disposition,
                        headers=FILE_HEADERS)


@router.post(
    "/documents",
    summary="Add a report",
    description="Store a new report and index it; answers when it is searchable. 409 if the "
    "doc_id exists (use PUT to replace). Needs an API key. With `Prefer: respond-async` it "
    "answers 202 at once with a job to follow at `GET /v1/jobs/{id}` (its stage and progress).",
    status_code=201,
    response_model=DocumentChange,
    operation_id="add_document",
    responses={
        201: _document_links("get_document", "get_document_file", "put_document", "delete_document"),
        **{k: v for k, v in _WRITE_ERRORS.items() if k != 404},
    },
    openapi_extra=_body_doc(DocumentIn),
    dependencies=[WriteKey],
)
async def add_document(request: Request, kb: KbDep) -> JSONResponse:
    started = time.perf_counter()
    doc_id, change = await new_report(request)
    if wants_job(request):
        return start_job(request, kb, doc_id, change, started, lambda _result: 201)
    result = await _apply(kb, change)
    return _response(result, kb, doc_id, started, 201, {"Location": f"/v1/documents/{quote(doc_id, safe='')}"})


@router.put(
    "/documents/{doc_id}",
    summary="Add or replace a report",
    description="Store the report under `doc_id`, replacing an earlier version; the old text "
    "is no longer cited once this answers. 201 when it was new. Needs an API key. With `Prefer: "
    "respond-async`: 202 with a job (`GET /v1/jobs/{id}`).",
    response_model=DocumentChange,
    operation_id="put_document",
    responses={
        200: _document_links("get_document", "get_document_file", "delete_document"),
        201: {"model": DocumentChange, "description": "Created",
              **_document_links("get_document", "get_document_file", "delete_document")},
        **_WRITE_ERRORS,
    },
    openapi_extra=_body_doc(ReportIn),
    dependencies=[WriteKey],
)
async def put_document(
    doc_id: PathDocId, request: Request, kb: KbDep
) -> JSONResponse:
    started = time.perf_counter()
    check_doc_id(doc_id)
    document = await document_from_request(request, ReportIn)
    if isinstance(document, FileUpload):
        change = Put(doc_id, must="any", data=document.data, suffix=document.suffix)
    else:
        change = Put(doc_id, document.text, document.title, must="any")
    if wants_job(request):
        return start_job(request, kb, doc_id, change, started, _put_status)
    result = await _apply(kb, change)
    return _response(result, kb, doc_id, started, _put_status(result))


def _put_status(result: UpdateResult) -> int:
    created = "created" in result.files.values() and "deleted" not in result.files.values()
    return 201 if created else 200


@router.delete(
    "/documents/{doc_id}",
    summary="Delete a report",
    description="Remove the report's file from the corpus and its passages from the index; it "
    "is no longer cited once this answers. Needs an API key.",
    response_model=DocumentChange,
    operation_id="delete_document",
    responses={k: v for k, v in _WRITE_ERRORS.items() if k not in (413, 415)},
    dependencies=[WriteKey],
)
async def delete_document(doc_id: PathDocId, kb: KbDep) -> JSONResponse:
    started = time.perf_counter()
    check_doc_id(doc_id)
    result = await _apply(kb, Delete(doc_id))
    return _response(result, kb, doc_id, started, 200)


@router.get(
    "/index",
    summary="The live index: version, counts, model, last update",
    response_model=IndexStatus,
    responses=error_responses(401, 403, 503),
    dependencies=[ReadKey],
)
async def index_status(kb: KbDep, settings: SettingsDep) -> IndexStatus:
    return IndexStatus(**kb.info(), max_question_chars=settings.max_question_chars)
