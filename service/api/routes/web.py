"""Web pages: the chat page, the report view, the embeddable widget and their static assets.

Plain HTML/CSS/JS from ``service/api/static`` (no build step, no CDN). The pages only ever put
untrusted strings (questions, answers, report text) into the DOM as text, and are served with a
Content-Security-Policy that allows scripts from this origin only, as a second line of defence.

The API docs (``/docs``, Swagger UI) load their scripts from the installed
``fastapi-offline`` package (``/static-docs/…``), not from a CDN, so they work offline too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from service.api.cors import install_cors
from service.api.errors import ApiError

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


# scripts the widget loads into other sites' pages (the Chinese error texts)
_CROSS_ORIGIN_ASSETS: Final = frozenset({"errors.js"})


@router.get("/static/{name}")
def static_asset(name: str) -> FileResponse:
    if name in _CROSS_ORIGIN_ASSETS:
        return _static_file(name, {**_ASSET_HEADERS, "Cross-Origin-Resource-Policy": "cross-origin"})
    return _static_file(name, _ASSET_HEADERS)


# -- API docs -------------------------------------------------------------------------------------
# The files of Swagger UI 5 that the fastapi-offline package ships (MIT; Apache-2.0 Swagger UI),
# served from this origin: /docs works without the internet. No /redoc: ReDoc's page loads its
# logo from its vendor's CDN whatever it is told, and one docs page is enough.
DOCS_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
# The page starts its UI from one inline script (FastAPI's template); nothing may come from
# another host.
_DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)
_DOCS_HEADERS: Final = {**_PAGE_HEADERS, "Content-Security-Policy": _DOCS_CSP}


def _docs_dir() -> Path:
    """The installed package's asset folder; a clear 503 if the package is missing."""
    from importlib.util import find_spec

    spec = find_spec("fastapi_offline")
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders or not (Path(folders[0]) / "static").is_dir():
        raise ApiError(503, "docs_unavailable", "the API docs' Swagger UI files are not installed "
                       "(pip install fastapi-offline, a dependency of zhiwen); /openapi.json still works")
    return Path(folders[0]) / "static"


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(_DOCS_HEADERS)
    return page


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for ``/openapi.json``, from this origin (no CDN)."""
    _docs_dir()
    root = request.scope.get("root_path", "")
    return _docs_page(get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}/static-docs/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static-docs/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        oauth2_redirect_url=None,
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    ))


@router.get("/static-docs/{name}")
def docs_asset(name: str) -> FileResponse:
    media_type = DOCS_ASSETS.get(name)  # only these names: nothing else of the package is served
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no docs asset {name!r}")
    return FileResponse(_docs_dir() / name, media_type=media_type, headers=_ASSET_HEADERS)
