"""Web pages: the chat page, the report view, the embeddable widget and their static assets.

Plain HTML/CSS/JS from ``service/api/static`` (no build step, no CDN). The pages only ever put
untrusted strings (questions, answers, report text) into the DOM as text, and are served with a
Content-Security-Policy that allows scripts from this origin only, as a second line of defence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from service.api.cors import install_cors

__all__ = ["STATIC_DIR", "install_cors", "router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"

_MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}

# Pages: scripts, styles and API calls from this origin only; no inline script, no plugins,
# not framable by other sites.
_PAGE_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": _PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
_ASSET_HEADERS: Final = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def _static_file(name: str, headers: dict[str, str]) -> FileResponse:
    path = STATIC_DIR / name
    media_type = _MEDIA_TYPES.get(path.suffix)
    # only plain file names of known types: no sub-paths, no dot files, nothing outside STATIC_DIR
    if (
        media_type is None
        or "/" in name
        or "\\" in name
        or name.startswith(".")
        or not path.is_file()
    ):
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get("/")
def chat_page() -> FileResponse:
    """The staff chat page."""
    return _static_file("index.html", _PAGE_HEADERS)


@router.get("/admin")
def admin_page() -> FileResponse:
    """The admin page; it needs a write key for every call it makes (``GET /v1/admin`` first)."""
    return _static_file("admin.html", _PAGE_HEADERS)


@router.get("/reports/{doc_id}")
def report_page(doc_id: str) -> FileResponse:
    """The report view; the page fetches ``/v1/documents/{doc_id}`` and highlights
    ``?start=&end=`` itself, so a missing report shows a message on the page."""
    return _static_file("report.html", _PAGE_HEADERS)


@router.get("/reports")
def reports_index() -> RedirectResponse:
    return RedirectResponse("/", status_code=307)


@router.get("/widget.js")
def widget_script() -> FileResponse:
    """The embeddable widget: ``<script src="http://HOST:8000/widget.js" defer></script>``.
    A classic script tag needs no CORS; the widget's API calls do (``ZHIWEN_CORS_ORIGINS``)."""
    headers = {**_ASSET_HEADERS, "Cross-Origin-Resource-Policy": "cross-origin"}
    return _static_file("widget.js", headers)


@router.get("/static/{name}")
def static_asset(name: str) -> FileResponse:
    return _static_file(name, _ASSET_HEADERS)
