"""The report view of a report read from a Word file links to the original file; a .txt report
(whose text is the file) does not. Citations of a scanned PDF name their page and say they were
read by OCR, with the recogniser's confidence."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.conftest import REPORTS_DIR
from tests.indexer.documents import scanned_pdf, to_docx, to_pdf
from tests.web.conftest import ApiServer, start_api_server

REPORTS = sorted(REPORTS_DIR.glob("*.txt"))


@pytest.fixture(scope="module")
def formats_api(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[ApiServer]:
    from indexer.backends.local.build import build_index

    root = tmp_path_factory.mktemp("formats-web")
    corpus = root / "reports"  # the server's corpus folder (server_env: <tmp>/reports)
    corpus.mkdir()
    (corpus / f"{REPORTS[0].stem}.docx").write_bytes(to_docx(REPORTS[0]))
    shutil.copy(REPORTS[3], corpus / REPORTS[3].name)
    (corpus / f"{REPORTS[1].stem}.pdf").write_bytes(scanned_pdf(to_pdf(REPORTS[1], root / "001.pdf")))
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


@pytest.mark.browser
def test_citations_of_a_scan_name_their_page_and_the_ocr_confidence(
        context: BrowserContext, formats_api: ApiServer, dev_questions: list[dict[str, Any]]) -> None:
    import httpx

    from tests.web.test_browser import ask_in_chat

    def cites_the_scan(question: str) -> bool:
        answer = httpx.post(f"{formats_api.url}/v1/ask", json={"question": question}, timeout=120).json()
        return any(c["doc_id"] == REPORTS[1].stem for c in answer["citations"])

    # a question about the scanned report that the service answers from it (OCR costs some)
    question = next(q["question"] for q in dev_questions
                    if q["doc"] == REPORTS[1].stem and cites_the_scan(q["question"]))
    page = context.new_page()
    page.goto(f"{formats_api.url}/")
    ask_in_chat(page, question, 1)
    chip = page.locator(f".msg-assistant .cite-chip[href*='{REPORTS[1].stem}']").first
    expect(chip).to_be_visible()
    expect(chip.locator(".where")).to_have_text(re.compile(r"^第\d+页$"))
    expect(chip.locator(".ocr")).to_have_text(re.compile(r"^OCR \d{2,3}%$"))
    assert "扫描件文字识别" in (chip.get_attribute("title") or "")
    assert "page=" in (chip.get_attribute("href") or "")
