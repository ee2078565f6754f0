"""CORS preflights and the API docs (issue 36), in-process (no model is loaded: the app's
lifespan does not run, and neither needs the index).

* A preflight from an origin not allowed gets the documented 400 ``cors_refused`` (README, error
  table), whether ``ZHIWEN_CORS_ORIGINS`` lists other origins or none (it used to be a 405 then).
* ``/docs`` loads Swagger UI from this server (the installed fastapi-offline package), never from
  a CDN, so it works offline; there is no ``/redoc`` (ReDoc loads its logo from its vendor's CDN).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from zhiwen.settings import Settings

ALLOWED = "http://intranet.example:8080"
PREFLIGHT = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}


def client(origins: list[str]) -> TestClient:
    """The app without its lifespan (no `with`): the model and index are never loaded."""
    return TestClient(create_app(Settings(cors_origins=origins)))


@pytest.mark.parametrize("origins", [[], [ALLOWED]], ids=["none-configured", "another-listed"])
def test_a_preflight_from_an_origin_not_allowed_is_a_json_400(origins: list[str]) -> None:
    api = client(origins)
    refused = api.options("/v1/ask", headers=PREFLIGHT)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["code"] == "cors_refused"
    assert "ZHIWEN_CORS_ORIGINS" in refused.json()["error"]["message"]
    assert "access-control-allow-origin" not in refused.headers
    # same-origin requests and plain OPTIONS are not preflights: untouched
    assert api.get("/healthz", headers={"Origin": "http://elsewhere.example"}).status_code == 200
    assert api.options("/v1/ask").status_code == 405


def test_a_listed_origin_still_passes_its_preflight() -> None:
    api = client([ALLOWED])
    allowed = api.options("/v1/ask", headers={**PREFLIGHT, "Origin": ALLOWED})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED


def _urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize(("page", "assets"), [
    ("/docs", {"/static-docs/swagger-ui-bundle.js": "text/javascript",
               "/static-docs/swagger-ui.css": "text/css"}),
])
def test_the_api_docs_load_only_from_this_server(page: str, assets: dict[str, str]) -> None:
    api = client([])
    html = api.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "http://" not in html.text and "https://" not in html.text, _urls(html.text)
    assert set(assets) <= set(_urls(html.text)), _urls(html.text)
    assert "/openapi.json" in html.text
    csp = html.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    for url, media in assets.items():
        asset = api.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] == media
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 100_000  # the real bundle, not a stub
    assert api.get("/static-docs/index.html").status_code == 404  # only the files named above
    assert api.get("/static-docs/redoc.standalone.js").status_code == 404
    assert api.get("/redoc").status_code == 404
    assert api.get("/static-docs/..%2F__init__.py").status_code == 404
