"""One knowledge-base contract, both backends (issue 33): the same HTTP sequence — a named
knowledge base created with its first report, a report added, replaced and deleted through the
API, the base kept across a restart, then deleted — runs against the local index and against
Milvus (Milvus Lite, embedded), and ``zhiwen add``/``ask``/``remove`` work on the configured
backend. Each case starts its own real server; every wait has a deadline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb import (
    API_KEY,
    ELDERLY_QUESTION,
    ELDERLY_V1,
    ELDERLY_V2,
    RECYCLING,
    RECYCLING_QUESTION,
    make_kb,
)
from tests.kb.conftest import kb_env, wait_ready

pytestmark = pytest.mark.timeout(900)

AUTH = {"Authorization": f"Bearer {API_KEY}"}
FIRST = {"doc_id": "elderly", "title": "青山湾社区启用智慧养老驿站", "text": ELDERLY_V1}


@dataclass
class Deployment:
    backend: str
    tmp: Path
    env: dict[str, str]  # what the server runs with (the CLI gets the same)


def _deployment(backend: str, index_dir: Path, tmp: Path) -> Deployment:
    dirs = make_kb(index_dir, tmp / "kb")
    extra = {"ZHIWEN_KBS_DIR": str(tmp / "kbs")}
    if backend == "milvus":
        from indexer.backends.milvus.connection import MilvusConfig, MilvusConnection
        from indexer.migrate import copy_snapshot

        db = tmp / "zhiwen.db"
        with MilvusConnection(MilvusConfig(str(db), timeout_s=60)) as conn:
            copy_snapshot(conn, dirs.index)  # default: the bundled reports, nothing embedded again
        extra |= {"ZHIWEN_BACKEND": "milvus", "ZHIWEN_MILVUS_URI": str(db), "ZHIWEN_MILVUS_TIMEOUT_S": "60"}
    return Deployment(backend, tmp, {**kb_env(dirs, tmp, **extra), **extra})


@pytest.fixture(params=["local", "milvus"])
def deployment(request: pytest.FixtureRequest, index_dir: Path, tmp_path: Path) -> Deployment:
    return _deployment(request.param, index_dir, tmp_path)


def _serve(d: Deployment) -> Any:
    from tests.service.conftest import free_port, start_server

    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = start_server(cmd, d.env, d.tmp / f"server-{port}.log", port)
    wait_ready(server)
    return server


@pytest.fixture
def served(deployment: Deployment) -> Iterator[tuple[Deployment, Any]]:
    server = _serve(deployment)
    try:
        yield deployment, server
    finally:
        server.stop()


def _ask(url: str, question: str, kb: str = "default") -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/ask?kb={kb}", json={"question": question}, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _cited(answer: dict[str, Any]) -> set[str]:
    return {c["doc_id"] for c in answer["citations"]}


def test_a_named_knowledge_base_lives_its_whole_life_on_either_backend(served: tuple[Deployment, Any]) -> None:
    d, server = served
    url = server.url
    index = httpx.get(f"{url}/v1/index", headers=AUTH, timeout=30).json()
    assert index["backend"] == d.backend

    created = httpx.post(f"{url}/v1/kbs/alpha", json=FIRST, headers=AUTH, timeout=300)
    assert created.status_code == 201, created.text
    assert created.json()["reports"] == 1 and created.json()["state"] == "ready"
    answer = _ask(url, ELDERLY_QUESTION, "alpha")
    assert "18名" in answer["answer"] and _cited(answer) == {"elderly"}
    assert "elderly" not in _cited(_ask(url, ELDERLY_QUESTION))  # default does not see it

    added = httpx.post(f"{url}/v1/documents?kb=alpha", headers=AUTH, timeout=300,
                       json={"doc_id": "recycling", "text": RECYCLING})
    assert added.status_code == 201, added.text
    assert "870" in _ask(url, RECYCLING_QUESTION, "alpha")["answer"]
    again = httpx.post(f"{url}/v1/documents?kb=alpha", headers=AUTH, timeout=60,
                       json={"doc_id": "recycling", "text": RECYCLING})
    assert again.status_code == 409 and again.json()["error"]["code"] == "document_exists"

    replaced = httpx.put(f"{url}/v1/documents/elderly?kb=alpha", headers=AUTH, timeout=300,
                         json={"text": ELDERLY_V2})
    assert replaced.status_code == 200, replaced.text
    answer = _ask(url, ELDERLY_QUESTION, "alpha")
    assert "24名" in answer["answer"] and "18名" not in answer["answer"]

    removed = httpx.delete(f"{url}/v1/documents/recycling?kb=alpha", headers=AUTH, timeout=300)
    assert removed.status_code == 200, removed.text
    gone = httpx.get(f"{url}/v1/documents/recycling?kb=alpha", headers=AUTH, timeout=30)
    assert gone.status_code == 404
    last = httpx.delete(f"{url}/v1/documents/elderly?kb=alpha", headers=AUTH, timeout=60)
    assert last.status_code == 400 and last.json()["error"]["code"] == "nothing_to_index", last.text

    server.stop()  # the knowledge base is found again on start
    server = _serve(d)
    try:
        listed = httpx.get(f"{server.url}/v1/kbs", headers=AUTH, timeout=30).json()["kbs"]
        assert [(k["name"], k["state"]) for k in listed] == [("default", "ready"), ("alpha", "ready")]
        assert "24名" in _ask(server.url, ELDERLY_QUESTION, "alpha")["answer"]
        deleted = httpx.delete(f"{server.url}/v1/kbs/alpha", headers=AUTH, timeout=120)
        assert deleted.status_code == 200, deleted.text
        listed = httpx.get(f"{server.url}/v1/kbs", headers=AUTH, timeout=30).json()["kbs"]
        assert [k["name"] for k in listed] == ["default"]
        # the name is free again, with nothing of the old base in it
        fresh = httpx.post(f"{server.url}/v1/kbs/alpha", headers=AUTH, timeout=300,
                           json={"doc_id": "recycling", "text": RECYCLING})
        assert fresh.status_code == 201, fresh.text
        docs = httpx.get(f"{server.url}/v1/documents?kb=alpha", headers=AUTH, timeout=30).json()["documents"]
        assert [x["doc_id"] for x in docs] == ["recycling"]
    finally:
        server.stop()
    if d.backend == "milvus":
        assert not (d.tmp / "kbs" / "alpha" / "reports").exists(), "a Milvus knowledge base wrote report files"


def test_a_node_finds_the_milvus_bases_another_node_made(index_dir: Path, tmp_path: Path) -> None:
    """A node without the base's folder (here: the folder removed while it was stopped, as on a
    node that never had it) lists and serves the base whose collections it finds on start, and
    creating that name answers 409: the collections, and the report in them, are kept."""
    import shutil

    d = _deployment("milvus", index_dir, tmp_path)
    server = _serve(d)
    try:
        created = httpx.post(f"{server.url}/v1/kbs/alpha", json=FIRST, headers=AUTH, timeout=300)
        assert created.status_code == 201, created.text
    finally:
        server.stop()
    shutil.rmtree(d.tmp / "kbs" / "alpha")
    server = _serve(d)
    try:
        listed = httpx.get(f"{server.url}/v1/kbs", headers=AUTH, timeout=30).json()["kbs"]
        assert [(k["name"], k["state"]) for k in listed] == [("default", "ready"), ("alpha", "ready")]
        answer = _ask(server.url, ELDERLY_QUESTION, "alpha")
        assert "18名" in answer["answer"] and _cited(answer) == {"elderly"}
        again = httpx.post(f"{server.url}/v1/kbs/alpha", headers=AUTH, timeout=300,
                           json={"doc_id": "recycling", "text": RECYCLING})
        assert again.status_code == 409, again.text
    finally:
        server.stop()


def test_creating_a_name_another_node_made_since_opens_it_and_never_drops_it(
        embedder: Any, tmp_path: Path) -> None:
    """Two nodes on one Milvus (here two KnowledgeBases of one process, each with its own
    folder): the second, started before the first created ``alpha``, is asked to create it too.
    It answers 409 and serves the first node's base; nothing of the second report is written."""
    from indexer.changes import Put
    from service.kbs import KnowledgeBaseError, KnowledgeBases
    from zhiwen.settings import Settings

    def node(name: str) -> KnowledgeBases:
        settings = Settings(backend="milvus", milvus_uri=str(tmp_path / "zhiwen.db"), milvus_timeout_s=60,
                            kbs_dir=tmp_path / name, index_dir=tmp_path / name / "index",
                            corpus_dir=tmp_path / name / "reports")
        kbs = KnowledgeBases(settings, embedder=embedder)
        assert kbs.found() == []
        return kbs

    first, second = node("node-1"), node("node-2")
    try:
        made = first.create("alpha", [Put("elderly", ELDERLY_V1, must="new")])
        assert sorted(made.current.reports) == ["elderly"]
        with pytest.raises(KnowledgeBaseError) as refused:
            second.create("alpha", [Put("recycling", RECYCLING, must="new")])
        assert refused.value.status == 409 and "another node" in str(refused.value)
        adopted = second.get("alpha")
        assert adopted is not None and sorted(adopted.current.reports) == ["elderly"]
        assert (tmp_path / "node-2" / "alpha").is_dir()  # (its curated answers go there)
        first.get("alpha").refresh()  # type: ignore[union-attr]
        assert sorted(first.get("alpha").current.reports) == ["elderly"]  # type: ignore[union-attr]
    finally:
        first.close()
        second.close()


def _zhiwen(d: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**d.env, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "zhiwen.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False, cwd=os.getcwd())


def test_the_cli_writes_and_answers_on_the_configured_backend(deployment: Deployment) -> None:
    d = deployment
    report = d.tmp / "夜市.txt"
    report.write_text(RECYCLING, encoding="utf-8")
    added = _zhiwen(d, "add", "--id", "recycling", str(report))
    assert added.returncode == 0, added.stderr
    asked = _zhiwen(d, "ask", "--json", RECYCLING_QUESTION)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "870" in answer["answer"] and "recycling" in _cited(answer)
    removed = _zhiwen(d, "remove", "recycling")
    assert removed.returncode == 0, removed.stderr
    missing = _zhiwen(d, "remove", "recycling")
    assert missing.returncode == 2 and "unknown document: recycling" in missing.stderr
    after = json.loads(_zhiwen(d, "ask", "--json", RECYCLING_QUESTION).stdout)
    assert "recycling" not in _cited(after)
    if d.backend == "milvus":
        corpus = Path(d.env["ZHIWEN_CORPUS_DIR"])
        assert not (corpus / "recycling.txt").exists(), "zhiwen add on Milvus wrote to the local corpus"
