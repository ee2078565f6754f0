"""The chat page's scope chips in headless Chromium (issues 15 and 32).

Automatic chips (自动) show the places the last question was read as naming — the answer's
``question_places`` — and are never sent as a filter: each answer replaces them, so a question
about another place, or about none, is answered exactly as an unfiltered ``/v1/ask`` answers it.
Chips set by hand (the 筛选 panel, or an automatic chip clicked to pin it) are the request's
``filters`` until removed. Filters that select no report give the no-report message and a button
that asks again without them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect

from tests.web.conftest import ApiServer
from tests.web.test_browser import ANSWER_TIMEOUT_MS, Q_FISHERY, Q_FOLLOW, Q_SAFETY

GENERIC = "社区怎样帮助老年人解决吃饭问题？"  # names no place; several reports' passages come back
Q_THEME = "哪些街道开展了主题党日活动？"  # names no place (街道 alone is none); asks across reports
Q_NO_PLACE = "党建示范点是哪个社区？"  # names no place, answered (唐家庄社区)
WANGGEZHUANG = "002_8c245bf9f2fc8f5a"
HUDAO = "003_417ad2edf06574dc"
Span = tuple[str, int, int]


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield context
    context.close()


def chat_bodies(page: Page) -> list[dict[str, Any]]:
    """The JSON bodies the page posts to /v1/chat/completions, in order, as they are sent."""
    bodies: list[dict[str, Any]] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and urlparse(request.url).path == "/v1/chat/completions":
            bodies.append(request.post_data_json)

    page.on("request", on_request)
    return bodies


def ask(page: Page, question: str, n: int) -> Locator:
    """Ask, wait for the ``n``-th answer (1-based) and return it."""
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    answer = page.locator(".msg-assistant").nth(n - 1)
    expect(answer).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    return answer


def doc_of(href: str) -> str:
    return unquote(urlparse(href).path.rsplit("/", 1)[-1])


def sources(answer: Locator) -> set[str]:
    """The reports an answer's citations and retrieved passages come from."""
    links = answer.locator("a.cite-num, a.p-title")
    return {doc_of(h) for h in links.evaluate_all("els => els.map(e => e.href)")}


def page_spans(answer: Locator) -> dict[int, Span]:
    """Each citation of a rendered answer, by number: report and span, from its chip's link."""
    found: dict[int, Span] = {}
    for n, href in answer.locator("a.cite-num").evaluate_all("els => els.map(e => [e.dataset.n, e.href])"):
        query = parse_qs(urlparse(href).query)
        found[int(n)] = (doc_of(href), int(query["start"][0]), int(query["end"][0]))
    return found


def unfiltered_spans(api: ApiServer, question: str) -> dict[int, Span]:
    """The citations ``/v1/ask`` gives the question with no filter and no conversation."""
    body = httpx.post(f"{api.url}/v1/ask", json={"question": question}, timeout=120).json()
    return {c["n"]: (c["doc_id"], c["start"], c["end"]) for c in body["citations"]}


def auto_chips(page: Page) -> list[str]:
    return page.locator(".filter-chip.auto .filter-label").all_inner_texts()


@pytest.mark.browser
def test_automatic_chips_show_the_scope_and_never_filter(
    desktop: BrowserContext, api: ApiServer, screenshots: Path
) -> None:
    page = desktop.new_page()
    bodies = chat_bodies(page)
    page.goto(f"{api.url}/")
    expect(page.locator("#filter-toggle")).to_be_visible()  # the facets loaded

    # a question naming 九水街道 shows it as the scope it was read with...
    ask(page, Q_SAFETY, 1)
    expect(page.locator(".filter-chip")).to_have_count(1)
    assert auto_chips(page) == ["九水街道"]
    expect(page.locator(".filter-chip.auto")).to_contain_text("自动")
    page.screenshot(path=str(screenshots / "filter-chips.png"))
    # ...and the next question, about every 街道, is not narrowed to it
    theme = ask(page, Q_THEME, 2)
    assert page_spans(theme) == unfiltered_spans(api, Q_THEME)
    expect(page.locator(".filter-chip")).to_have_count(0)  # it names no place

    page.locator("#new-chat").click()
    expect(page.locator(".filter-chip")).to_have_count(0)
    ask(page, Q_SAFETY, 1)
    # a question about another place replaces the chip and is answered as if asked alone
    fishery = ask(page, Q_FISHERY, 2)
    assert page_spans(fishery) == unfiltered_spans(api, Q_FISHERY)
    assert auto_chips(page) == ["王哥庄街道"]
    # a follow-up that refers back keeps the place: the server resolved it
    ask(page, Q_FOLLOW, 3)
    assert auto_chips(page) == ["王哥庄街道"]
    assert len(bodies) == 5 and all("filters" not in b for b in bodies), bodies

    # clicked, the automatic chip is pinned: a hand chip, sent as a filter until removed
    page.locator(".filter-chip.auto").click()
    expect(page.locator(".filter-chip.auto")).to_have_count(0)
    expect(page.locator(".filter-chip .filter-remove")).to_have_count(1)
    assert sources(ask(page, GENERIC, 4)) <= {WANGGEZHUANG}
    assert bodies[-1]["filters"] == {"places": ["王哥庄街道"]}
    expect(page.locator(".filter-chip")).to_have_count(1)  # GENERIC names no place: no auto chip
    page.locator(".filter-chip .filter-remove").click()
    expect(page.locator(".filter-chip")).to_have_count(0)
    unfiltered = sources(ask(page, GENERIC, 5))
    assert "filters" not in bodies[-1]
    assert len(unfiltered) > 1, unfiltered

    # chosen by hand from the panel: it holds while questions name other places
    page.locator("#filter-toggle").click()
    page.locator("#filter-place").select_option("湖岛街道")
    expect(page.locator(".filter-chip")).to_have_count(1)
    assert sources(ask(page, GENERIC, 6)) <= {HUDAO}
    ask(page, Q_FISHERY, 7)
    assert bodies[-1]["filters"] == {"places": ["湖岛街道"]}
    expect(page.locator(".filter-chip:not(.auto)")).to_have_text("湖岛街道×")
    assert auto_chips(page) == ["王哥庄街道"]

    page.locator("#new-chat").click()
    expect(page.locator(".filter-chip")).to_have_count(0)


@pytest.mark.browser
def test_filters_that_select_no_report_offer_to_ask_without_them(
    desktop: BrowserContext, api: ApiServer, screenshots: Path
) -> None:
    page = desktop.new_page()
    bodies = chat_bodies(page)
    page.goto(f"{api.url}/")
    page.locator("#filter-toggle").click()
    page.locator("#filter-from").fill("1990-01-01")  # every bundled report is dated after 2017
    page.locator("#filter-to").fill("1990-12-31")
    expect(page.locator(".filter-chip")).to_have_count(2)

    first = ask(page, Q_NO_PLACE, 1)
    assert bodies[-1]["filters"] == {"date_from": "1990-01-01", "date_to": "1990-12-31"}
    expect(first.locator(".answer")).to_contain_text("所选筛选条件下没有任何报告")
    expect(first.locator(".cite-group")).to_have_count(0)
    retry = first.locator(".retry-unfiltered")
    expect(retry).to_have_text("去掉筛选，重新查找")
    page.screenshot(path=str(screenshots / "filtered-out.png"))

    retry.click()
    second = page.locator(".msg-assistant").nth(1)
    expect(second).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    assert "filters" not in bodies[-1]
    # asked again as itself: the filtered-out turn is not sent as history
    assert bodies[-1]["messages"] == [{"role": "user", "content": Q_NO_PLACE}]
    expect(second.locator(".answer")).to_contain_text("唐家庄")
    expect(second.locator(".answer")).not_to_contain_text("筛选")
    expect(second.locator(".retry-unfiltered")).to_have_count(0)
    assert page_spans(second) == unfiltered_spans(api, Q_NO_PLACE)
    expect(page.locator(".filter-chip")).to_have_count(0)
    assert page.locator("#filter-from").input_value() == ""
    expect(page.locator(".msg-user")).to_have_count(2)
