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
import time
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from indexer.changes import Delete, Put, UpdateResult
from service.api.auth import ReadKey, WriteKey
from service.api.changes import (
    apply_change,
    body_doc,
    change_response,
    new_report,
    start_job,
    wants_job,
)
from service.api.deps import EngineDep, KbDep, SettingsDep
from service.api.errors import ApiError, error_responses, printable
from service.api.schemas.documents import (
    ChunkOut,
    DocumentChange,
    DocumentChunks,
    DocumentDetail,
    DocumentIn,
    DocumentList,
    DocumentSummary,
    IndexStatus,
    PathDocId,
    ReportIn,
)
from service.api.uploads import FileUpload, check_doc_id, document_from_request

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["documents"])



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
    openapi_extra=body_doc(DocumentIn),
    dependencies=[WriteKey],
)
async def add_document(request: Request, kb: KbDep) -> JSONResponse:
    started = time.perf_counter()
    doc_id, change = await new_report(request)
    if wants_job(request):
        return start_job(request, kb, doc_id, change, started, lambda _result: 201)
    result = await apply_change(kb, change)
    return change_response(result, kb, doc_id, started, 201, {"Location": f"/v1/documents/{quote(doc_id, safe='')}"})


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
    openapi_extra=body_doc(ReportIn),
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
    result = await apply_change(kb, change)
    return change_response(result, kb, doc_id, started, _put_status(result))


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
    result = await apply_change(kb, Delete(doc_id))
    return change_response(result, kb, doc_id, started, 200)


@router.get(
    "/index",
    summary="The live index: version, counts, model, last update",
    response_model=IndexStatus,
    responses=error_responses(401, 403, 503),
    dependencies=[ReadKey],
)
async def index_status(kb: KbDep, settings: SettingsDep) -> IndexStatus:
    return IndexStatus(**kb.info(), max_question_chars=settings.max_question_chars)
