"""Every error leaves the service as ``{"error": {"code", "message"}}``, never as a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.schemas.status import ErrorInfo, ErrorResponse, FieldError

log = logging.getLogger(__name__)

# Where FastAPI says an input came from; the field name is what follows.
_SOURCES = {"body", "query", "path", "header", "cookie"}

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


# FastAPI's detail when reading the body failed before JSON parsing (fastapi.routing)
_BODY_PARSE_ERROR = "There was an error parsing the body"


class ApiError(Exception):
    """A domain failure a route turns into an HTTP error with a stable ``code``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorInfo(code=code, message=message, details=list(details)))
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status_code, headers=dict(headers or {})
    )


def field_error(field: str, error_type: str, message: str, location: str = "body") -> RequestValidationError:
    """A 422 for a field (of the body, or ``location``) whose limit is only known at run time."""
    return RequestValidationError(
        [{"type": error_type, "loc": (location, field), "msg": message, "input": None}]
    )


def _field_name(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in _SOURCES:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _describe(error: Mapping[str, Any]) -> FieldError:
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        position = loc[1] if len(loc) > 1 else "?"
        return FieldError(field="body", message=f"malformed JSON: {reason} at position {position}")
    field = _field_name(loc)
    if kind == "missing" and field == "body":
        return FieldError(field="body", message="a JSON object is required")
    return FieldError(field=field, message=str(error.get("msg", "invalid value")))


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # The input itself is never echoed: it may be huge, or not printable at all.
    details = [_describe(e) for e in exc.errors()]
    message = "; ".join(f"{d.field}: {d.message}" for d in details) or "invalid request"
    return error_response(422, "validation_error", message, details)


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and exc.detail == _BODY_PARSE_ERROR:
        # FastAPI's 400 for a body it could not even decode (e.g. not UTF-8): malformed JSON too
        detail = FieldError(field="body", message="malformed JSON: the body could not be decoded")
        return error_response(422, "validation_error", f"body: {detail.message}", [detail])
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else phrase
    code = _CODES.get(status, phrase.lower().replace(" ", "_").replace("-", "_"))
    # keep headers such as Allow (405) and WWW-Authenticate (401)
    return error_response(status, code, message, headers=exc.headers)


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, headers=exc.headers)


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


async def _backend_handler(request: Request, exc: Exception) -> JSONResponse:
    """The engine holding the index did not answer: 503 naming it, and the node marked
    unavailable (/readyz says so) until its watcher reaches the engine again."""
    kb = getattr(getattr(request.app.state, "zhiwen", None), "kb", None)
    if kb is not None:
        kb.mark_unavailable(exc)
    return error_response(503, "backend_unavailable", str(exc), headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    """Replace FastAPI's default error bodies with ``ErrorResponse`` everywhere."""
    from indexer.errors import BackendUnavailable

    app.add_exception_handler(BackendUnavailable, _backend_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the error body for ``statuses``."""
    return {
        status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


def printable(value: str, limit: int = 80) -> str:
    """``value`` safe to put in a message: bounded, and encodable even if it holds lone surrogates."""
    short = value if len(value) <= limit else value[:limit] + "…"
    return short.encode("utf-8", "replace").decode("utf-8")
