"""Cross-origin access for the embeddable widget.

Browsers only let a page on another origin call the API when the response allows that origin.
The allowlist is ``Settings.cors_origins`` (env ``ZHIWEN_CORS_ORIGINS``, a JSON list such as
``'["http://intranet.example:8080"]'``). Empty (the default) allows no other origin, so only pages
served by zhiwen itself can call the API from a browser. ``["*"]`` allows any origin (credentials
are never allowed, so cookies are not sent cross-origin either way). A preflight from an origin not
allowed (any origin, when the list is empty) is refused with 400 ``cors_refused``, as the README's
error table says, not left to the router's 405.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from service.api.errors import error_response

log = logging.getLogger(__name__)


class HasCorsOrigins(Protocol):
    """The part of ``zhiwen.settings.Settings`` this module reads."""

    @property
    def cors_origins(self) -> list[str]: ...


def normalize_origins(origins: Iterable[str]) -> list[str]:
    """Strip whitespace and trailing slashes (``http://a:8080/`` → ``http://a:8080``), drop blanks
    and duplicates: browsers send ``Origin`` without a path, so a trailing slash never matches."""
    seen: list[str] = []
    for origin in origins:
        cleaned = origin.strip().rstrip("/")
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return seen


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a refused preflight answered in the service's JSON error
    body (Starlette's own is ``text/plain``)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        keep = {k: v for k, v in response.headers.items()
                if k.lower() not in ("content-type", "content-length")}
        allowed = "no other origin is allowed" if not self.allow_origins else "see"
        message = f"{bytes(response.body).decode('utf-8', 'replace')} ({allowed} ZHIWEN_CORS_ORIGINS)"
        return error_response(response.status_code, "cors_refused", message, headers=keep)


def install_cors(app: FastAPI, settings: HasCorsOrigins) -> list[str]:
    """Add Starlette's CORSMiddleware for the configured origins (none: every preflight is refused,
    other requests pass unchanged); return the origins allowed."""
    origins = normalize_origins(settings.cors_origins)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "X-API-Key", "Accept"],
        max_age=600,
    )
    if origins:
        log.info("CORS: allowing origins %s", ", ".join(origins))
    else:
        log.info("CORS: no cross-origin access (same origin only)")
    return origins
