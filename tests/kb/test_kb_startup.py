"""Start-up serves the knowledge bases that are ready while others roll forward (issue 36): after a
kill during an upload, the base (and ``default``) with an interrupted change answer 503 ``loading``
naming themselves until it is rolled forward, while another base answers ``/v1/search``.

The roll-forward is made slow deterministically: each interrupted change is a journal entry begun
with its file stored (what a kill at ``after_store`` leaves, cf. test_crash.py), and the test holds
that index's writer lock, as a ``zhiwen add`` run would, so the server's replay waits for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from indexer.backends.local.journal import Journal, journal_path, writer_lock
from tests.kb import (
    NIGHT_MARKET,
    NIGHT_MARKET_QUESTION,
    RECYCLING,
    RECYCLING_QUESTION,
    KbDirs,
    make_kb,
)
from tests.kb.conftest import launch

pytestmark = pytest.mark.timeout(600)


def _named_kb(index_dir: Path, folder: Path) -> Path:
    """A knowledge base folder (``reports`` + ``index``) holding a copy of the test index."""
    dirs = make_kb(index_dir, folder)
    dirs.corpus.rename(folder / "reports")
    return dirs.index


def _interrupt(corpus: Path, index: Path, doc_id: str, text: str) -> None:
    """An upload killed after storing its file: begun in the journal, never done."""
    data = text.encode("utf-8")
    (corpus / f"{doc_id}.txt").write_bytes(data)
    Journal(journal_path(index)).begin("put", {f"{doc_id}.txt": hashlib.sha256(data).hexdigest()},
                                       doc_id=doc_id, previous={f"{doc_id}.txt": None})


def _until(what: str, check: Callable[[], bool], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            if check():
                return
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.1)


def _states(url: str) -> dict[str, str]:
    response = httpx.get(f"{url}/v1/kbs", timeout=30)
    if response.status_code != 200:
        return {}
    return {k["name"]: k["state"] for k in response.json()["kbs"]}


def _search(url: str, query: str, kb: str | None = None) -> httpx.Response:
    suffix = f"?kb={kb}" if kb else ""
    return httpx.post(f"{url}/v1/search{suffix}", json={"query": query, "top_k": 3}, timeout=120)


@pytest.fixture
def held(index_dir: Path, tmp_path: Path) -> Iterator[tuple[KbDirs, Path, contextlib.ExitStack]]:
    """default and ``slow`` each with an interrupted upload and their writer locks held; ``fast``
    clean."""
    dirs = make_kb(index_dir, tmp_path / "kb")
    kbs = tmp_path / "kbs"
    slow = _named_kb(index_dir, kbs / "slow")
    _named_kb(index_dir, kbs / "fast")
    _interrupt(kbs / "slow" / "reports", slow, "night-market", NIGHT_MARKET)
    _interrupt(dirs.corpus, dirs.index, "recycling", RECYCLING)
    with contextlib.ExitStack() as locks:
        locks.enter_context(writer_lock(slow, timeout=5))
        locks.enter_context(writer_lock(dirs.index, timeout=5))
        yield dirs, kbs, locks
    shutil.rmtree(kbs, ignore_errors=True)


def test_a_base_rolling_forward_keeps_only_itself_loading(
    held: tuple[KbDirs, Path, contextlib.ExitStack], tmp_path: Path
) -> None:
    dirs, kbs, locks = held
    server = launch(dirs, tmp_path, ZHIWEN_KBS_DIR=str(kbs))
    try:
        url = server.url
        # the replays wait for the locks (STARTUP_LOCK_TIMEOUT_S, 30 s); meanwhile fast serves
        _until("fast ready", lambda: _states(url).get("fast") == "ready")
        assert _states(url) == {"default": "loading", "fast": "ready", "slow": "loading"}
        fast = _search(url, "九水街道", "fast")
        assert fast.status_code == 200 and fast.json()["results"], fast.text
        for kb, name in ((None, "default"), ("slow", "slow")):
            waiting = _search(url, NIGHT_MARKET_QUESTION, kb)
            assert waiting.status_code == 503, waiting.text
            assert waiting.json()["error"]["code"] == "loading" and waiting.headers["Retry-After"]
            assert f"knowledge base {name!r} is loading" in waiting.json()["error"]["message"]
        assert httpx.get(f"{url}/readyz", timeout=30).status_code == 503  # /readyz is default's

        locks.close()  # the other writer is done: both roll forward and serve
        _until("all ready", lambda: set(_states(url).values()) == {"ready"})
        rolled = _search(url, NIGHT_MARKET_QUESTION, "slow").json()["results"]
        assert rolled[0]["doc_id"] == "night-market"  # the interrupted upload, rolled forward
        rolled = _search(url, RECYCLING_QUESTION).json()["results"]
        assert rolled[0]["doc_id"] == "recycling"
        assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200
    finally:
        server.stop()
