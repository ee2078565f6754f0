"""Real servers for the API tests: uvicorn subprocesses on free 127.0.0.1 ports, over the real
index of data/reports (``index_dir``, built once per session by tests/conftest.py).

* ``server_url``: started with ``zhiwen serve`` and waited on until /readyz says ready;
* ``broken_server``: started with ``uvicorn service.api.app:create_app --factory`` over a missing or
  corrupt index, waited on until it has given up loading;
* ``report_texts``: each report's original text, read from the index files (not the API), so
  offsets the API returns can be checked against an independent copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(index_dir: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any ZHIWEN_* of the developer's, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ZHIWEN_INDEX_DIR=str(index_dir),
        # seeded from data/reports on start: never the checkout's var/reports
        ZHIWEN_CORPUS_DIR=str(tmp / "reports"),
        ZHIWEN_CACHE_PATH=str(tmp / "embeddings.sqlite"),
        # never the checkout's var/
        ZHIWEN_FAQ_DB=str(tmp / "faq.sqlite3"),
        ZHIWEN_FEEDBACK_DB=str(tmp / "feedback.sqlite3"),
        ZHIWEN_KBS_DIR=str(tmp / "kbs"),
        ZHIWEN_JOBS_DIR=str(tmp / "jobs"),
        ZHIWEN_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(cmd: list[str], env: dict[str, str], log_path: Path, port: int) -> Server:
    log_file = log_path.open("wb")
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()  # the child holds its own handle
    return Server(f"http://127.0.0.1:{port}", process, log_path)


def wait_for(server: Server, done: Callable[[httpx.Response], bool], what: str) -> httpx.Response:
    """Poll /readyz until ``done(response)``; fail with the server's log if it dies or stalls."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"server exited ({server.process.returncode}) before {what}:\n{server.log()}"
            )
        with contextlib.suppress(httpx.TransportError):
            response = httpx.get(f"{server.url}/readyz", timeout=5)
            if done(response):
                return response
            last = f"{response.status_code} {response.text}"
        time.sleep(0.25)
    server.stop()
    pytest.fail(f"server not {what} after {START_TIMEOUT_S}s (last: {last}):\n{server.log()}")


@pytest.fixture(scope="session")
def server_url(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``zhiwen serve`` over the real index, ready to answer."""
    tmp = tmp_path_factory.mktemp("server")
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = start_server(cmd, server_env(index_dir, tmp), tmp / "server.log", port)
    try:
        wait_for(server, lambda r: r.status_code == 200, "ready")
        yield server.url
    finally:
        server.stop()


def _missing(index_dir: Path, target: Path) -> Path:
    return target / "no-index-here"


def _corrupt_meta(index_dir: Path, target: Path) -> Path:
    copy = target / "index"
    shutil.copytree(index_dir.resolve(), copy)
    (copy / "meta.json").write_text("{not json", encoding="utf-8")
    return copy


def _corrupt_faiss(index_dir: Path, target: Path) -> Path:
    copy = target / "index"
    shutil.copytree(index_dir.resolve(), copy)
    (copy / "dense.faiss").write_bytes(b"this is not a faiss index")
    return copy


BROKEN_INDEXES: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    # case: (how to make it, a word the /readyz reason must contain)
    "missing": (_missing, "does not exist"),
    "corrupt-meta": (_corrupt_meta, "meta.json"),
    "corrupt-faiss": (_corrupt_faiss, "dense.faiss"),
}


@dataclass
class BrokenServer:
    url: str
    case: str
    expected_reason: str
    readyz: httpx.Response


@pytest.fixture(scope="module", params=sorted(BROKEN_INDEXES))
def broken_server(
    request: pytest.FixtureRequest, index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokenServer]:
    """``uvicorn --factory`` over a missing or corrupt index, after it gave up loading it."""
    case: str = request.param
    make, expected = BROKEN_INDEXES[case]
    tmp = tmp_path_factory.mktemp(f"broken-{case}")
    broken = make(index_dir, tmp)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "service.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    server = start_server(cmd, server_env(broken, tmp), tmp / "server.log", port)
    try:
        response = wait_for(
            server,
            lambda r: r.status_code != 503 or r.json()["error"]["code"] != "loading",
            "done loading",
        )
        yield BrokenServer(server.url, case, expected, response)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def report_texts(index_dir: Path) -> dict[str, str]:
    """doc_id -> original text, read straight from the index's reports.jsonl."""
    texts: dict[str, str] = {}
    with (index_dir / "reports.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                texts[row["doc_id"]] = row["text"]
    assert texts, "the index holds no reports"
    return texts


@pytest.fixture(scope="session")
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=60) as c:
        yield c
