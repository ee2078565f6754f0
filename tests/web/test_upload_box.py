"""The chat page's upload box in headless Chromium, against a real ``zhiwen serve`` with write keys
over its own copy of the corpus and index: a Word report uploaded from the page answers the next
question with a citation of it, and is replaced after a confirm; refused files say why, one line
each; without a valid key the page asks for one and says that uploads need it; a server without
keys says uploads are disabled."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    FilePayload,
    Locator,
    Page,
    expect,
)

from tests.indexer.documents import to_docx
from tests.kb import make_kb
from tests.web.conftest import ApiServer, answer_key_dialog, start_api_server
from tests.web.test_browser import ANSWER_TIMEOUT_MS, ask_in_chat, norm, xss_fired

UPLOAD_KEY = "web-upload-key-4b7d1e"
UPLOAD_TIMEOUT_MS = 120_000  # the server reads, chunks and embeds the file before it answers
WAIT_MS = 30_000  # everything else the page does
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# A report no bundled one resembles: only it can answer PARKS_QUESTION. A Chinese file name is
# the report's id, so the revised file with the same name replaces it.
PARKS_ID = "云栖湾街道口袋公园建设"
PARKS_REPORT = """云栖湾街道新建口袋公园12座

2021年12月20日

记者 程远帆

今年以来，云栖湾街道利用拆违腾退的边角地块新建口袋公园12座，新增绿地面积约1.8万平方米，让居民出门五分钟就能走进绿色。

街道城建办负责人介绍，每座口袋公园都配有健身器材、儿童游乐设施和休息座椅，并由社区志愿者认领日常维护。
"""
PARKS_QUESTION = "云栖湾街道2021年新建了多少座口袋公园？"
XSS_NAME = '<img src=x onerror="window.__xss=1">.exe'


@pytest.fixture(scope="module")
def upload_api(
    web_index_dir: Path, web_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A server that takes writes (ZHIWEN_API_KEYS) over a copy of the web corpus and index: the
    uploads never reach the session index the other web tests read."""
    root = tmp_path_factory.mktemp("upload-web")
    dirs = make_kb(web_index_dir, root / "kb", reports_dir=web_corpus_dir)
    server = start_api_server(
        dirs.index, root, None, ZHIWEN_API_KEYS=UPLOAD_KEY, ZHIWEN_CORPUS_DIR=str(dirs.corpus),
        ZHIWEN_MAX_TEXT_BYTES=str(1024 * 1024)
    )
    yield server
    server.stop()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


def docx_of(text: str, tmp_path: Path) -> bytes:
    source = tmp_path / "report.txt"
    source.write_text(text, encoding="utf-8")
    return to_docx(source)


def report_count(api: ApiServer) -> int:
    return int(httpx.get(f"{api.url}/v1/documents", timeout=30).json()["total"])


def open_upload_panel(page: Page) -> None:
    page.locator("#upload-toggle").click()
    expect(page.locator("#upload-panel")).to_be_visible()
    expect(page.locator("#upload-toggle")).to_have_attribute("aria-expanded", "true")


def upload_row(page: Page, name: str) -> Locator:
    return page.locator("#upload-list .upload-item", has_text=name)


@pytest.mark.browser
def test_an_uploaded_word_report_answers_and_can_be_replaced(
    desktop: BrowserContext, upload_api: ApiServer, tmp_path: Path, screenshots: Path
) -> None:
    prompts: list[str] = []
    keys: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        prompts.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    desktop.on("dialog", on_dialog)
    before = report_count(upload_api)
    page = desktop.new_page()
    answer_key_dialog(page, UPLOAD_KEY, keys)
    page.goto(f"{upload_api.url}/")
    expect(page.locator("#corpus-note")).to_have_text(f"已收录 {before} 篇报告")
    open_upload_panel(page)
    expect(page.locator("#upload-choose")).to_be_focused()
    expect(page.locator("#upload-access")).to_contain_text("上传需要访问密钥")
    accept = page.locator("#upload-file").get_attribute("accept") or ""
    assert {".docx", ".pdf", ".txt", ".png"} <= set(accept.split(","))

    page.locator("#upload-file").set_input_files(
        {"name": f"{PARKS_ID}.docx", "mimeType": DOCX, "buffer": docx_of(PARKS_REPORT, tmp_path)}
    )
    row = upload_row(page, f"{PARKS_ID}.docx")
    expect(row).to_have_attribute("data-state", "done", timeout=UPLOAD_TIMEOUT_MS)
    expect(row.locator(".upload-status")).to_have_text(f"已加入：{PARKS_ID}，可直接提问")
    assert keys == ["此服务需要访问密钥，请输入。"] and prompts == []  # the 401 asked for the key once
    expect(page.locator("#corpus-note")).to_have_text(f"已收录 {before + 1} 篇报告")
    page.screenshot(path=str(screenshots / "upload.png"))

    page.keyboard.press("Escape")
    expect(page.locator("#upload-panel")).to_be_hidden()
    expect(page.locator("#upload-toggle")).to_be_focused()
    answer = ask_in_chat(page, PARKS_QUESTION, 1)
    assert "12座" in norm(answer)
    cites = page.locator(f'.msg-assistant .cite-chip[href^="/reports/{quote(PARKS_ID, safe="")}?"]')
    expect(cites.first).to_be_visible()

    # the same name again: the server answers 409; 替换 asks first, then replaces the report
    open_upload_panel(page)
    page.locator("#upload-file").set_input_files(
        {"name": f"{PARKS_ID}.docx", "mimeType": DOCX,
         "buffer": docx_of(PARKS_REPORT.replace("12座", "15座"), tmp_path)}
    )
    again = upload_row(page, f"{PARKS_ID}.docx").nth(1)
    expect(again).to_have_attribute("data-state", "exists", timeout=UPLOAD_TIMEOUT_MS)
    expect(again.locator(".upload-status")).to_have_text(f"已有同名报告「{PARKS_ID}」")
    expect(again.locator(".upload-detail")).to_be_hidden()  # nothing more to say, never in English
    again.get_by_role("button", name="替换").click()
    expect(again).to_have_attribute("data-state", "done", timeout=UPLOAD_TIMEOUT_MS)
    expect(again.locator(".upload-status")).to_have_text(f"已替换：{PARKS_ID}，可直接提问")
    assert prompts == [f"confirm: 用 {PARKS_ID}.docx 替换已收录的报告「{PARKS_ID}」？"
                           "替换后回答不再引用旧内容。"]
    expect(page.locator("#corpus-note")).to_have_text(f"已收录 {before + 1} 篇报告")
    page.locator("#upload-close").click()
    answer = ask_in_chat(page, PARKS_QUESTION, 2)
    assert "15座" in norm(answer) and "12座" not in norm(answer)
    ids = [d["doc_id"] for d in httpx.get(f"{upload_api.url}/v1/documents", timeout=30).json()["documents"]]
    assert ids.count(PARKS_ID) == 1  # one report under the file's own name, never a content hash


# File names and the ids they give: the page's rule (upload.js) must be the server's
# (indexer.ingest.corpus.doc_id_from_name), or a 409 would name a report the page cannot replace.
NAMES = ["海棠街道民生工作总结.docx", "000_cfe86b6ecbc402ed.txt", "report v2.1.pdf", "../etc/passwd.txt",
         ".hidden.md", "《报告》（修订稿）.docx", "📄报告.png", "a:b*c?.html", "-rf.txt", "   .txt",
         "x" * 200 + ".txt", "Ｆｕｌｌ　ｗｉｄｔｈ.docx", "e\u0301t\u00e9.txt", "二〇二一年总结.docx"]


@pytest.mark.browser
def test_the_page_names_a_file_as_the_server_does(desktop: BrowserContext, upload_api: ApiServer) -> None:
    from indexer.ingest.corpus import doc_id_from_name

    page = desktop.new_page()
    page.goto(f"{upload_api.url}/")
    for name in NAMES:
        base = name.rsplit("/", 1)[-1]  # as service.api.uploads reads a file's name
        stem, dot, _ext = base.rpartition(".")
        stem = stem if dot and stem else base
        assert page.evaluate("n => window.zhiwenDocIdOf(n)", name) == doc_id_from_name(stem), name


@pytest.mark.browser
def test_refused_files_say_why_and_the_rest_still_upload(
    desktop: BrowserContext, upload_api: ApiServer, screenshots: Path
) -> None:
    """With the key already stored no prompt appears; an empty file and a program get the
    server's reasons on their own lines (a name holding markup stays text), and the next file in
    the same selection is added all the same. A dropped file over the size limit gets its 413."""
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page = desktop.new_page()
    page.on("dialog", on_dialog)
    page.goto(f"{upload_api.url}/")
    page.evaluate("key => sessionStorage.setItem('zhiwen.apiKey', key)", UPLOAD_KEY)
    page.reload()
    open_upload_panel(page)
    # the hint states the server's own limits (/v1/index "uploads")
    expect(page.locator("#upload-formats")).to_contain_text("上限：文本、网页、Markdown 1.0 MB")
    notes = "# 柳溪社区开设老年食堂\n\n柳溪社区老年食堂每天供应午餐300份，七十岁以上老人每餐补贴5元。\n"
    files: list[FilePayload] = [
        {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
        {"name": XSS_NAME, "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00" * 64},
        {"name": "liuxi-canteen.md", "mimeType": "text/markdown", "buffer": notes.encode("utf-8")},
    ]
    page.locator("#upload-file").set_input_files(files)
    empty, program, markdown = (page.locator("#upload-list .upload-item").nth(i) for i in range(3))
    expect(markdown).to_have_attribute("data-state", "done", timeout=UPLOAD_TIMEOUT_MS)
    expect(markdown.locator(".upload-status")).to_have_text("已加入：liuxi-canteen，可直接提问")
    expect(empty).to_have_attribute("data-state", "error")
    expect(empty.locator(".upload-status")).to_have_text("未能加入：无法读取该文件")
    expect(empty.locator(".upload-detail")).to_have_text("原因：报告内容不能为空")
    expect(program).to_have_attribute("data-state", "error")
    expect(program.locator(".upload-status")).to_have_text("未能加入：不支持的文件格式")
    expect(program.locator(".upload-detail")).to_have_text("原因：无法读取该文件：格式不受支持，或文件已损坏、加密")
    expect(program.locator(".upload-name .file")).to_have_text(XSS_NAME)
    assert page.locator("#upload-panel img, #upload-panel script").count() == 0
    assert not xss_fired(page)
    # a file dropped on the box goes the same way; this one is over the server's size limit
    transfer = page.evaluate_handle("""() => {
        const files = new DataTransfer();
        files.items.add(new File([new Uint8Array(3 * 1024 * 1024)], "huge.pdf"));
        return files;
    }""")
    page.locator("#upload-drop").dispatch_event("drop", {"dataTransfer": transfer})
    huge = upload_row(page, "huge.pdf")
    expect(huge).to_have_attribute("data-state", "error", timeout=UPLOAD_TIMEOUT_MS)
    expect(huge.locator(".upload-status")).to_have_text("未能加入：文件太大，超过服务器允许的上传大小")
    expect(huge.locator(".upload-detail")).to_have_text("原因：文件或内容太大，超过服务器允许的上限")
    assert dialogs == []
    page.screenshot(path=str(screenshots / "upload-errors.png"))
    # the page still answers
    assert "300份" in norm(ask_in_chat(page, "柳溪社区老年食堂每天供应多少份午餐？", 1))


@pytest.mark.browser
def test_without_a_valid_key_the_page_asks_and_says_uploads_need_one(
    desktop: BrowserContext, upload_api: ApiServer
) -> None:
    """Keyboard only: the box opens with Enter, the file picker from 选择文件. Refusing the
    prompt, then giving a wrong key, adds nothing and says why each time."""
    prompts: list[str] = []
    before = report_count(upload_api)
    page = desktop.new_page()
    answer_key_dialog(page, ["", "not-the-key", ""], prompts)
    # playwright turns on file chooser interception when the first listener is added, without
    # waiting for it: one added now makes sure the chooser below is intercepted, not lost
    page.on("filechooser", lambda _chooser: None)
    page.goto(f"{upload_api.url}/")
    page.locator("#upload-toggle").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#upload-choose")).to_be_focused()
    with page.expect_file_chooser(timeout=WAIT_MS) as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(
        {"name": "nokey.txt", "mimeType": "text/plain", "buffer": "无钥街道的报告。".encode()}
    )
    row = upload_row(page, "nokey.txt")
    expect(row.locator(".upload-status")).to_have_text("未上传：上传需要访问密钥")
    expect(row.locator(".upload-detail")).to_be_hidden()
    assert prompts == ["此服务需要访问密钥，请输入。"]

    row.get_by_role("button", name="输入密钥后重试").click()
    expect(row.locator(".upload-status")).to_have_text("未上传：访问密钥无效，无法上传")
    expect(row).to_have_attribute("data-state", "error")
    assert len(prompts) == 3 and "无效" in prompts[2]
    assert report_count(upload_api) == before
    expect(page.locator("#corpus-note")).to_have_text(f"已收录 {before} 篇报告")


@pytest.mark.browser
def test_a_server_without_keys_says_uploads_are_disabled(
    desktop: BrowserContext, api: ApiServer
) -> None:
    page = desktop.new_page()
    page.goto(f"{api.url}/")
    open_upload_panel(page)
    expect(page.locator("#upload-access")).to_contain_text("本服务器未开启上传")
    expect(page.locator("#upload-choose")).to_be_disabled()
    expect(page.locator("#upload-close")).to_be_focused()
    page.keyboard.press("Enter")  # the close button
    expect(page.locator("#upload-panel")).to_be_hidden()
    # the chat is unaffected
    page.locator(".example").first.click()
    expect(page.locator(".msg-assistant").first).to_have_attribute(
        "data-done", "true", timeout=ANSWER_TIMEOUT_MS
    )


@pytest.mark.browser
def test_a_long_upload_shows_its_stage_and_progress(
    desktop: BrowserContext, upload_api: ApiServer, tmp_path: Path
) -> None:
    """A Word file large enough to take seconds: its line shows a progress bar and the stage the
    job is in (读取, 切分, 生成向量 n/N …) before it says it was added."""
    paragraphs = [f"第{i}次居民议事会在云岭街道召开，{i % 7 + 2}个社区的{i * 3 + 11}名居民代表参加，"
                  f"围绕停车、加装电梯和垃圾分类提出建议{i % 5 + 1}条，当场答复{i % 4 + 1}条。"
                  for i in range(400)]
    text = "云岭街道居民议事会年度汇编\n\n" + "\n\n".join(paragraphs) + "\n"
    page = desktop.new_page()
    page.goto(f"{upload_api.url}/")
    page.evaluate("key => sessionStorage.setItem('zhiwen.apiKey', key)", UPLOAD_KEY)
    page.reload()
    open_upload_panel(page)
    page.locator("#upload-file").set_input_files(
        {"name": "云岭街道居民议事会汇编.docx", "mimeType": DOCX, "buffer": docx_of(text, tmp_path)})
    row = upload_row(page, "云岭街道居民议事会汇编.docx")
    expect(row.locator("progress.upload-progress")).to_be_visible(timeout=UPLOAD_TIMEOUT_MS)
    expect(row.locator(".upload-status")).to_have_text(re.compile(r"^正在(读取|切分|生成向量|发布)"))
    expect(row).to_have_attribute("data-state", "done", timeout=UPLOAD_TIMEOUT_MS)
    expect(row.locator(".upload-status")).to_have_text("已加入：云岭街道居民议事会汇编，可直接提问")
    expect(row.locator("progress.upload-progress")).to_be_hidden()
