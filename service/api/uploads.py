"""Reading a report upload from a request: a JSON body or a multipart form, checked the way
``zhiwen index`` reads a file (errors are the API's JSON errors, naming the field)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from indexer.corpus import validate_doc_id
from indexer.errors import InvalidDocument
from service.api.errors import ApiError, field_error, printable
from service.api.schemas.documents import ReportIn

__all__ = ["check_doc_id", "document_from_request", "form_fields"]


def unsupported(content_type: str) -> ApiError:
    shown = printable(content_type or "none", 60)
    return ApiError(
        415,
        "unsupported_media_type",
        f"content type {shown} is not accepted: send application/json "
        '{"doc_id", "title", "text"} or multipart/form-data with a .txt file in field "file"',
    )


def check_doc_id(doc_id: str) -> None:
    """422 naming the allowed characters (a path like ``../x`` never becomes a file name)."""
    try:
        validate_doc_id(doc_id)
    except InvalidDocument as exc:
        raise field_error("doc_id", "invalid_doc_id", exc.message) from exc


def validated(model: type[ReportIn], data: Any) -> ReportIn:
    """``data`` as ``model``, or the 422 naming each field under ``body``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        ) from exc


async def document_from_request(
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
            check_doc_id(data["doc_id"])
        return validated(model, data)
    if kind == "multipart/form-data":
        return await _document_from_form(request, model)
    raise unsupported(content_type)


def form_fields(model: type[ReportIn]) -> tuple[str, ...]:
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

    allowed = form_fields(model)
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
            check_doc_id(str(fields["doc_id"]))
        elif "doc_id" in allowed and isinstance(upload, UploadFile):
            # a name that cannot be an id: one is derived from the text
            with contextlib.suppress(InvalidDocument):
                fields["doc_id"] = validate_doc_id(stem)
        return validated(model, fields)
    finally:
        await form.close()
