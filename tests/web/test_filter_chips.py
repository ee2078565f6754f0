"""The chat page's filter chips in headless Chromium: a question naming a 街道 adds its chip and
is answered from that 街道's report only; a chip chosen by hand narrows a question that names no
place; removing a chip widens the next question again (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.web.conftest import ApiServer
from tests.web.test_browser import ANSWER_TIMEOUT_MS

GENERIC = "社区怎样帮助老年人解决吃饭问题？"  # names no place; several reports speak of it


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield context
    context.close()


def ask(page: Page, question: str, n: int) -> set[str]:
    """Ask, wait for the ``n``-th answer; the reports its citations and passages come from."""
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    answer = page.locator(".msg-assistant").nth(n - 1)
    expect(answer).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    links = answer.locator("a.cite-chip, a.p-title")
    return {unquote(urlparse(h).path.rsplit("/", 1)[-1]) for h in links.evaluate_all("els => els.map(e => e.href)")}


@pytest.mark.browser
def test_filter_chips_change_what_is_cited(desktop: BrowserContext, api: ApiServer, screenshots: Path) -> None:
    page = desktop.new_page()
    page.goto(f"{api.url}/")
    expect(page.locator("#filter-toggle")).to_be_visible()  # the facets loaded

    unfiltered = ask(page, GENERIC, 1)
    assert len(unfiltered) > 1, unfiltered
    expect(page.locator(".filter-chip")).to_have_count(0)

    # a question naming a 街道: its chip appears by itself and every source is that report's
    cited = ask(page, "王哥庄街道2018年渔业总产值是多少？", 2)
    chip = page.locator(".filter-chip.auto")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("王哥庄街道")
    assert cited == {"002_8c245bf9f2fc8f5a"}, cited
    page.screenshot(path=str(screenshots / "filter-chips.png"))
    # the chip holds for the follow-up, which names no place
    assert ask(page, GENERIC, 3) <= {"002_8c245bf9f2fc8f5a"}

    # removed, the next question is answered from every report again
    page.locator(".filter-chip .filter-remove").click()
    expect(page.locator(".filter-chip")).to_have_count(0)
    assert ask(page, GENERIC, 4) == unfiltered

    # chosen by hand from the panel
    page.locator("#filter-toggle").click()
    page.locator("#filter-place").select_option("湖岛街道")
    expect(page.locator(".filter-chip")).to_have_count(1)
    assert ask(page, GENERIC, 5) <= {"003_417ad2edf06574dc"}

    page.locator("#new-chat").click()
    expect(page.locator(".filter-chip")).to_have_count(0)
