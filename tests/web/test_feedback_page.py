"""Feedback in the browser (headless Chromium): under an answer of the chat page and of the widget,
👎 opens the correction form, the correction is sent, the buttons say so, and
``zhiwen feedback export`` (the real CLI) writes it as a QA line that eval's loader reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from eval.data import load_qa
from tests.web.conftest import ApiServer, StaticSite

ROOT = Path(__file__).resolve().parents[2]
Q_SAFETY = "九水街道共有多少处安全隐患被整改？"  # dev02: 172处
Q_FISHERY = "王哥庄街道2018年渔业总产值是多少？"  # dev11: 5.73亿元
SAFETY_DOC = "000_cfe86b6ecbc402ed"
ANSWER_TIMEOUT_MS = 90_000
EXPORT_TIMEOUT_S = 120


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield context
    context.close()


def export(api: ApiServer, index_dir: Path, out: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    """Run ``zhiwen feedback export`` on the server's database; the lines by question, checked
    with eval's own loader."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    done = subprocess.run(
        [sys.executable, "-m", "zhiwen.cli", "feedback", "export", "--db", str(api.feedback_db),
         "--index", str(index_dir), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    assert load_qa(out).queries  # `zhiwen eval --qa` reads it
    return {r["question"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


def send_correction(
    bubble: Locator, field: Locator, text: str, screenshot: Path | None = None
) -> None:
    down = bubble.locator(".fb-down")
    expect(down).to_be_visible()
    down.click()
    expect(down).to_have_attribute("aria-expanded", "true")
    expect(field).to_be_visible()
    expect(field).to_be_focused()
    field.fill(text)
    if screenshot is not None:
        bubble.page.screenshot(path=str(screenshot))
    bubble.locator(".fb-submit").click()


@pytest.mark.browser
def test_chat_page_thumbs_down_correction_reaches_the_export(
    desktop: BrowserContext, api: ApiServer, web_index_dir: Path, tmp_path: Path,
    screenshots: Path,
) -> None:
    page: Page = desktop.new_page()
    page.goto(f"{api.url}/")
    page.locator("#question").fill(Q_SAFETY)
    page.locator("#question").press("Enter")
    bubble = page.locator(".msg-assistant").first
    expect(bubble).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    form = bubble.locator(".fb-form")
    expect(form).to_be_hidden()
    # the correction holds markup: it is sent as text and nothing runs
    correction = '172处<img src=x onerror="window.__xss=1">'
    send_correction(bubble, form.locator("textarea"), correction,
                    screenshot=screenshots / "feedback-form.png")
    bar = bubble.locator(".feedback")
    expect(bar).to_have_attribute("data-sent", "down", timeout=30_000)
    expect(bar.locator(".fb-status")).to_have_text("已提交更正，谢谢！")
    expect(bubble.locator(".fb-down")).to_have_attribute("aria-pressed", "true")
    expect(bubble.locator(".fb-up")).to_be_disabled()
    expect(form).to_be_hidden()
    assert page.evaluate("() => window.__xss === undefined")
    page.screenshot(path=str(screenshots / "feedback.png"))

    row = export(api, web_index_dir, tmp_path / "qa.jsonl")[Q_SAFETY]
    assert row["answers"] == [correction] and row["type"] == "feedback-correction"
    # the corrected text is in no report: the gold report is the one the answer cited
    assert row["doc"] == SAFETY_DOC and row["evidence"] == []


@pytest.mark.browser
def test_widget_thumbs_down_correction_reaches_the_export(
    desktop: BrowserContext, api: ApiServer, widget_site: StaticSite, web_index_dir: Path,
    tmp_path: Path,
) -> None:
    page = desktop.new_page()
    url = widget_site.write("feedback.html", (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>门户</title></head>'
        f'<body><script src="{api.url}/widget.js" defer></script></body></html>'))
    page.goto(url)
    page.locator("#zhiwen-widget .launcher").click()
    question_box = page.locator("#zhiwen-widget textarea")
    question_box.fill(Q_FISHERY)
    question_box.press("Enter")
    bubble = page.locator("#zhiwen-widget .bot").last
    expect(bubble).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT_MS)
    send_correction(bubble, bubble.locator(".fb-answer"), "5.73亿元")
    bar = bubble.locator(".fb")
    expect(bar).to_have_attribute("data-sent", "down", timeout=30_000)
    expect(bar.locator(".fb-status")).to_have_text("已提交更正，谢谢！")

    row = export(api, web_index_dir, tmp_path / "qa.jsonl")[Q_FISHERY]
    assert row["answers"] == ["5.73亿元"] and row["evidence"] == ["5.73亿元"]
    assert row["doc"]
