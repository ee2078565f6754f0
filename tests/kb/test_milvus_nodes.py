"""Two API nodes, one Milvus (issue 14): real ``zhiwen serve`` processes on ZHIWEN_BACKEND=milvus
sharing one Milvus Lite server (its server mode: the Milvus binary listening on a TCP port).

The nodes get an index folder and a corpus folder that do not exist: everything they serve and
write is in Milvus. A report added through one node is cited by the other; a delete through one
is gone from the other; when Milvus stops, both say so (503 naming it) and recover, without a
restart, when it is back. Every wait has a deadline.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb import API_KEY
from tests.kb.milvus_lite import LiteServer
from tests.service.conftest import Server, free_port, server_env, start_server, wait_for

pytestmark = pytest.mark.timeout(600)

AUTH = {"Authorization": f"Bearer {API_KEY}"}
DEADLINE_S = 60.0  # a change made through one node is seen by the other well within this
PHRASE = "海泊河口新设的潮汐观测站由韩晓梅站长负责"  # in no bundled report


@dataclass
class Nodes:
    lite: LiteServer
    a: Server
    b: Server


def _serve(tmp: Path, uri: str, name: str) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = server_env(tmp / "no-index", tmp / name, ZHIWEN_CORPUS_DIR=str(tmp / "no-corpus"),
                     ZHIWEN_SEED_DIR=str(tmp / "no-seed"), ZHIWEN_BACKEND="milvus", ZHIWEN_MILVUS_URI=uri,
                     ZHIWEN_MILVUS_TIMEOUT_S="5", ZHIWEN_API_KEYS=API_KEY)
    return start_server(cmd, env, tmp / f"{name}.log", port)


@pytest.fixture(scope="module")
def nodes(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    from indexer.backends.milvus.connection import MilvusConfig, MilvusConnection
    from indexer.migrate import copy_snapshot

    tmp = tmp_path_factory.mktemp("milvus-nodes")
    lite = LiteServer(tmp / "shared.db", free_port())
    lite.start()
    servers: list[Server] = []
    try:
        with MilvusConnection(MilvusConfig(lite.uri, timeout_s=30)) as conn:
            copy_snapshot(conn, index_dir)
        servers = [_serve(tmp, lite.uri, "a"), _serve(tmp, lite.uri, "b")]
        for s in servers:
            wait_for(s, lambda r: r.status_code == 200, "ready")
        yield Nodes(lite, *servers)
    finally:
        for s in servers:
            s.stop()
        lite.stop()
        assert not (tmp / "no-index").exists() and not (tmp / "no-corpus").exists(), \
            "a Milvus node wrote to local disk"


def _until(check: Callable[[], Any], what: str, server: Server, deadline_s: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.TransportError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    pytest.fail(f"{what}: not within {deadline_s}s (last: {last!r}):\n{server.log()}")


def _cites(node: Server, doc_id: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{node.url}/v1/ask", json={"question": "海泊河口的潮汐观测站由谁负责？"}, timeout=60)
    response.raise_for_status()
    return [c for c in response.json()["citations"] if c["doc_id"] == doc_id]


def test_both_nodes_serve_the_store(nodes: Nodes) -> None:
    for node in (nodes.a, nodes.b):
        ready = httpx.get(f"{node.url}/readyz", timeout=10).json()
        assert ready["documents"] == 6 and ready["chunks"] == 81
        assert ready["index"]["backend"] == "milvus"
        hits = httpx.post(f"{node.url}/v1/search", json={"query": "巷网会客议事厅", "top_k": 3}, timeout=60).json()
        assert "巷网会客议事厅" in hits["results"][0]["text"]


def test_a_report_added_through_one_node_is_cited_by_the_other(nodes: Nodes) -> None:
    doc = f"tide-{int(time.time())}"
    text = f"{PHRASE}，观测站于2021年5月建成，每天记录两次潮位。"
    created = httpx.post(f"{nodes.a.url}/v1/documents", headers=AUTH, timeout=120,
                         json={"doc_id": doc, "title": "潮汐观测站建成", "text": text})
    assert created.status_code == 201, created.text
    assert _cites(nodes.a, doc), "the writing node does not cite its own change"
    citations = _until(lambda: _cites(nodes.b, doc), "node b cites the report added through a", nodes.b)
    quote = citations[0]["quote"]
    assert quote and quote in text
    detail = httpx.get(f"{nodes.b.url}/v1/documents/{doc}", timeout=10).json()
    assert text in detail["text"]
    original = httpx.get(f"{nodes.b.url}/v1/documents/{doc}/file", timeout=10)
    assert original.status_code == 404 and "Milvus" in original.json()["error"]["message"]

    removed = httpx.delete(f"{nodes.b.url}/v1/documents/{doc}", headers=AUTH, timeout=120)
    assert removed.status_code == 200, removed.text
    _until(lambda: httpx.get(f"{nodes.a.url}/v1/documents/{doc}", timeout=10).status_code == 404,
           "the report deleted through b is gone from a", nodes.a)
    assert not _cites(nodes.a, doc)


def test_a_replaced_report_shows_only_its_new_text_on_the_other_node(nodes: Nodes) -> None:
    doc = f"tide-replace-{int(time.time())}"
    old, new = f"{PHRASE}，旧版本说观测站每天记录两次潮位。", f"{PHRASE}，新版本说观测站每小时记录一次潮位。"
    assert httpx.post(f"{nodes.a.url}/v1/documents", headers=AUTH, timeout=120,
                      json={"doc_id": doc, "text": old}).status_code == 201
    replaced = httpx.put(f"{nodes.a.url}/v1/documents/{doc}", headers=AUTH, timeout=120, json={"text": new})
    assert replaced.status_code == 200, replaced.text

    def new_only() -> bool:
        passages = httpx.post(f"{nodes.b.url}/v1/search", json={"query": "潮汐观测站 记录 潮位", "top_k": 10},
                              timeout=60).json()["results"]
        mine = [p["text"] for p in passages if p["doc_id"] == doc]
        assert not any("旧版本" in t for t in mine) or not any("新版本" in t for t in mine), "two versions mixed"
        return bool(mine) and all("新版本" in t for t in mine)

    _until(new_only, "node b serves the new version only", nodes.b)
    assert httpx.delete(f"{nodes.a.url}/v1/documents/{doc}", headers=AUTH, timeout=120).status_code == 200


def _search_status(node: Server) -> tuple[int, dict[str, Any]]:
    r = httpx.post(f"{node.url}/v1/search", json={"query": "议事厅"}, timeout=60)
    return r.status_code, r.json()


def test_a_frozen_milvus_times_out_into_a_503_and_the_nodes_recover(nodes: Nodes) -> None:
    """SIGSTOP: Milvus accepts nothing and answers nothing — the case an unbounded call would hang on."""
    import os
    import signal

    pid = nodes.lite.server._p.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        # bounded by the client's 60 s timeout: a call that never timed out would fail here
        status, body = _search_status(nodes.a)
        assert status == 503 and body["error"]["code"] == "backend_unavailable", body
        assert nodes.lite.uri in body["error"]["message"]
        _until(lambda: httpx.get(f"{nodes.a.url}/readyz", timeout=10).status_code == 503,
               "readyz says Milvus is unreachable", nodes.a)
    finally:
        os.kill(pid, signal.SIGCONT)
    _until(lambda: httpx.get(f"{nodes.a.url}/readyz", timeout=10).status_code == 200,
           "ready again once Milvus answers", nodes.a)
    assert _search_status(nodes.a)[0] == 200


@pytest.fixture(scope="module")
def outage(nodes: Nodes) -> Iterator[dict[str, Any]]:
    """Milvus stopped (killed), what each node said meanwhile, then Milvus started again on the
    same port and file. (A module fixture: the restarted server outlives any one test.)"""
    seen: dict[str, Any] = {}
    nodes.lite.stop()
    try:
        for name, node in (("a", nodes.a), ("b", nodes.b)):
            seen[f"{name}-search"] = _search_status(node)

            def down(node: Server = node) -> httpx.Response | None:
                r = httpx.get(f"{node.url}/readyz", timeout=10)
                return r if r.status_code == 503 else None

            seen[f"{name}-readyz"] = _until(down, "readyz says Milvus is unreachable", node).json()
            seen[f"{name}-healthz"] = httpx.get(f"{node.url}/healthz", timeout=10).status_code
    finally:
        nodes.lite.start()
    yield seen


def test_milvus_down_is_a_503_naming_it_and_both_nodes_recover_without_a_restart(
        nodes: Nodes, outage: dict[str, Any]) -> None:
    for name in ("a", "b"):
        status, body = outage[f"{name}-search"]
        assert status == 503 and body["error"]["code"] == "backend_unavailable", body
        assert nodes.lite.uri in body["error"]["message"]
        ready = outage[f"{name}-readyz"]["error"]
        assert ready["code"] == "backend_unavailable" and nodes.lite.uri in ready["message"]
        assert outage[f"{name}-healthz"] == 200  # alive, only not ready
    for node in (nodes.a, nodes.b):
        _until(lambda node=node: httpx.get(f"{node.url}/readyz", timeout=10).status_code == 200,
               "ready again once Milvus is back", node)
        status, body = _search_status(node)
        assert status == 200 and body["results"], body
