"""The report view of a report read from a Word file links to the original file; a .txt report
(whose text is the file) does not."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.conftest import REPORTS_DIR
from tests.indexer.documents import to_docx
from tests.web.conftest import ApiServer, start_api_server

REPORTS = sorted(REPORTS_DIR.glob("*.txt"))


@pytest.fixture(scope="module")
def formats_api(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[ApiServer]:
    from indexer.build import build_index

    root = tmp_path_factory.mktemp("formats-web")
    corpus = root / "reports"  # the server's corpus folder (server_env: <tmp>/reports)
    corpus.mkdir()
    (corpus / f"{REPORTS[0].stem}.docx").write_bytes(to_docx(REPORTS[0]))
    shutil.copy(REPORTS[3], corpus / REPORTS[3].name)
    build_index(corpus, root / "index", embedder)
    server = start_api_server(root / "index", root, None)
    yield server
    server.stop()


def to_docx_bytes_on_server(api: ApiServer) -> bytes:
    import httpx

    return httpx.get(f"{api.url}/v1/documents/{REPORTS[0].stem}/file", timeout=60).content


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN", accept_downloads=True)
    yield context
    context.close()


@pytest.mark.browser
def test_a_word_report_links_to_its_original_file(context: BrowserContext, formats_api: ApiServer,
                                                  tmp_path: Path) -> None:
    page = context.new_page()
    page.goto(f"{formats_api.url}/reports/{REPORTS[0].stem}?start=10&end=20&page=2")
    expect(page.locator("#report")).to_have_attribute("data-ready", "true")
    link = page.locator("#original-link")
    expect(link).to_contain_text("Word 文档")
    assert link.get_attribute("href") == f"/v1/documents/{REPORTS[0].stem}/file#page=2"
    with page.expect_download() as saved:  # fetched (with the key, when reads need one), saved
        link.click()
    download = saved.value
    assert download.suggested_filename == f"{REPORTS[0].stem}.docx"
    target = tmp_path / "original.docx"
    download.save_as(target)
    assert target.read_bytes() == to_docx_bytes_on_server(formats_api)

    page.goto(f"{formats_api.url}/reports/{REPORTS[3].stem}?start=10&end=20")
    expect(page.locator("#report")).to_have_attribute("data-ready", "true")
    expect(page.locator("#original-link")).to_have_count(0)
