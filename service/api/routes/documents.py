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

import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from indexer.corpus import DOC_ID_PATTERN, default_doc_id, validate_doc_id
from indexer.errors import (
    CorpusUnavailable,
    DocumentConflict,
    DocumentExists,
    DocumentNotFound,
    IndexMismatch,
    InvalidDocument,
    NotText,
    UpdateError,
)
from indexer.journal import WriterBusy
from indexer.update import Delete, Put, UpdateResult
from service.api.auth import ReadKey, WriteKey
from service.api.deps import EngineDep, StateDep
from service.api.errors import ApiError, error_responses, field_error, printable
from service.api.schemas import (
    NO_CONTROLS_PATTERN,
    REPORT_TEXT_PATTERN,
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
from service.kb import KnowledgeBase

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["documents"])

def _kb(state: Any) -> KnowledgeBase:
    kb: KnowledgeBase | None = state.kb
    if kb is None or state.engine is None:
        raise ApiError(503, state.not_ready_code, state.reason, headers={"Retry-After": "5"})
    return kb


def _api_error(exc: Exception) -> ApiError:
    """Domain failures of a change as HTTP errors (nothing was stored for any of them)."""
    from indexer.store import IndexLoadError

    if isinstance(exc, WriterBusy):
        return ApiError(409, "write_in_progress", str(exc), headers={"Retry-After": "2"})
    if isinstance(exc, InvalidDocument):
        return ApiError(422, "validation_error", exc.message)
    if isinstance(exc, NotText):
        return ApiError(415, "unsupported_media_type", exc.message)
    if isinstance(exc, DocumentNotFound):
        return ApiError(404, "not_found", exc.message)
    if isinstance(exc, (DocumentExists, DocumentConflict, IndexMismatch)):
        return ApiError(409, exc.code, exc.message)
    if isinstance(exc, CorpusUnavailable):
        return ApiError(503, exc.code, exc.message)
    if isinstance(exc, UpdateError):
        return ApiError(400, exc.code, exc.message)
    if isinstance(exc, IndexLoadError):
        return ApiError(503, "index_unavailable", f"the index cannot be updated: {exc}")
    raise exc


async def _apply(kb: KnowledgeBase, change: Put | Delete) -> UpdateResult:
    try:
        return await run_in_threadpool(kb.apply, [change])
    except Exception as exc:
        raise _api_error(exc) from exc


def _unsupported(content_type: str) -> ApiError:
    shown = printable(content_type or "none", 60)
    return ApiError(
        415,
        "unsupported_media_type",
        f"content type {shown} is not accepted: send application/json "
        '{"doc_id", "title", "text"} or multipart/form-data with a .txt file in field "file"',
    )


def _check_doc_id(doc_id: str) -> None:
    """422 naming the allowed characters (a path like ``../x`` never becomes a file name)."""
    try:
        validate_doc_id(doc_id)
    except InvalidDocument as exc:
        raise field_error("doc_id", "invalid_doc_id", exc.message) from exc


def _validated(model: type[ReportIn], data: Any) -> ReportIn:
    """``data`` as ``model``, or the 422 naming each field under ``body``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        ) from exc


async def _document_from_request(
    request: Request, model: type[ReportIn]
) -> ReportIn:
    """The uploaded report as ``model`` (``DocumentIn`` for POST, ``ReportIn`` for PUT)."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        raw = await request.body()  # at most ZHIWEN_MAX_UPLOAD_BYTES (app.BodySizeLimit: 413)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(422, "validation_error", f"body: malformed JSON ({exc})") from exc
        if isinstance(data, dict) and isinstance(data.get("doc_id"), str):
            _check_doc_id(data["doc_id"])
        return _validated(model, data)
    if kind == "multipart/form-data":
        return await _document_from_form(request, model)
    raise _unsupported(content_type)


def _form_fields(model: type[ReportIn]) -> tuple[str, ...]:
    return ("file", "doc_id", "title") if "doc_id" in model.model_fields else ("file", "title")


async def _document_from_form(
    request: Request, model: type[ReportIn]
) -> ReportIn:
    """A report sent as a form: ``file`` (a text file, or the text as a plain field), optional
    ``doc_id`` (default: the file's name without its extension) and ``title``. The text is
    decoded and checked as ``zhiwen index`` reads a file: UTF-8 or GBK, not binary, not empty."""
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.formparsers import MultiPartException

    from indexer.reading import ReadError, decode_bytes

    allowed = _form_fields(model)
    try:
        form = await request.form(max_files=1, max_fields=len(allowed))
    except MultiPartException as exc:  # (outside an app; in one Starlette raises HTTPException)
        raise ApiError(422, "validation_error", f"body: malformed form ({exc.message})") from exc
    except StarletteHTTPException as exc:
        if exc.status_code != 400:  # e.g. 413 from the body-size limit while the form streams in
            raise
        raise ApiError(422, "validation_error", f"body: malformed form ({exc.detail})") from exc
    try:
        unknown = sorted({key for key in form if key not in allowed})
        if unknown:
            names = ", ".join(printable(k, 40) for k in unknown)
            raise ApiError(422, "validation_error",
                           f"{names}: unknown form field (expected {', '.join(allowed)})")
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            name = upload.filename or "upload.txt"
            data = await upload.read()  # the whole body is bounded by app.BodySizeLimit
        elif isinstance(upload, str):
            name, data = "upload.txt", upload.encode("utf-8", "surrogateescape")
        else:
            raise ApiError(422, "validation_error", 'file: a text file is required in field "file"')
        base = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        stem, dot, extension = base.rpartition(".")
        if not dot or not stem:  # no extension (a dot file's name is all stem)
            stem, extension = base, ""
        if extension and extension.lower() != "txt":
            raise ApiError(
                415, "unsupported_media_type",
                f"{printable(name)}: only .txt files can be uploaded (UTF-8 or GBK text)",
            )
        try:
            text = decode_bytes(data, name)
        except ReadError as exc:
            status = 422 if "empty" in exc.reason else 415
            code = "validation_error" if status == 422 else "unsupported_media_type"
            raise ApiError(status, code, f"{printable(name)}: {exc.reason}") from exc
        fields: dict[str, str | None] = {"text": text}
        for key in allowed[1:]:
            value = form.get(key)
            fields[key] = value if isinstance(value, str) and value else None
        if fields.get("doc_id") is not None:
            _check_doc_id(str(fields["doc_id"]))
        elif "doc_id" in allowed and isinstance(upload, UploadFile):
            # a name that cannot be an id: one is derived from the text
            with contextlib.suppress(InvalidDocument):
                fields["doc_id"] = validate_doc_id(stem)
        return _validated(model, fields)
    finally:
        await form.close()


def _response(result: UpdateResult, kb: KnowledgeBase, doc_id: str, started: float,
              status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    if result.files:
        source, action = next(iter(result.files.items()))
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
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _body_doc(model: type[ReportIn]) -> dict[str, Any]:
    """The request body of POST (``DocumentIn``) / PUT (``ReportIn``) as the route reads it: JSON
    or a form. Inline: the route reads the body itself, so FastAPI never adds the model to the
    components and a $ref to it would not resolve."""
    form: dict[str, Any] = {
        # text (sent as text/plain, or as a file part): what the route accepts
        "file": {"type": "string", "contentMediaType": "text/plain",
                 "pattern": REPORT_TEXT_PATTERN,
                 "description": "The report: a text file (UTF-8 or GBK; not blank, not binary; "
                 "a file name, if given, ends in .txt or has no extension)."},
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
                        "properties": {k: form[k] for k in _form_fields(model)},
                    }
                },
            },
        }
    }


def _document_links(*operations: str) -> dict[str, Any]:
    """OpenAPI links from a write's response to the operations on the report it names (clients
    and schemathesis' stateful tests follow them)."""
    names = {"get_document": "GetDocument", "put_document": "ReplaceDocument",
             "delete_document": "DeleteDocument"}
    return {
        "links": {
            names[op]: {"operationId": op, "parameters": {"doc_id": "$response.body#/doc_id"}}
            for op in operations
        }
    }


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


@router.post(
    "/documents",
    summary="Add a report",
    description="Store a new report and index it; answers when it is searchable. 409 if the "
    "doc_id exists (use PUT to replace). Needs an API key.",
    status_code=201,
    response_model=DocumentChange,
    operation_id="add_document",
    responses={
        201: _document_links("get_document", "put_document", "delete_document"),
        **{k: v for k, v in _WRITE_ERRORS.items() if k != 404},
    },
    openapi_extra=_body_doc(DocumentIn),
    dependencies=[WriteKey],
)
async def add_document(request: Request, state: StateDep) -> JSONResponse:
    started = time.perf_counter()
    kb = _kb(state)
    document = await _document_from_request(request, DocumentIn)
    assert isinstance(document, DocumentIn)
    doc_id = document.doc_id or default_doc_id(document.text)
    result = await _apply(kb, Put(doc_id, document.text, document.title, must="new"))
    return _response(result, kb, doc_id, started, 201, {"Location": f"/v1/documents/{doc_id}"})


@router.put(
    "/documents/{doc_id}",
    summary="Add or replace a report",
    description="Store the report under `doc_id`, replacing an earlier version; the old text "
    "is no longer cited once this answers. 201 when it was new. Needs an API key.",
    response_model=DocumentChange,
    operation_id="put_document",
    responses={
        200: _document_links("get_document", "delete_document"),
        201: {"model": DocumentChange, "description": "Created",
              **_document_links("get_document", "delete_document")},
        **_WRITE_ERRORS,
    },
    openapi_extra=_body_doc(ReportIn),
    dependencies=[WriteKey],
)
async def put_document(
    doc_id: PathDocId, request: Request, state: StateDep
) -> JSONResponse:
    started = time.perf_counter()
    _check_doc_id(doc_id)
    kb = _kb(state)
    document = await _document_from_request(request, ReportIn)
    result = await _apply(kb, Put(doc_id, document.text, document.title, must="any"))
    created = result.files.get(f"{doc_id}.txt") == "created"
    return _response(result, kb, doc_id, started, 201 if created else 200)


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
async def delete_document(doc_id: PathDocId, state: StateDep) -> JSONResponse:
    started = time.perf_counter()
    _check_doc_id(doc_id)
    kb = _kb(state)
    result = await _apply(kb, Delete(doc_id))
    return _response(result, kb, doc_id, started, 200)


@router.get(
    "/index",
    summary="The live index: version, counts, model, last update",
    response_model=IndexStatus,
    responses=error_responses(401, 403, 503),
    dependencies=[ReadKey],
)
async def index_status(state: StateDep) -> IndexStatus:
    return IndexStatus(**_kb(state).info())
