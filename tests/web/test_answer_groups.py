"""How the chat page and the widget show an answer's citations (issue 32): one chip per report,
listing the numbers of its citations, each number still opening its own span; and a list answer
(「哪些街道…」) as one block per report — its place, its quotes, its chip — instead of flat text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.web.conftest import ApiServer, StaticSite
from tests.web.test_browser import (
    ANSWER_TIMEOUT_MS,
    Q_FISHERY,
    norm,
    widget_ask,
    widget_page,
)

Q_LIST = "哪些街道开展了主题党日活动？"  # several reports each state it: a list answer


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield context
    context.close()


def ask_api(api: ApiServer, question: str) -> dict[str, Any]:
    response = httpx.post(f"{api.url}/v1/ask", json={"question": question}, timeout=120)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def numbers_by_report(citations: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Citation numbers per report, reports in the order first cited."""
    found: dict[str, list[str]] = {}
    for c in citations:
        found.setdefault(c["doc_id"], []).append(str(c["n"]))
    return found


def label_of(answer: str, group: dict[str, Any]) -> str:
    """What the answer's line for ``group`` calls it: 「2. 崮云湖街道：…[3]」 → 崮云湖街道."""
    marker = f"[{group['citations'][0]['n']}]"
    line = next(line for line in answer.splitlines() if marker in line)
    return re.sub(r"^\d+\.\s*", "", line).split("：", 1)[0]


def ask_page(page: Page, question: str) -> Locator:
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    answer = page.locator(".msg-assistant").last
    expect(answer).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    return answer


def chip_numbers(chips: Locator) -> list[list[str]]:
    """Per chip (``.cite-group``), the numbers it lists."""
    return [
        chip.locator("a.cite-num").evaluate_all("els => els.map(e => e.dataset.n)")
        for chip in chips.all()
    ]


@pytest.mark.browser
def test_a_report_cited_twice_gets_one_chip(
    desktop: BrowserContext, api: ApiServer, widget_site: StaticSite, screenshots: Path
) -> None:
    expected = ask_api(api, Q_FISHERY)
    by_report = numbers_by_report(expected["citations"])
    assert any(len(ns) > 1 for ns in by_report.values()), by_report  # the case under test

    page = desktop.new_page()
    page.goto(f"{api.url}/")
    answer = ask_page(page, Q_FISHERY)
    chips = answer.locator(".sources .cite-group")
    expect(chips).to_have_count(len(by_report))
    assert chip_numbers(chips) == list(by_report.values())
    expect(answer.locator(".sources .cite-chip")).to_have_count(len(by_report))
    page.screenshot(path=str(screenshots / "chat-collapsed-chips.png"))

    # each number still opens its own span, highlighted
    last = expected["citations"][-1]
    number = chips.locator(f"a.cite-num[data-n='{last['n']}']")
    assert f"start={last['start']}&end={last['end']}" in (number.get_attribute("href") or "")
    with desktop.expect_page() as opened:
        number.click()
    report = opened.value
    expect(report.locator("#report")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(report.locator("#report-text mark")).to_have_count(1)
    assert norm(report.locator("#report-text mark").inner_text()) == norm(last["quote"])

    # the widget collapses them the same way
    host = desktop.new_page()
    host.goto(widget_page(widget_site, "collapsed.html", api.url))
    widget_ask(host, Q_FISHERY)
    reply = host.locator("#zhiwen-widget .bot").last
    expect(reply).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    expect(reply.locator(".refg")).to_have_count(len(by_report))
    expect(reply.locator(".refg a.n")).to_have_count(len(expected["citations"]))
    expect(reply.locator(".ref")).to_have_count(len(by_report))


@pytest.mark.browser
def test_a_list_answer_is_shown_one_block_per_report(
    desktop: BrowserContext, api: ApiServer, widget_site: StaticSite, screenshots: Path
) -> None:
    expected = ask_api(api, Q_LIST)
    groups = expected["groups"]
    assert expected["answer_kind"] == "list" and len(groups) > 1, expected["answer"]

    page = desktop.new_page()
    page.goto(f"{api.url}/")
    answer = ask_page(page, Q_LIST)
    blocks = answer.locator(".answer-group")
    expect(blocks).to_have_count(len(groups))
    expect(answer.locator(".sources")).to_have_count(0)  # the chips are in the blocks
    lead = expected["answer"].split("\n", 1)[0]  # 「7 份报告中有 3 份提到：」, citing nothing
    assert not re.search(r"\[\d+\]", lead), lead
    expect(answer.locator(".answer")).to_have_text(lead)
    for block, group in zip(blocks.all(), groups, strict=True):
        # headed by the place its line of the answer names it by (「1. 王哥庄街道：…」), one of its
        # places, though not always the first the indexer found (崂山区 comes before 王哥庄街道)
        heading = label_of(expected["answer"], group)
        assert heading in group["places"], (heading, group["places"])
        expect(block.locator(".group-name")).to_have_text(heading)
        numbers = [str(c["n"]) for c in group["citations"]]
        expect(block.locator(".cite-group")).to_have_count(1)
        assert chip_numbers(block.locator(".cite-group")) == [numbers]
        quotes = block.locator(".group-quotes li")
        expect(quotes).to_have_count(len(numbers))
        for quote, c in zip(quotes.all(), group["citations"], strict=True):
            assert norm(c["quote"]) in norm(quote.inner_text())
            expect(quote.locator("a.cite-ref")).to_have_text(str(c["n"]))
    page.screenshot(path=str(screenshots / "chat-list-answer.png"))

    host = desktop.new_page()
    host.goto(widget_page(widget_site, "grouped.html", api.url))
    widget_ask(host, Q_LIST)
    reply = host.locator("#zhiwen-widget .bot").last
    expect(reply).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    items = reply.locator(".groups > li")
    expect(items).to_have_count(len(groups))
    for item, group in zip(items.all(), groups, strict=True):
        expect(item.locator(".gh strong")).to_have_text(label_of(expected["answer"], group))
        expect(item.locator(".refg")).to_have_count(1)
        expect(item.locator(".refg a.n")).to_have_count(len(group["citations"]))
