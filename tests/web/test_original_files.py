"""Original files never run as active content on the service's origin (issue 36).

The attack as reported: a key scoped to one knowledge base uploads a web page (also one named
``.pdf``) whose script reads the key the admin page keeps, writes into the page and calls the API;
an admin who has entered a key on /admin opens ``/v1/documents/{id}/file`` in the same browser.
Here the file is a download, and even a browser that rendered it anyway (the download header
stripped on the way) runs none of its script: the CSP sandbox gives it an opaque origin. The key
lives in the admin tab's sessionStorage, never in localStorage. PDFs and images still open in
the browser, Chromium's PDF viewer included."""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Download, Page, Route, expect
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import REPORTS_DIR
from tests.indexer.documents import to_docx, to_html, to_markdown, to_pdf
from tests.kb import ELDERLY_V1
from tests.web.conftest import ApiServer, answer_key_dialog, start_api_server

pytestmark = pytest.mark.timeout(900)

REPORTS = sorted(REPORTS_DIR.glob("*.txt"))
ADMIN_KEY = "web-admin-key-files-7d41"
ALPHA_WRITER = "scoped-write-alpha-files-3e9b"  # may write (and so read) knowledge base alpha only
WAIT_MS = 30_000
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SANDBOX_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"

# The uploaded page: readable report text (so it is accepted and indexed) and a script that, if it
# ran on the service's origin, would steal the stored key three ways and mark the page.
HOSTILE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>港湾街道防汛工作通报</title></head>
<body><h1>港湾街道开展防汛应急演练</h1>
<p>2023年6月12日，港湾街道在滨海社区组织防汛应急演练，街道应急分队、社区网格员和志愿者共一百二十人参加。</p>
<p>演练模拟强降雨导致地下车库积水，队员们完成了人员转移、排水泵架设和物资调运等科目，用时四十分钟。</p>
<p>街道应急办主任孙海涛表示，汛期前将再排查低洼易涝点二十六处，确保辖区群众安全度汛。</p>
<script>
  var key = "";
  try { key = sessionStorage.getItem("zhiwen.apiKey") || localStorage.getItem("zhiwen.apiKey") || "none"; }
  catch (e) { key = "storage-refused"; }
  try { localStorage.setItem("xss-ran", key); } catch (e) {}
  document.title = "XSS-RAN " + key;
  var mark = document.createElement("p"); mark.id = "xss-marker"; mark.textContent = key;
  document.body.appendChild(mark);
  fetch("/v1/kbs?stolen=" + encodeURIComponent(key), {headers: {"Authorization": "Bearer " + key}});
  new Image().src = "/static/favicon.svg?stolen=" + encodeURIComponent(key);
</script></body></html>
"""


def _keys_file(path: Path) -> Path:
    digest = hashlib.sha256(ALPHA_WRITER.encode()).hexdigest()
    path.write_text(f'[[key]]\nsha256 = "{digest}"\nread = []\nwrite = ["alpha"]\n', encoding="utf-8")
    return path


def _png_of(pdf: bytes) -> bytes:
    """The top of the PDF's first page as a PNG (a picture of report text, for OCR)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        image = document[0].render(scale=1.2).to_pil().convert("L")
    finally:
        document.close()
    out = io.BytesIO()
    image.crop((0, 0, image.width, image.height // 2)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def files_api(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[ApiServer]:
    """A server whose corpus holds a report in each format, with an admin key and a key scoped
    to knowledge base alpha; reads are open (the default)."""
    from indexer.backends.local.build import build_index

    root = tmp_path_factory.mktemp("files-web")
    corpus = root / "reports"  # the server's corpus folder (server_env: <tmp>/reports)
    corpus.mkdir()
    pdf = to_pdf(REPORTS[4], root / "print.pdf")
    (corpus / f"{REPORTS[0].stem}.docx").write_bytes(to_docx(REPORTS[0]))
    (corpus / f"{REPORTS[1].stem}.md").write_text(to_markdown(REPORTS[1]), encoding="utf-8")
    (corpus / f"{REPORTS[2].stem}.html").write_text(to_html(REPORTS[2]), encoding="utf-8")
    shutil.copy(REPORTS[3], corpus / REPORTS[3].name)
    (corpus / f"{REPORTS[4].stem}.pdf").write_bytes(pdf)
    (corpus / "scan.png").write_bytes(_png_of(pdf))
    build_index(corpus, root / "index", embedder)
    server = start_api_server(root / "index", root, None, ZHIWEN_API_KEYS=ADMIN_KEY,
                              ZHIWEN_KEYS_FILE=str(_keys_file(root / "keys.toml")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostile(files_api: ApiServer) -> dict[str, str]:
    """Knowledge base alpha (made by the admin), then the scoped key's two hostile uploads into it:
    the page as ``.html`` and the same page named ``.pdf``. Returns file name → doc_id."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    scoped = {"Authorization": f"Bearer {ALPHA_WRITER}"}
    with httpx.Client(base_url=files_api.url, timeout=180) as client:
        created = client.post("/v1/kbs/alpha", headers=admin, json={
            "doc_id": "alpha-first", "text": ELDERLY_V1})
        assert created.status_code == 201, created.text
        # the scoped key may not write the default knowledge base, only its own
        refused = client.post("/v1/documents", headers=scoped,
                              files={"file": ("evil.html", HOSTILE_PAGE.encode(), "text/html")})
        assert refused.status_code == 403, refused.text
        ids = {}
        for name in ("evil.html", "evil.pdf"):
            posted = client.post("/v1/documents?kb=alpha", headers=scoped,
                                 data={"doc_id": name.replace(".", "-")},
                                 files={"file": (name, HOSTILE_PAGE.encode(), "application/pdf")})
            assert posted.status_code == 201, posted.text
            assert posted.json()["source"].endswith(".html")  # told by its bytes, not its name
            ids[name] = posted.json()["doc_id"]
    return ids


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN",
                                  accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


def _admin_signed_in(context: BrowserContext, api: ApiServer) -> Page:
    """An admin tab of /admin with the key entered at its prompt."""
    page = context.new_page()

    page.on("dialog", lambda dialog: dialog.dismiss())
    answer_key_dialog(page, ADMIN_KEY)
    page.goto(f"{api.url}/admin")
    expect(page.locator("#admin-body")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('zhiwen.apiKey')") == ADMIN_KEY
    return page


def _stolen(requests: list[str]) -> list[str]:
    return [url for url in requests if "stolen" in url]


def _follow(page: Page, url: str, requests: list[str]) -> Download:
    """Open ``url`` in ``page`` as a click on a link would; the download it starts."""
    downloads: list[Download] = []
    page.on("download", lambda download: downloads.append(download))
    with contextlib.suppress(PlaywrightError):  # "Download is starting": no document to load
        page.goto(url)
    # a page rendered instead would have run its script by its load event
    assert page.locator("#xss-marker").count() == 0, "the uploaded page's script ran"
    assert _stolen(requests) == []
    return downloads[0] if downloads else page.wait_for_event("download")


def _no_script_ran(admin: Page) -> None:
    assert admin.evaluate("localStorage.getItem('xss-ran')") is None
    assert admin.evaluate("localStorage.getItem('zhiwen.apiKey')") is None  # never kept there
    assert "XSS" not in admin.title()


@pytest.mark.browser
@pytest.mark.parametrize("name", ["evil.html", "evil.pdf"])
def test_an_uploaded_page_opened_by_an_admin_is_a_download_not_a_page(
    context: BrowserContext, files_api: ApiServer, hostile: dict[str, str], name: str
) -> None:
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    admin = _admin_signed_in(context, files_api)
    url = f"{files_api.url}/v1/documents/{hostile[name]}/file?kb=alpha"

    # the admin follows the link in the same tab and in a new one: both only download the file
    for page in (admin, context.new_page()):
        download = _follow(page, url, requests)
        assert download.suggested_filename == f"{hostile[name]}.html"
        assert Path(download.path()).read_text(encoding="utf-8") == HOSTILE_PAGE
    admin.goto(f"{files_api.url}/admin")
    expect(admin.locator("#admin-body")).to_be_visible()
    assert admin.locator("#xss-marker").count() == 0
    _no_script_ran(admin)
    assert _stolen(requests) == []


@pytest.mark.browser
def test_an_uploaded_page_rendered_anyway_runs_no_script_on_the_origin(
    context: BrowserContext, files_api: ApiServer, hostile: dict[str, str]
) -> None:
    """A browser (or a proxy) that ignored the download header would render the page: the CSP
    sandbox still keeps its script from running, and its origin is opaque, so it could not read
    the origin's storage even with script."""
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    admin = _admin_signed_in(context, files_api)

    def inline(route: Route) -> None:
        response = route.fetch()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-disposition"}
        route.fulfill(response=response, headers=headers)

    context.route("**/v1/documents/*/file*", inline)
    for doc_id in hostile.values():
        page = context.new_page()
        page.goto(f"{files_api.url}/v1/documents/{doc_id}/file?kb=alpha")
        expect(page.locator("h1")).to_have_text("港湾街道开展防汛应急演练")  # the page is shown
        assert page.locator("#xss-marker").count() == 0, "the uploaded page's script ran"
        assert page.title() == "港湾街道防汛工作通报"
        assert page.evaluate("window.origin") == "null"  # sandboxed: not the service's origin
        refused = page.evaluate("() => { try { return sessionStorage.length >= 0 && 'read'; }"
                                " catch (e) { return e.name; } }")
        assert refused == "SecurityError"
        page.close()
    _no_script_ran(admin)
    assert _stolen(requests) == []


@pytest.mark.browser
def test_a_pdf_opens_in_the_pdf_viewer_under_the_sandbox(context: BrowserContext,
                                                         files_api: ApiServer) -> None:
    page = context.new_page()
    response = page.goto(f"{files_api.url}/v1/documents/{REPORTS[4].stem}/file#page=2")
    assert response is not None and response.ok  # its headers: the HTTP tests below
    viewer: list[str] = []
    for _ in range(300):  # the viewer's frame attaches once the plugin has started
        viewer = [f.url for f in page.frames if f.url.startswith(PDF_VIEWER)]
        if viewer:
            break
        page.wait_for_timeout(100)
    assert viewer, f"no PDF viewer frame: {[f.url for f in page.frames]}"
    image = context.new_page()
    shown = image.goto(f"{files_api.url}/v1/documents/scan/file")
    assert shown is not None and shown.headers["content-type"] == "image/png"
    assert image.evaluate("document.images.length") == 1
    assert image.evaluate("document.images[0].naturalWidth") > 0


# -- the headers of every format -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("doc_id", "media", "disposition"),
    [
        (REPORTS[0].stem, DOCX, "attachment"),
        (REPORTS[1].stem, "text/markdown", "attachment"),
        (REPORTS[2].stem, "text/html", "attachment"),
        (REPORTS[3].stem, "text/plain", "attachment"),
        (REPORTS[4].stem, "application/pdf", "inline"),
        ("scan", "image/png", "inline"),
    ],
)
def test_each_format_is_sent_with_its_sniffed_type_nosniff_and_the_sandbox(
    files_api: ApiServer, doc_id: str, media: str, disposition: str
) -> None:
    response = httpx.get(f"{files_api.url}/v1/documents/{doc_id}/file", timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media
    assert response.headers["content-disposition"].startswith(disposition + ";")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == SANDBOX_CSP


def test_a_page_named_pdf_is_sent_as_a_web_page_download(files_api: ApiServer,
                                                          hostile: dict[str, str]) -> None:
    for doc_id in hostile.values():
        response = httpx.get(f"{files_api.url}/v1/documents/{doc_id}/file?kb=alpha", timeout=60)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].split(";")[0] == "text/html"
        assert response.headers["content-disposition"] == f'attachment; filename="{doc_id}.html"'
        assert response.headers["content-security-policy"] == SANDBOX_CSP
        assert response.headers["x-content-type-options"] == "nosniff"
