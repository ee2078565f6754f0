"""Every message a person reads on the pages is Chinese: each error code the server can send is
told in words by errors.js (never the API's English message), the cases staff met are shown so
(an over-long question, a server that cannot be reached, a name already taken, a broken file:
the upload tests), and the question box takes exactly what the server takes, with a counter."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.web.conftest import ApiServer
from tests.web.test_browser import ANSWER_TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = re.compile(r"[A-Za-z]{3,}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def server_error_codes() -> dict[str, int]:
    """code -> an HTTP status it comes with: every code in the server's source (``ApiError(status,
    "code"`` and the code tables) and in the README's error table."""
    from service.api.errors import _CODES

    codes = {code: status for status, code in _CODES.items()}
    for path in (ROOT / "service").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for status, code in re.findall(r'ApiError\(\s*(\d{3}),\s*"([a-z_]+)"', text):
            codes.setdefault(code, int(status))
        for table in re.findall(r"\{(\s*\d{3}:\s*\"[a-z_]+\"(?:,\s*\d{3}:\s*\"[a-z_]+\")*\s*)\}", text):
            for status, code in re.findall(r'(\d{3}):\s*"([a-z_]+)"', table):
                codes.setdefault(code, int(status))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for row in re.findall(r"^\| (\d{3})[^|]*\| (`[^|]+`) \|", readme, re.M):
        for code in re.findall(r"`([a-z_]+)`", row[1]):
            codes.setdefault(code, int(row[0]))
    return codes


@pytest.fixture
def page(browser: Browser, api: ApiServer) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{api.url}/")
    page.wait_for_function("() => window.zhiwenErrors !== undefined")
    yield page
    context.close()


def test_the_walk_finds_the_codes_of_the_readme_and_the_source() -> None:
    codes = server_error_codes()
    for code in ("validation_error", "document_exists", "write_in_progress", "payload_too_large",
                 "unsupported_media_type", "loading", "backend_unavailable", "cors_refused",
                 "request_timeout", "internal_error"):
        assert code in codes, code


@pytest.mark.browser
def test_every_error_code_reads_in_chinese(page: Page) -> None:
    known = set(page.evaluate("() => window.zhiwenErrors.codes"))
    for code, status in server_error_codes().items():
        assert code in known, f"errors.js has no words for {code!r}"
        text = page.evaluate("([s, c]) => window.zhiwenErrors.text(s, {code: c, message: "
                             "'document x already exists; replace it with PUT /v1/documents/x'})",
                             [status, code])
        assert CJK.search(text) and not ENGLISH.search(text), f"{code}: {text!r}"
    # a code no page knows yet still reads in Chinese, by its status
    assert page.evaluate("() => window.zhiwenErrors.text(418, {code: 'teapot', message: 'I am a teapot'})") \
        == "请求无法解析"


@pytest.mark.browser
def test_an_over_long_question_is_named_in_chinese(page: Page, api: ApiServer) -> None:
    """The server's own 422 for a chat turn over the limit (「messages.4.content: String should
    have at most 1000 characters」 before) reads as what it is."""
    turns = [{"role": "user", "content": "问"}] * 4 + [{"role": "user", "content": "长" * 1001}]
    reply = httpx.post(f"{api.url}/v1/chat/completions", json={"messages": turns}, timeout=30)
    assert reply.status_code == 422 and reply.json()["error"]["details"][0]["field"] == "messages.4.content"
    text = page.evaluate("([s, e]) => window.zhiwenErrors.text(s, e)", [422, reply.json()["error"]])
    assert text == "问题太长：最多 1000 字"


@pytest.mark.browser
def test_the_question_box_takes_what_the_server_takes_with_a_counter(page: Page, api: ApiServer) -> None:
    most = httpx.get(f"{api.url}/v1/index", timeout=30).json()["max_question_chars"]
    box = page.locator("#question")
    expect(box).to_have_attribute("maxlength", str(most))
    expect(page.locator("#question-count")).to_have_text(f"0/{most}")
    box.fill("九水街道")
    expect(page.locator("#question-count")).to_have_text(f"4/{most}")
    box.fill("长" * (most + 50))  # the box stops at the server's limit
    expect(page.locator("#question-count")).to_have_text(f"{most}/{most}")
    assert len(box.input_value()) == most


@pytest.mark.browser
def test_a_server_that_cannot_be_reached_is_said_in_chinese(page: Page) -> None:
    def drop(route: Route) -> None:
        route.abort("connectionrefused")  # what 「Failed to fetch」 was

    page.route("**/v1/chat/completions", drop)
    page.locator("#question").fill("九水街道共有多少处安全隐患被整改？")
    page.locator("#question").press("Enter")
    answer = page.locator(".msg-assistant").first
    expect(answer).to_have_attribute("data-done", "error", timeout=ANSWER_TIMEOUT_MS)
    expect(answer).to_contain_text("出错了：无法连接服务器，请检查网络后重试")
    assert not ENGLISH.search(answer.inner_text())
