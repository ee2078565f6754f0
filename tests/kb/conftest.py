"""Fixtures for the live knowledge base: a real server over a throw-away copy of the corpus and
index (``kb_server``, one per session: the model load is the expensive part), servers started
on demand (``launch``), and the same app in-process with the session's model (``run_app``) for
the start-up checks that would otherwise cost a model load each.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb import API_KEY, KbDirs, make_kb
from tests.service.conftest import Server, free_port, server_env, start_server, wait_for

MAX_UPLOAD = 64 * 1024  # ZHIWEN_MAX_TEXT_BYTES of the test servers
MAX_FILE = 4 * MAX_UPLOAD  # ZHIWEN_MAX_FILE_BYTES (Word, PDF, images)
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def kb_env(dirs: KbDirs, tmp: Path, **extra: str) -> dict[str, str]:
    return server_env(
        dirs.index,
        tmp,
        ZHIWEN_CORPUS_DIR=str(dirs.corpus),
        ZHIWEN_API_KEYS=API_KEY,
        ZHIWEN_MAX_TEXT_BYTES=str(MAX_UPLOAD),
        ZHIWEN_MAX_FILE_BYTES=str(MAX_FILE),
        **extra,
    )


def launch(dirs: KbDirs, tmp: Path, **extra: str) -> Server:
    """Start ``zhiwen serve`` over ``dirs`` (not waiting for it)."""
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return start_server(cmd, kb_env(dirs, tmp, **extra), tmp / f"server-{port}.log", port)


def wait_ready(server: Server) -> None:
    wait_for(server, lambda r: r.status_code == 200, "ready")


@dataclass
class KbServer:
    url: str
    dirs: KbDirs
    server: Server

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120)


@pytest.fixture(scope="session")
def kb_server(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KbServer]:
    """A server with write keys over its own corpus + index copy. Tests leave the corpus as
    they found it (they delete what they add)."""
    tmp = tmp_path_factory.mktemp("kb-server")
    dirs = make_kb(index_dir, tmp / "kb")
    server = launch(dirs, tmp)
    try:
        wait_ready(server)
        yield KbServer(server.url, dirs, server)
    finally:
        server.stop()


@pytest.fixture
def kb_client(kb_server: KbServer) -> Iterator[httpx.Client]:
    with kb_server.client() as c:
        yield c


@pytest.fixture
def patched_model(embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make every ``load_embedder`` in this process return the session's loaded model."""
    import embeddings

    monkeypatch.setattr(embeddings, "load_embedder", lambda *a, **k: embedder)
    return embedder


RunApp = Callable[..., contextlib.AbstractContextManager[tuple[Any, httpx.Response]]]


@pytest.fixture
def run_app(patched_model: Any) -> RunApp:
    """``with run_app(dirs, **settings) as (client, readyz):`` — the real app and lifespan,
    in-process, once loading is over (ready or failed)."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from zhiwen.settings import Settings

    @contextlib.contextmanager
    def run(dirs: KbDirs, **overrides: Any) -> Iterator[tuple[Any, httpx.Response]]:
        settings = Settings(
            index_dir=dirs.index,
            corpus_dir=dirs.corpus,
            cache_path=None,
            api_keys=[API_KEY],
            **overrides,
        )
        with TestClient(create_app(settings)) as client:
            deadline = time.monotonic() + 120
            while True:
                response = client.get("/readyz")
                loading = response.status_code == 503 and response.json()["error"]["code"] == "loading"
                if not loading or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            yield client, response

    return run


def kill_hard(server: Server) -> None:
    """SIGKILL: no cleanup, no flushing — as a power cut looks to the process."""
    server.process.kill()
    server.process.wait(timeout=30)


def wait_for_file(path: Path, server: Server, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if text:  # (created and written: not caught between the two)
            return text
        if server.process.poll() is not None:
            pytest.fail(f"server exited before pausing:\n{server.log()}")
        time.sleep(0.05)
    pytest.fail(f"the writer never paused ({path} not created):\n{server.log()}")
