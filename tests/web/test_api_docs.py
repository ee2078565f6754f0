"""/docs (Swagger UI) renders in headless Chromium from this server alone (issue 36:
they loaded their scripts from a CDN, so they were blank offline). Every request the page makes
goes to the server itself, and its CSP reports no violation."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.web.conftest import ApiServer

WAIT_MS = 60_000


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize(("path", "rendered"), [
    ("/docs", ".swagger-ui .opblock-summary-path[data-path='/v1/ask']"),
])
def test_the_api_docs_render_offline(context: BrowserContext, api_same_origin: ApiServer, path: str,
                                     rendered: str) -> None:
    requests: list[str] = []
    problems: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{api_same_origin.url}{path}")
    expect(page.locator(rendered).first).to_be_attached(timeout=WAIT_MS)
    own = urlsplit(api_same_origin.url).netloc
    elsewhere = [u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != own]
    assert elsewhere == []
    assert f"{api_same_origin.url}/openapi.json" in requests
    assert [p for p in problems if "Content Security Policy" in p] == []
