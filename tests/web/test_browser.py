"""The chat page, the report view and the widget in headless Chromium (playwright, sync API),
plus the HTTP-level checks of the pages, assets and CORS. Screenshots go to a temporary folder
(``make screenshots`` writes the README's)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from service.api.routes.web import STATIC_DIR
from tests.web.conftest import (
    READ_KEY,
    XSS_DOC_ID,
    XSS_QUESTION,
    ApiServer,
    StaticSite,
    answer_key_dialog,
)

Q_SAFETY = "九水街道共有多少处安全隐患被整改？"  # dev02, gold 172处
Q_FISHERY = "王哥庄街道2018年渔业总产值是多少？"  # dev11, gold 5.73亿元
Q_FOLLOW = "那党建示范点是哪个社区？"  # dev12 asked elliptically, gold 唐家庄
ANSWER_TIMEOUT_MS = 90_000


def norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    yield context
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    yield context
    context.close()


def ask_in_chat(page: Page, question: str, n: int) -> str:
    """Type ``question``, send it with Enter, wait for the ``n``-th (1-based) answer; its text."""
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    answer = page.locator(".msg-assistant").nth(n - 1)
    expect(answer).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    return answer.locator(".answer").inner_text()


def xss_fired(page: Page) -> bool:
    return bool(page.evaluate("() => window.__xss !== undefined"))


# -- the chat page ---------------------------------------------------------------------------


@pytest.mark.browser
def test_chat_answer_streams_and_citation_opens_highlighted_span(
    desktop: BrowserContext, api: ApiServer, screenshots: Path
) -> None:
    page = desktop.new_page()
    page.goto(f"{api.url}/")
    expect(page).to_have_title(re.compile("知问"))
    expect(page.locator("#corpus-note")).to_contain_text("篇报告")
    # count the content deltas the page receives, to see the answer arrive in pieces
    page.evaluate(
        """() => {
        window.__deltas = 0;
        const decode = TextDecoder.prototype.decode;
        TextDecoder.prototype.decode = function (...args) {
          const text = decode.apply(this, args);
          window.__deltas += (text.match(/"content": ?"[^"]/g) || []).length;
          return text;
        };
      }"""
    )
    answer = ask_in_chat(page, Q_SAFETY, 1)
    assert "172处" in norm(answer)
    assert page.evaluate("() => window.__deltas") > 3
    inline_refs = page.locator(".msg-assistant .cite-ref")
    assert inline_refs.count() >= 1
    chip = page.locator(".msg-assistant .cite-chip").first
    expect(chip).to_be_visible()
    quote = chip.get_attribute("title") or ""
    assert quote
    page.locator("#question").focus()
    page.screenshot(path=str(screenshots / "chat.png"))

    with desktop.expect_page() as opened:
        chip.click()
    report = opened.value
    expect(report.locator("#report")).to_have_attribute("data-ready", "true", timeout=30_000)
    assert re.search(r"/reports/[^?]+\?start=\d+&end=\d+$", report.url)
    mark = report.locator("#report-text mark")
    expect(mark).to_have_count(1)
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    assert norm(mark.inner_text()) == norm(quote)
    # the page really scrolled: the quote sits far down the report
    assert report.evaluate("() => window.scrollY") > 0
    expect(report.locator("#highlight-note")).to_be_visible()
    report.screenshot(path=str(screenshots / "report-highlight.png"))


@pytest.mark.browser
def test_with_read_keys_required_the_pages_ask_for_a_key_once(
    desktop: BrowserContext, api_keyed: ApiServer
) -> None:
    """The chat page and the report view send a key when the server requires one for reads: the
    first 401 asks for it (once, however many requests got it), later requests and pages reuse
    it; a wrong key is asked for again."""
    prompts: list[str] = []
    page = desktop.new_page()
    # a third dialog: no key, so the test fails, never hangs
    answer_key_dialog(page, ["wrong-key", READ_KEY], prompts)
    page.goto(f"{api_keyed.url}/")
    expect(page.locator("#corpus-note")).to_contain_text("篇报告", timeout=30_000)
    assert len(prompts) == 2 and "无效" in prompts[1]  # no key, then the wrong one
    answer = ask_in_chat(page, Q_SAFETY, 1)
    assert "172处" in norm(answer)
    with desktop.expect_page() as opened:
        page.locator(".msg-assistant .cite-chip").first.click()
    report = opened.value
    expect(report.locator("#report")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(report.locator("#report-text mark")).to_have_count(1)
    assert len(prompts) == 2  # the stored key served the chat and the report view


@pytest.mark.browser
def test_enter_sends_and_shift_enter_adds_a_line(desktop: BrowserContext, api: ApiServer) -> None:
    page = desktop.new_page()
    page.goto(f"{api.url}/")
    box = page.locator("#question")
    box.press_sequentially("第一行")
    box.press("Shift+Enter")
    box.press_sequentially("第二行")
    assert box.input_value() == "第一行\n第二行"
    expect(page.locator(".msg")).to_have_count(0)
    box.fill("")
    box.press("Enter")  # an empty question is not sent
    expect(page.locator(".msg")).to_have_count(0)
    # the example questions are buttons: keyboard-activated, they ask
    page.locator(".example").first.press("Enter")
    expect(page.locator(".msg-assistant").first).to_have_attribute(
        "data-done", "true", timeout=ANSWER_TIMEOUT_MS
    )


@pytest.mark.browser
def test_follow_up_in_the_chat_page(desktop: BrowserContext, api: ApiServer) -> None:
    page = desktop.new_page()
    page.goto(f"{api.url}/")
    assert "5.73亿元" in norm(ask_in_chat(page, Q_FISHERY, 1))
    assert "唐家庄" in norm(ask_in_chat(page, Q_FOLLOW, 2))
    expect(page.locator(".msg-assistant").nth(1).locator(".meta")).to_contain_text("王哥庄街道")
    page.locator("#new-chat").click()
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.locator("#welcome")).to_be_visible()


@pytest.mark.browser
def test_phone_width_has_no_horizontal_scroll(
    phone: BrowserContext, api: ApiServer, screenshots: Path
) -> None:
    page = phone.new_page()
    page.goto(f"{api.url}/")
    assert "172处" in norm(ask_in_chat(page, Q_SAFETY, 1))
    width = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 0
    expect(page.locator("#send")).to_be_in_viewport()
    page.screenshot(path=str(screenshots / "chat-mobile.png"))


# -- the report view ---------------------------------------------------------------------------


@pytest.mark.browser
def test_report_view_handles_bad_offsets_and_unknown_reports(
    desktop: BrowserContext, api: ApiServer
) -> None:
    page = desktop.new_page()
    page.goto(f"{api.url}/reports/000_cfe86b6ecbc402ed?start=999999&end=1000000")
    expect(page.locator("#report")).to_have_attribute("data-ready", "true")
    expect(page.locator("#report-text mark")).to_have_count(0)
    expect(page.locator("#highlight-note")).to_contain_text("超出")
    expect(page.locator("#report-title")).not_to_be_empty()
    page.goto(f"{api.url}/reports/no-such-report?start=1&end=5")
    expect(page.locator("#report")).to_have_attribute("data-ready", "error")
    expect(page.locator(".error-box")).to_contain_text("未找到该报告")


# -- hostile report text -----------------------------------------------------------------------


@pytest.mark.browser
def test_markup_in_reports_is_shown_as_text(desktop: BrowserContext, api: ApiServer) -> None:
    doc = httpx.get(f"{api.url}/v1/documents/{XSS_DOC_ID}", timeout=30).json()
    start = doc["text"].index("组织消防演练")
    end = doc["text"].index("共计37次") + len("共计37次")
    page = desktop.new_page()
    page.goto(f"{api.url}/reports/{XSS_DOC_ID}?start={start}&end={end}")
    expect(page.locator("#report")).to_have_attribute("data-ready", "true")
    # offsets count code points; the 2 ideographs outside the BMP before the span must not shift it
    assert "\U00021336" in doc["text"][:start]
    expect(page.locator("#report-text mark")).to_have_text(doc["text"][start:end])
    expect(page.locator("#report-text mark")).to_contain_text("<script>window.__xss=1</script>")
    expect(page.locator("#report-text")).to_contain_text('<img src=x onerror="window.__xss=1">')
    expect(page.locator("#report-title")).to_contain_text("<img")
    assert page.locator("#report img, #report script").count() == 0
    assert not xss_fired(page)

    page.goto(f"{api.url}/")
    answer = ask_in_chat(page, XSS_QUESTION, 1)
    assert "37次" in norm(answer)
    bubble = page.locator(".msg-assistant").first
    expect(bubble.locator(".cite-chip", has_text="星海街道").first).to_be_visible()
    bubble.locator(".passages summary").click()
    expect(bubble).to_contain_text("<script>window.__xss=1</script>")
    expect(bubble).to_contain_text("onerror")
    assert page.locator("#messages img, #messages script").count() == 0
    assert not xss_fired(page)
    with desktop.expect_page() as opened:
        bubble.locator(".cite-chip", has_text="星海街道").first.click()
    report = opened.value
    expect(report.locator("#report")).to_have_attribute("data-ready", "true")
    expect(report.locator("#report-text mark")).to_be_in_viewport()
    assert report.locator("#report img, #report script").count() == 0
    assert not xss_fired(report)


def test_scripts_never_write_html() -> None:
    """The static scripts build the DOM from text nodes only."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(")
    for name in ("admin.js", "app.js", "auth.js", "filters.js", "report.js", "upload.js", "widget.js"):
        assert not sinks.search((STATIC_DIR / name).read_text(encoding="utf-8")), name


# -- the widget on another origin ----------------------------------------------------------------


def widget_page(site: StaticSite, name: str, api_url: str) -> str:
    return site.write(
        name,
        f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>某单位内网门户</title>
<style>body {{ font-family: sans-serif; margin: 40px; color: #333; }}
button {{ background: red !important; }} p {{ font-size: 30px; }}</style></head>
<body><h1>某单位内网门户</h1><p>通知公告、规章制度与工作动态。</p>
<script src="{api_url}/widget.js" data-title="知问助手" defer></script>
</body></html>""",
    )


def widget_ask(page: Page, question: str) -> None:
    launcher = page.locator("#zhiwen-widget .launcher")
    expect(launcher).to_be_visible()
    launcher.click()
    box = page.locator("#zhiwen-widget textarea")
    expect(box).to_be_focused()
    box.fill(question)
    box.press("Enter")


@pytest.mark.browser
def test_widget_answers_from_an_allowed_origin(
    desktop: BrowserContext, api: ApiServer, widget_site: StaticSite, screenshots: Path
) -> None:
    page = desktop.new_page()
    page.goto(widget_page(widget_site, "allowed.html", api.url))
    widget_ask(page, Q_SAFETY)
    reply = page.locator("#zhiwen-widget .bot").last
    expect(reply).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    assert "172处" in norm(reply.inner_text())
    ref = reply.locator(".ref").first
    expect(ref).to_be_visible()
    assert (ref.get_attribute("href") or "").startswith(f"{api.url}/reports/")
    expect(page.locator("#zhiwen-widget .head")).to_contain_text("知问助手")
    # the host page's CSS does not reach into the shadow root
    color = page.locator("#zhiwen-widget .send").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert color != "rgb(255, 0, 0)"
    page.screenshot(path=str(screenshots / "widget.png"))

    widget_ask_again = page.locator("#zhiwen-widget textarea")
    widget_ask_again.fill(XSS_QUESTION)
    widget_ask_again.press("Enter")
    second = page.locator("#zhiwen-widget .bot").nth(1)
    expect(second).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#zhiwen-widget .log img, #zhiwen-widget .log script").count() == 0
    assert not xss_fired(page)


@pytest.mark.browser
def test_widget_is_refused_from_an_origin_not_allowed(
    desktop: BrowserContext, api_same_origin: ApiServer, widget_site: StaticSite
) -> None:
    page = desktop.new_page()
    page.goto(widget_page(widget_site, "refused.html", api_same_origin.url))
    widget_ask(page, Q_SAFETY)
    reply = page.locator("#zhiwen-widget .bot").last
    expect(reply).to_have_attribute("data-done", "error", timeout=ANSWER_TIMEOUT_MS)
    expect(reply).to_have_class(re.compile(r"\berror\b"))
    expect(reply).to_contain_text("跨域")
    assert "172" not in reply.inner_text()


# -- HTTP level: pages, assets, CORS -------------------------------------------------------------


def test_pages_and_assets_are_served(api: ApiServer) -> None:
    page = httpx.get(f"{api.url}/", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "知问" in page.text
    report = httpx.get(f"{api.url}/reports/000_cfe86b6ecbc402ed?start=1&end=9", timeout=30)
    assert report.status_code == 200 and "report.js" in report.text
    widget = httpx.get(f"{api.url}/widget.js", timeout=30)
    assert widget.status_code == 200
    assert "javascript" in widget.headers["content-type"]
    for name in ("app.js", "filters.js", "report.js", "upload.js", "style.css"):
        assert httpx.get(f"{api.url}/static/{name}", timeout=30).status_code == 200
    for bad in ("nope.js", "..%2Fapp.py", ".hidden.js", "chat.py"):
        response = httpx.get(f"{api.url}/static/{bad}", timeout=30)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{url}/v1/chat/completions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )


def test_cors_allows_only_configured_origins(
    api: ApiServer, api_same_origin: ApiServer, widget_site: StaticSite
) -> None:
    allowed = _preflight(api.url, widget_site.url)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == widget_site.url
    other = _preflight(api.url, "http://127.0.0.1:9")
    assert "access-control-allow-origin" not in other.headers
    # refused in the service's JSON error body, like every other error
    assert other.status_code == 400 and other.headers["content-type"] == "application/json"
    assert other.json()["error"]["code"] == "cors_refused"
    assert "origin" in other.json()["error"]["message"]
    default = _preflight(api_same_origin.url, widget_site.url)
    assert "access-control-allow-origin" not in default.headers
    assert default.status_code == 400 and default.json()["error"]["code"] == "cors_refused"  # as documented
    simple = httpx.get(f"{api.url}/v1/models", headers={"Origin": widget_site.url}, timeout=30)
    assert simple.headers["access-control-allow-origin"] == widget_site.url
