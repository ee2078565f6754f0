"""Reading a report upload from a request: a JSON body or a multipart form, checked the way
``zhiwen index`` reads a file (errors are the API's JSON errors, naming the field)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from indexer.errors import InvalidDocument
from indexer.ingest.corpus import doc_id_from_name, validate_doc_id
from indexer.ingest.readers import SUFFIXES, sniff
from service.api.errors import ApiError, field_error, printable
from service.api.schemas.documents import ReportIn

__all__ = ["FileUpload", "check_doc_id", "document_from_request", "form_fields"]


def unsupported(content_type: str) -> ApiError:
    shown = printable(content_type or "none", 60)
    return ApiError(
        415,
        "unsupported_media_type",
        f"content type {shown} is not accepted: send application/json "
        '{"doc_id", "title", "text"} or multipart/form-data with a report file (.txt .md .html .docx .pdf .png .jpg) in field "file"',
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
) -> ReportIn | FileUpload:
    """The uploaded report as ``model`` (``DocumentIn`` for POST, ``ReportIn`` for PUT), or a
    :class:`FileUpload` for a file in another format than plain text."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        raw = await request.body()  # bounded by app.BodySizeLimit; the text's limit: prepare()
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


@dataclass(frozen=True)
class FileUpload:
    """A report uploaded as a file in a format other than plain text (Word, PDF, image, web page,
    Markdown): stored as it is, read by the indexer's reader for its format."""

    doc_id: str | None
    data: bytes
    suffix: str


def _file_upload(form: Any, allowed: tuple[str, ...], upload: UploadFile, stem: str, kind: str,
                 data: bytes) -> FileUpload:
    if isinstance(form.get("title"), str) and form.get("title"):
        raise field_error("title", "invalid_field", "title goes with text uploads only; a file's "
                          "title is read from the file")
    suffix = {"pdf": ".pdf", "docx": ".docx", "ole": ".docx", "md": ".md", "html": ".html"}.get(kind)
    if suffix is None:  # an image
        suffix = ".png" if data.startswith(b"\x89PNG") else ".jpg"
    doc_id = form.get("doc_id") if "doc_id" in allowed else None
    if isinstance(doc_id, str) and doc_id:
        check_doc_id(doc_id)
    else:
        doc_id = doc_id_from_name(stem)
    return FileUpload(doc_id, data, suffix)


def form_fields(model: type[ReportIn]) -> tuple[str, ...]:
    return ("file", "doc_id", "title") if "doc_id" in model.model_fields else ("file", "title")


async def _document_from_form(
    request: Request, model: type[ReportIn]
) -> ReportIn | FileUpload:
    """A report sent as a form: ``file`` (a report file in any format the indexer reads, told by
    its bytes; or the text as a plain field), optional ``doc_id`` (default: the file's name
    without its extension) and ``title`` (text only). Text is decoded and checked as ``zhiwen
    index`` reads a file: UTF-8 or GBK, not binary, not empty; other formats are read by the
    indexer's reader before anything is stored."""
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.formparsers import MultiPartException

    from indexer.ingest.decode import OverLimit, ReadError, decode_bytes

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
        if extension and f".{extension.lower()}" not in SUFFIXES:
            raise ApiError(
                415, "unsupported_media_type",
                f"{printable(name)}: not a report format; upload {' '.join(sorted(SUFFIXES))}",
            )
        kind = sniff(data, base)
        settings = request.app.state.zhiwen.settings
        from indexer.configure import reader_limits

        try:
            reader_limits(settings).check_size(len(data), "docx" if kind == "ole" else kind, base)
        except OverLimit as exc:
            raise ApiError(413, "payload_too_large", f"{printable(name)}: {exc.reason}") from exc
        if isinstance(upload, UploadFile) and kind != "txt":
            return _file_upload(form, allowed, upload, stem, kind, data)
        try:
            text = decode_bytes(data, name)
        except ReadError as exc:
            if "empty" in exc.reason:  # the field named, so pages can say what is wrong
                raise field_error("file", "empty_file", f"{printable(name)}: {exc.reason}") from exc
            raise ApiError(415, "unsupported_media_type", f"{printable(name)}: {exc.reason}") from exc
        fields: dict[str, str | None] = {"text": text}
        for key in allowed[1:]:
            value = form.get(key)
            fields[key] = value if isinstance(value, str) and value else None
        if fields.get("doc_id") is not None:
            check_doc_id(str(fields["doc_id"]))
        elif "doc_id" in allowed and isinstance(upload, UploadFile):
            # the file's name is its id (a name with nothing usable: one is derived from the text)
            fields["doc_id"] = doc_id_from_name(stem)
        return validated(model, fields)
    finally:
        await form.close()
