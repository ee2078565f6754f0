"""The admin page (/admin) in headless Chromium (issue 15): it asks for a write key, lists the
reports with their metadata, previews a report's chunks, uploads and deletes a report, and its
hit test shows each hit's keyword, dense and fused scores and matched terms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.kb import make_kb
from tests.web.conftest import (
    XSS_DOC_ID,
    ApiServer,
    answer_key_dialog,
    start_api_server,
    until_dialogs,
)
from tests.web.test_browser import xss_fired

ADMIN_KEY = "web-admin-key-5c2e9a"
UPLOAD_TIMEOUT_MS = 120_000
WAIT_MS = 30_000
NEW_REPORT = "观澜街道开通助老食堂\n\n2022年3月1日\n\n观澜街道在辖区开通助老食堂三处，每天为二百余名老人供餐。\n"


@pytest.fixture(scope="module")
def admin_api(web_index_dir: Path, web_corpus_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("admin-web")
    dirs = make_kb(web_index_dir, root / "kb", reports_dir=web_corpus_dir)
    server = start_api_server(dirs.index, root, None, ZHIWEN_API_KEYS=ADMIN_KEY,
                              ZHIWEN_CORPUS_DIR=str(dirs.corpus))
    yield server
    server.stop()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


def answer_dialogs(dialog: Dialog) -> None:
    dialog.accept()  # the delete confirmation


def signed_in(page: Page) -> Page:
    """``page`` answering the key dialog with the admin key and accepting confirmations."""
    page.on("dialog", answer_dialogs)
    answer_key_dialog(page, ADMIN_KEY)
    return page


@pytest.mark.browser
def test_admin_needs_a_write_key(desktop: BrowserContext, admin_api: ApiServer) -> None:
    assert httpx.get(f"{admin_api.url}/v1/admin", timeout=30).status_code == 401
    page = desktop.new_page()
    answer_key_dialog(page, "")  # no key given
    page.goto(f"{admin_api.url}/admin")
    expect(page.locator("#admin-status")).to_contain_text("无法进入管理页")
    expect(page.locator("#admin-body")).to_be_hidden()


@pytest.mark.browser
def test_admin_lists_previews_uploads_and_deletes(desktop: BrowserContext, admin_api: ApiServer,
                                                  tmp_path: Path) -> None:
    page = desktop.new_page()
    signed_in(page)
    page.goto(f"{admin_api.url}/admin")
    rows = page.locator("#reports-body tr:not(.chunk-row)")
    expect(rows).to_have_count(7)  # the six bundled reports and the markup probe
    hu_dao = page.locator("#reports-body tr[data-doc-id='003_417ad2edf06574dc']")
    expect(hu_dao).to_contain_text("湖岛街道")
    expect(hu_dao).to_contain_text("2021-01-30")

    hu_dao.locator("button.preview").click()
    chunks = page.locator(".chunk-row .chunks li")
    expect(chunks.first).to_contain_text("003_417ad2edf06574dc#0")
    assert chunks.count() > 3
    probe = page.locator(f"#reports-body tr[data-doc-id='{XSS_DOC_ID}']")
    probe.locator("button.preview").click()
    expect(page.locator(".chunk-row").nth(1)).to_contain_text("<script>")  # shown as text
    assert not xss_fired(page)

    upload = tmp_path / "guanlan.txt"
    upload.write_text(NEW_REPORT, encoding="utf-8")
    page.locator("#admin-file").set_input_files(str(upload))
    page.locator("#upload-form button[type=submit]").click()
    expect(page.locator("#upload-results li.ok")).to_contain_text("已收录", timeout=UPLOAD_TIMEOUT_MS)
    expect(rows).to_have_count(8)
    new_row = page.locator("#reports-body tr", has_text="观澜街道开通助老食堂")
    expect(new_row).to_have_count(1)

    new_row.locator("button.delete").click()
    expect(rows).to_have_count(7, timeout=UPLOAD_TIMEOUT_MS)
    assert httpx.get(f"{admin_api.url}/v1/documents/guanlan", timeout=30).status_code == 404


@pytest.mark.browser
def test_the_hit_test_shows_the_score_breakdown(desktop: BrowserContext, admin_api: ApiServer,
                                                screenshots: Path) -> None:
    page = desktop.new_page()
    signed_in(page)
    page.goto(f"{admin_api.url}/admin")
    page.locator("#hit-query").fill("巷网会客议事厅")
    page.locator("#hit-form button").click()
    first = page.locator("#hit-body tr.hit").first
    expect(first).to_contain_text("堤口路街道")
    expect(first.locator(".terms")).to_contain_text("议事厅")
    keyword, dense, fused = (float(first.locator(f".{k}").inner_text()) for k in ("keyword", "dense", "fused"))
    assert keyword > 0 and 0 < dense <= 1 and fused == pytest.approx(1.0)
    page.screenshot(path=str(screenshots / "admin.png"), full_page=True)


@pytest.mark.browser
def test_curated_answers_are_imported_listed_and_deleted(desktop: BrowserContext, admin_api: ApiServer,
                                                         tmp_path: Path) -> None:
    page = desktop.new_page()
    signed_in(page)
    page.goto(f"{admin_api.url}/admin")
    table = tmp_path / "faq.csv"
    table.write_text("问题,答案,来源\n如何上传一份新的报告？,在问答页点<b>上传报告</b>。,\n,缺问题,\n", encoding="utf-8")
    page.locator("#faq-file").set_input_files(str(table))
    page.locator("#faq-import button[type=submit]").click()
    expect(page.locator("#faq-result")).to_contain_text("已导入 1 条")
    expect(page.locator("#faq-result")).to_contain_text("第 3 行")
    item = page.locator("#faq-body tr.faq-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("<b>上传报告</b>")  # text, not markup
    answer = httpx.post(f"{admin_api.url}/v1/ask", json={"question": "如何上传一份新报告？"}, timeout=60).json()
    assert answer["curated"] is not None and answer["answer"].startswith("在问答页")
    chat = desktop.new_page()
    chat.goto(f"{admin_api.url}/")
    chat.locator("#question").fill("如何上传一份新报告？")
    chat.locator("#question").press("Enter")
    reply = chat.locator(".msg-assistant").first
    expect(reply).to_have_attribute("data-done", "true", timeout=UPLOAD_TIMEOUT_MS)
    expect(reply.locator(".meta")).to_contain_text("精选答案")
    expect(reply.locator(".meta")).to_contain_text("如何上传一份新的报告")
    expect(reply.locator(".answer")).to_contain_text("<b>上传报告</b>")
    item.locator("button.delete").click()
    expect(item).to_have_count(0)


@pytest.mark.browser
def test_the_feedback_list_shows_corrections_and_filters_by_rating(desktop: BrowserContext,
                                                                    admin_api: ApiServer) -> None:
    asked = httpx.post(f"{admin_api.url}/v1/ask", json={"question": "九水街道共有多少处安全隐患被整改？"},
                       timeout=60).json()
    for rating, correction in (("down", {"answer": "一百七十二处"}), ("up", None)):
        body: dict[str, object] = {"answer_id": asked["answer_id"], "rating": rating}
        if correction:
            body["correction"] = correction
        assert httpx.post(f"{admin_api.url}/v1/feedback", json=body, timeout=30).status_code == 201
    page = desktop.new_page()
    signed_in(page)
    page.goto(f"{admin_api.url}/admin")
    items = page.locator("#feedback-list .feedback-item")
    expect(items).to_have_count(2)
    page.locator("#feedback-rating").select_option("down")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("更正：一百七十二处")
    expect(items.first).to_contain_text("九水街道共有多少处安全隐患被整改")


@pytest.mark.browser
def test_the_key_is_typed_masked_and_can_be_changed_and_forgotten(
    desktop: BrowserContext, admin_api: ApiServer
) -> None:
    """The key goes into a password field of an in-page dialog (never window.prompt); 更换密钥
    takes another one (a wrong one is asked for again), 退出 forgets it and the page asks anew."""
    seen: list[str] = []
    page = desktop.new_page()
    page.on("dialog", lambda d: d.dismiss())  # no browser dialog is expected: one would show here
    answer_key_dialog(page, [ADMIN_KEY, "not-the-admin-key", ADMIN_KEY, ""], seen)
    page.goto(f"{admin_api.url}/admin")
    expect(page.locator("#admin-body")).to_be_visible()
    expect(page.locator("#key-control")).to_be_visible()
    assert seen == ["此服务需要访问密钥，请输入。"]

    page.locator("#key-change").click()  # a wrong key: the reloaded page says so and asks again
    until_dialogs(page, seen, 3)
    expect(page.locator("#admin-body")).to_be_visible()
    expect(page.locator("#reports-body tr").first).to_be_visible()
    assert seen[1:] == ["输入新的访问密钥。", "访问密钥无效，请重新输入。"]
    assert page.evaluate("sessionStorage.getItem('zhiwen.apiKey')") == ADMIN_KEY

    page.locator("#key-signout").click()  # forgotten: the page asks again, and is refused
    expect(page.locator("#admin-status")).to_contain_text("无法进入管理页")
    expect(page.locator("#admin-body")).to_be_hidden()
    assert seen[3:] == ["此服务需要访问密钥，请输入。"]
    assert page.evaluate("sessionStorage.getItem('zhiwen.apiKey')") is None
    expect(page.locator("#key-control")).to_be_hidden()
