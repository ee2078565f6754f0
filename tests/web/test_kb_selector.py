"""Knowledge bases in the browser (issue 15): the chat page's selector changes what is cited, the
report view opens a cited report of the selected knowledge base, and the widget answers from the
knowledge base its data-kb names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.kb import make_kb
from tests.web.conftest import ApiServer, StaticSite, start_api_server
from tests.web.test_browser import ANSWER_TIMEOUT_MS, ask_in_chat, widget_ask

ADMIN_KEY = "web-kb-key-8a1f"
REPORT = {"doc_id": "tide-station", "title": "海泊河口潮汐观测站建成",
          "text": "海泊河口新设的潮汐观测站由韩晓梅站长负责，观测站于2021年5月建成，每天记录两次潮位。"}
QUESTION = "海泊河口的潮汐观测站由谁负责？"


@pytest.fixture(scope="module")
def kb_api(web_index_dir: Path, web_corpus_dir: Path, widget_site: StaticSite,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("kb-web")
    dirs = make_kb(web_index_dir, root / "kb", reports_dir=web_corpus_dir)
    server = start_api_server(dirs.index, root, [widget_site.url], ZHIWEN_API_KEYS=ADMIN_KEY,
                              ZHIWEN_CORPUS_DIR=str(dirs.corpus), ZHIWEN_KBS_DIR=str(root / "kbs"))
    created = httpx.post(f"{server.url}/v1/kbs/alpha", json=REPORT,
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=180)
    assert created.status_code == 201, created.text
    yield server
    server.stop()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.mark.browser
def test_the_selector_changes_what_is_cited(desktop: BrowserContext, kb_api: ApiServer) -> None:
    page = desktop.new_page()
    page.goto(f"{kb_api.url}/")
    select = page.locator("#kb-select")
    expect(select).to_be_visible()
    assert "韩晓梅" not in ask_in_chat(page, QUESTION, 1)

    select.select_option("alpha")
    assert "kb=alpha" in page.url
    expect(page.locator(".msg")).to_have_count(0)  # a new conversation
    assert "韩晓梅" in ask_in_chat(page, QUESTION, 1)
    # feedback goes to the knowledge base that gave the answer
    page.locator(".msg-assistant .fb-up").first.click()
    expect(page.locator(".msg-assistant .feedback").first).to_have_attribute("data-sent", "up")
    rows = httpx.get(f"{kb_api.url}/v1/feedback?kb=alpha", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                     timeout=30).json()["feedback"]
    assert [r["question"] for r in rows] == [QUESTION]
    chip = page.locator(".msg-assistant .cite-chip").first
    href = chip.get_attribute("href") or ""
    assert href.startswith("/reports/tide-station") and "kb=alpha" in href
    report = desktop.new_page()
    report.goto(kb_api.url + href)
    expect(report.locator("#report-title")).to_contain_text("潮汐观测站")
    expect(report.locator("mark").first).to_contain_text("韩晓梅")


@pytest.mark.browser
def test_the_widget_answers_from_its_data_kb(desktop: BrowserContext, kb_api: ApiServer,
                                             widget_site: StaticSite) -> None:
    url = widget_site.write("kb.html", f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>门户</title></head><body><h1>门户</h1>
<script src="{kb_api.url}/widget.js" data-kb="alpha" defer></script></body></html>""")
    page = desktop.new_page()
    page.goto(url)
    widget_ask(page, QUESTION)
    reply = page.locator("#zhiwen-widget .bot").last
    expect(reply).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    assert "韩晓梅" in reply.inner_text()
    ref = reply.locator(".ref").first
    assert "kb=alpha" in (ref.get_attribute("href") or "")
