"""Kill -9 a Milvus API node in the middle of a write, at each stage of the Milvus writer (issue
33: the crash tests of the local index, on the other backend): the restarted node serves the old
version of the report (killed before the ``live`` row switched) or the whole new one (after it),
never a mix, and the store takes the next write. Milvus runs as its own process (Milvus Lite's
server mode), as in production, so killing the node leaves it running.

``after_store`` is the local writer's (the Milvus writer stores no file); what a killed write
leaves staged is swept by ``zhiwen index --backend milvus`` once older than any write in progress
could be (``tests/indexer/test_milvus.py``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb import (
    API_KEY,
    ELDERLY_NEW_FACT,
    ELDERLY_OLD_FACT,
    ELDERLY_QUESTION,
    ELDERLY_V1,
    ELDERLY_V2,
)
from tests.kb.conftest import kill_hard, wait_for_file
from tests.kb.milvus_lite import LiteServer
from tests.service.conftest import Server, free_port, server_env, start_server, wait_for

pytestmark = pytest.mark.timeout(900)

AUTH = {"Authorization": f"Bearer {API_KEY}"}
DOC = "kb-elderly"


STAGES = ("after_snapshot_write", "before_swap", "after_swap")


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory, index_dir: Path) -> Iterator[LiteServer]:
    """Milvus holding the bundled index once per stage (collections ``crash_<stage>_*``), copied
    over one connection opened once: a client of this process reconnecting to the Milvus Lite
    server between tests was refused by its keepalive policy (GOAWAY "too many pings")."""
    import copy
    import dataclasses

    from indexer.backends.milvus.connection import MilvusConfig, MilvusConnection
    from indexer.migrate import copy_snapshot

    server = LiteServer(tmp_path_factory.mktemp("milvus-crash") / "crash.db", free_port())
    server.start()
    try:
        with MilvusConnection(MilvusConfig(server.uri, timeout_s=60)) as conn:
            for stage in STAGES:  # the same client, another collection prefix
                prefixed = copy.copy(conn)
                prefixed.config = dataclasses.replace(conn.config, prefix=f"crash_{stage}")
                copy_snapshot(prefixed, index_dir)
        yield server
    finally:
        server.stop()


def _node(tmp: Path, lite: LiteServer, prefix: str, name: str, **extra: str) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = server_env(tmp / "no-index", tmp / name, ZHIWEN_CORPUS_DIR=str(tmp / "no-corpus"),
                     ZHIWEN_SEED_DIR=str(tmp / "no-seed"), ZHIWEN_BACKEND="milvus", ZHIWEN_MILVUS_URI=lite.uri,
                     ZHIWEN_MILVUS_COLLECTION=prefix, ZHIWEN_MILVUS_TIMEOUT_S="60", ZHIWEN_API_KEYS=API_KEY,
                     **extra)
    server = start_server(cmd, env, tmp / f"{name}.log", port)
    wait_for(server, lambda r: r.status_code == 200, "ready")
    return server


def _doc(url: str) -> httpx.Response:
    return httpx.get(f"{url}/v1/documents/{DOC}", timeout=30)


def _answer(url: str) -> str:
    r = httpx.post(f"{url}/v1/ask", json={"question": ELDERLY_QUESTION}, timeout=120)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return str(body["answer"]) if DOC in {c["doc_id"] for c in body["citations"]} else ""


@pytest.mark.parametrize("stage", STAGES)
def test_a_node_killed_mid_write_serves_the_old_or_the_whole_new_version(
        stage: str, lite: LiteServer, tmp_path: Path) -> None:
    prefix = f"crash_{stage}"
    marker = tmp_path / "pause-marker"
    node = _node(tmp_path, lite, prefix, "paused", ZHIWEN_FAULT_PAUSE_AT=stage,
                 ZHIWEN_FAULT_PAUSE_MARKER=str(marker))
    out: dict[str, Any] = {}

    def post() -> None:
        try:
            out["response"] = httpx.post(f"{node.url}/v1/documents", headers=AUTH, timeout=300,
                                         json={"doc_id": DOC, "text": ELDERLY_V1})
        except httpx.HTTPError as exc:  # killed under it
            out["error"] = exc

    writer = threading.Thread(target=post)
    writer.start()
    try:
        assert wait_for_file(marker, node) == stage
        # reads never wait for the paused write
        assert httpx.post(f"{node.url}/v1/search", json={"query": "智慧养老驿站"}, timeout=60).status_code == 200
        assert _doc(node.url).status_code == 404  # the writing node swaps in its change after the write
    finally:
        kill_hard(node)
        writer.join(timeout=60)
    assert "response" not in out, "the killed write was acknowledged"

    restarted = _node(tmp_path, lite, prefix, "restarted")
    try:
        detail = _doc(restarted.url)
        if stage == "after_swap":  # switched before the kill: the whole new version
            assert detail.status_code == 200, detail.text
            text = detail.json()["text"]
            assert ELDERLY_OLD_FACT in text
            chunks = httpx.get(f"{restarted.url}/v1/documents/{DOC}/chunks", timeout=30).json()["chunks"]
            assert chunks and all(c["text"] in text for c in chunks)
            assert ELDERLY_OLD_FACT in _answer(restarted.url)
        else:  # staged rows only: invisible, as if the write never began
            assert detail.status_code == 404, detail.text
            assert _answer(restarted.url) == ""
        # the store takes the next write of the same report
        put = httpx.put(f"{restarted.url}/v1/documents/{DOC}", headers=AUTH, timeout=300,
                        json={"text": ELDERLY_V2})
        assert put.status_code in (200, 201), put.text
        answer = _answer(restarted.url)
        assert ELDERLY_NEW_FACT in answer and ELDERLY_OLD_FACT not in answer
    finally:
        restarted.stop()
