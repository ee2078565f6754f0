"""Conversations kept in the browser: a reload shows the conversation again (answers, citation
chips, follow-ups still resolved), 新对话 keeps the old one in 对话记录, which opens, renames and
deletes them; an answer copies as text with its sources, and a conversation exports as Markdown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.web.conftest import ApiServer
from tests.web.test_browser import ask_in_chat, norm

Q1 = "九水街道共有多少处安全隐患被整改？"  # 172处
Q2 = "王哥庄街道的党建示范点是哪个社区？"
Q3 = "湖岛街道居民通过哪个平台反映诉求？"


@pytest.fixture
def context(browser: Browser, api: ApiServer) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai",
        permissions=["clipboard-read", "clipboard-write"], base_url=api.url,
    )
    context.set_default_timeout(30_000)
    yield context
    context.close()


def open_list(page: Page) -> None:
    if page.locator("#conv-panel").is_hidden():
        page.locator("#conv-toggle").click()
    expect(page.locator("#conv-panel")).to_be_visible()


@pytest.mark.browser
def test_a_reload_restores_the_conversation_and_new_chat_keeps_it(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/")
    assert "172处" in norm(ask_in_chat(page, Q1, 1))
    ask_in_chat(page, Q2, 2)
    page.reload()
    answers = page.locator(".msg-assistant")
    expect(answers).to_have_count(2)
    expect(page.locator(".msg-user").first).to_have_text(Q1)
    expect(answers.first.locator(".answer")).to_contain_text("172处")
    expect(answers.first.locator(".cite-chip").first).to_be_visible()
    expect(page.locator("#welcome")).to_be_hidden()

    page.locator("#new-chat").click()  # the old conversation stays in the list
    expect(page.locator(".msg-assistant")).to_have_count(0)
    expect(page.locator("#welcome")).to_be_visible()
    ask_in_chat(page, Q3, 1)
    open_list(page)
    items = page.locator("#conv-list .conv-item")
    expect(items).to_have_count(2)
    expect(items.first.locator(".conv-title")).to_have_text(Q3)  # the newest first
    expect(items.nth(1).locator(".conv-meta")).to_contain_text("2 问")

    items.nth(1).locator(".conv-open").click()  # back to the first conversation
    expect(page.locator(".msg-assistant")).to_have_count(2)
    expect(page.locator(".msg-user").first).to_have_text(Q1)
    page.reload()  # and it is the one a reload shows
    expect(page.locator(".msg-user").first).to_have_text(Q1)


@pytest.mark.browser
def test_conversations_are_renamed_and_deleted(context: BrowserContext) -> None:
    page = context.new_page()
    confirms: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        confirms.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    page.goto("/")
    ask_in_chat(page, Q1, 1)
    open_list(page)
    item = page.locator("#conv-list .conv-item").first
    item.locator(".conv-rename-btn").click()
    field = page.locator("#conv-list .conv-rename")
    field.fill("安全隐患整改")
    field.press("Enter")
    expect(page.locator("#conv-list .conv-title").first).to_have_text("安全隐患整改")
    page.reload()
    open_list(page)
    expect(page.locator("#conv-list .conv-title").first).to_have_text("安全隐患整改")

    page.locator("#conv-list .conv-item").first.locator(".conv-delete").click()
    assert confirms == ["删除对话「安全隐患整改」？删除后无法恢复。"]
    expect(page.locator("#conv-list .conv-item")).to_have_count(0)
    expect(page.locator("#conv-list .conv-empty")).to_have_text("还没有对话记录")
    expect(page.locator(".msg-assistant")).to_have_count(0)  # it was the one on the page
    page.reload()
    expect(page.locator(".msg-assistant")).to_have_count(0)


@pytest.mark.browser
def test_an_answer_copies_with_its_sources_and_the_conversation_exports_as_markdown(
    context: BrowserContext,
) -> None:
    page = context.new_page()
    page.goto("/")
    answer = ask_in_chat(page, Q1, 1)
    copy = page.locator(".msg-assistant .copy-answer").first
    copy.click()
    expect(copy).to_have_text("已复制")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert norm(answer).replace(" ", "") in norm(copied).replace(" ", "") or "172处" in copied
    assert "来源：" in copied and "[1] " in copied and "「" in copied

    open_list(page)
    with page.expect_download() as download:
        page.locator("#conv-export").click()
    assert download.value.suggested_filename.endswith(".md")
    text = download.value.path().read_text(encoding="utf-8")
    assert text.startswith("# " + Q1[:40])
    assert f"## 问：{Q1}" in text and "172处" in text and "来源：" in text
