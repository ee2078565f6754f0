"""Session fixtures for the web tests: an index of the bundled reports plus one hostile report,
two real ``zhiwen serve`` processes (one allowing a second origin by CORS, one with the default
same-origin policy), a plain http.server as that second origin, and headless Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import logging
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.service.conftest import Server, free_port, server_env, start_server, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR = ROOT / "data" / "reports"
CHROMIUM = Path(os.environ.get("ZHIWEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

XSS_DOC_ID = "900_xss_probe"
# A report whose title and text hold markup that would run if a page used innerHTML, and
# ideographs outside the BMP (two UTF-16 units each) before the spans the tests cite.
XSS_REPORT = """星海街道<img src=x onerror="window.__xss=1">安全生产月活动通报

2021年6月30日

𡌶山社区、𠙶溪社区供稿

星海街道在安全生产月期间组织消防演练<script>window.__xss=1</script>共计37次，覆盖辖区全部11个社区，参与居民超过三千人次。

活动期间，星海街道还排查整改燃气隐患<img src=x onerror="window.__xss=1">共计64处，全部按期完成整改，并对辖区餐饮商户开展了燃气安全培训。

星海街道表示，下一步将继续压实安全生产责任，把隐患排查整治常态化，确保辖区居民生命财产安全。
"""
XSS_QUESTION = "星海街道在安全生产月期间组织了多少次消防演练？"


@dataclass
class ApiServer:
    """``zhiwen serve`` in a subprocess (see tests/service/conftest.py), ready to answer."""

    url: str
    server: Server

    @property
    def feedback_db(self) -> Path:
        """The server's ZHIWEN_FEEDBACK_DB (``server_env`` puts it beside the server's log)."""
        return self.server.log_path.parent / "feedback.sqlite3"

    def stop(self) -> None:
        self.server.stop()


def start_api_server(
    index_dir: Path, tmp: Path, cors_origins: list[str] | None, **env: str
) -> ApiServer:
    """Serve ``index_dir`` on a free port, configured through the environment like production:
    ``ZHIWEN_CORS_ORIGINS`` as a JSON list, or unset for the default (same origin only)."""
    extra = {"ZHIWEN_CORS_ORIGINS": json.dumps(cors_origins)} if cors_origins is not None else {}
    extra.update(env)
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = start_server(cmd, server_env(index_dir, tmp, **extra), tmp / "server.log", port)
    try:
        wait_for(server, lambda r: r.status_code == 200, "ready")
    except BaseException:
        server.stop()
        raise
    return ApiServer(server.url, server)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("host page server: " + format, *args)


@dataclass
class StaticSite:
    """A plain http.server on its own port: the 'other web site' that embeds the widget."""

    url: str
    root: Path
    httpd: http.server.ThreadingHTTPServer

    def write(self, name: str, html: str) -> str:
        (self.root / name).write_text(html, encoding="utf-8")
        return f"{self.url}/{name}"


@pytest.fixture(scope="session")
def web_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled reports plus the hostile report."""
    corpus = tmp_path_factory.mktemp("web-corpus")
    for path in sorted(REPORTS_DIR.glob("*.txt")):
        shutil.copy(path, corpus / path.name)
    (corpus / f"{XSS_DOC_ID}.txt").write_text(XSS_REPORT, encoding="utf-8")
    return corpus


@pytest.fixture(scope="session")
def web_index_dir(
    tmp_path_factory: pytest.TempPathFactory,
    web_corpus_dir: Path,
    embedder: Any,
) -> Path:
    from indexer.backends.local.build import build_index

    path = tmp_path_factory.mktemp("web-index") / "index"
    build_index(web_corpus_dir, path, embedder)
    return path


@pytest.fixture(scope="session")
def widget_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticSite]:
    """The second origin (another 127.0.0.1 port) serving pages that embed the widget."""
    root = tmp_path_factory.mktemp("widget-site")
    (root / "index.html").write_text("<!doctype html><title>site</title>", encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="widget-site", daemon=True)
    thread.start()
    site = StaticSite(f"http://127.0.0.1:{httpd.server_address[1]}", root, httpd)
    yield site
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def api(
    web_index_dir: Path, widget_site: StaticSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The main server; ZHIWEN_CORS_ORIGINS allows the widget site's origin."""
    server = start_api_server(web_index_dir, tmp_path_factory.mktemp("api"), [widget_site.url])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_same_origin(
    web_index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A second server with the default CORS policy (no ZHIWEN_CORS_ORIGINS): same origin only."""
    server = start_api_server(web_index_dir, tmp_path_factory.mktemp("api-same-origin"), None)
    yield server
    server.stop()


READ_KEY = "web-read-key-0123456789"


@pytest.fixture(scope="session")
def api_keyed(
    web_index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A server that requires a key for reads too (ZHIWEN_READ_API_KEYS_REQUIRED)."""
    server = start_api_server(
        web_index_dir, tmp_path_factory.mktemp("api-keyed"), None,
        ZHIWEN_API_KEYS=READ_KEY, ZHIWEN_READ_API_KEYS_REQUIRED="true",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their pictures: a temporary folder, so a test run never
    rewrites tracked files. ``make screenshots`` sets ZHIWEN_SCREENSHOTS_DIR=docs/screenshots to
    refresh the README's pictures on purpose."""
    chosen = os.environ.get("ZHIWEN_SCREENSHOTS_DIR", "")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def answer_key_dialog(page: Any, keys: str | list[str], seen: list[str] | None = None) -> None:
    """Answer the page's key dialog (auth.js: a masked field in an in-page <dialog>) whenever it
    opens while the test acts or waits: with ``keys`` (one key for every time, or the next of a
    list; "" or a list run out cancels, so a test expecting fewer dialogs fails, never hangs).
    Each dialog's message is appended to ``seen``."""
    queue = None if isinstance(keys, str) else list(keys)

    def answer() -> None:
        if seen is not None:
            seen.append(page.locator("#key-dialog-message").inner_text())
        key = keys if queue is None else (queue.pop(0) if queue else "")
        assert page.locator("#key-input").get_attribute("type") == "password"  # masked
        if key:
            page.locator("#key-input").fill(str(key))
            page.locator("#key-ok").click()
        else:
            page.locator("#key-cancel").click()

    # no_wait_after: a dialog answered may be followed at once by the next one (a wrong key)
    page.add_locator_handler(page.locator("#key-dialog[open]"), answer, no_wait_after=True)


def until_dialogs(page: Any, seen: list[str], count: int, timeout_s: float = 60.0) -> None:
    """Wait until ``count`` key dialogs have been answered. The locator handler runs only while
    Playwright acts or asserts, and the page being replaced (a reload) still shows the old content,
    so an assertion on that content alone can pass before the next dialog opened."""
    import time

    from playwright.sync_api import expect

    deadline = time.monotonic() + timeout_s
    while len(seen) < count:
        assert time.monotonic() < deadline, f"expected {count} key dialogs, saw {seen}"
        expect(page.locator("body")).to_be_visible()  # lets the handler answer an open dialog
        page.wait_for_timeout(100)
