"""Knowledge bases and scoped keys (issue 15) through a real server: a knowledge base created with
its first report answers only from its own reports, ``default`` keeps today's URLs, and each
route lets a scoped key do exactly what its scope says (keys stored as SHA-256 digests)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb import API_KEY, make_kb
from tests.kb.conftest import KbServer, launch, wait_ready

pytestmark = pytest.mark.timeout(600)

READ_ALPHA = "scoped-read-alpha-71c3"
WRITE_ALPHA = "scoped-write-alpha-2be8"
READ_DEFAULT = "scoped-read-default-5d10"
ALPHA_REPORT = {"doc_id": "tide-station", "title": "海泊河口潮汐观测站建成",
                "text": "海泊河口新设的潮汐观测站由韩晓梅站长负责，观测站于2021年5月建成，每天记录两次潮位。"}
ALPHA_QUESTION = "海泊河口的潮汐观测站由谁负责？"


def _keys_file(path: Path) -> Path:
    def entry(key: str, read: list[str], write: list[str]) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f'[[key]]\nsha256 = "{digest}"\nread = {read!r}\nwrite = {write!r}\n'.replace("'", '"')

    path.write_text(entry(READ_ALPHA, ["alpha"], []) + entry(WRITE_ALPHA, [], ["alpha"])
                    + entry(READ_DEFAULT, ["default"], []), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KbServer]:
    tmp = tmp_path_factory.mktemp("kbs")
    dirs = make_kb(index_dir, tmp / "kb")
    running = launch(dirs, tmp, ZHIWEN_KEYS_FILE=str(_keys_file(tmp / "keys.toml")),
                     ZHIWEN_KBS_DIR=str(tmp / "kbs"), ZHIWEN_READ_API_KEYS_REQUIRED="true")
    try:
        wait_ready(running)
        yield KbServer(running.url, dirs, running)
    finally:
        running.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def alpha(server: KbServer) -> str:
    created = httpx.post(f"{server.url}/v1/kbs/alpha", json=ALPHA_REPORT, headers=auth(API_KEY), timeout=180)
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "alpha", "reports": 1, "chunks": created.json()["chunks"],
                              "state": "ready", "reason": None}
    return "alpha"


def test_a_knowledge_base_answers_from_its_own_reports_only(server: KbServer, alpha: str) -> None:
    listed = httpx.get(f"{server.url}/v1/kbs", headers=auth(API_KEY), timeout=30).json()["kbs"]
    assert [k["name"] for k in listed] == ["default", "alpha"]
    answer = httpx.post(f"{server.url}/v1/ask?kb=alpha", json={"question": ALPHA_QUESTION},
                        headers=auth(API_KEY), timeout=120).json()
    assert answer["answerable"] and "韩晓梅" in answer["answer"]
    assert {c["doc_id"] for c in answer["citations"]} == {"tide-station"}
    default = httpx.post(f"{server.url}/v1/ask", json={"question": ALPHA_QUESTION},
                         headers=auth(API_KEY), timeout=120).json()
    assert "tide-station" not in {c["doc_id"] for c in default["citations"]}
    docs = httpx.get(f"{server.url}/v1/documents?kb=alpha", headers=auth(API_KEY), timeout=30).json()
    assert [d["doc_id"] for d in docs["documents"]] == ["tide-station"]
    missing = httpx.get(f"{server.url}/v1/documents?kb=nowhere", headers=auth(API_KEY), timeout=30)
    assert missing.status_code == 404 and "GET /v1/kbs" in missing.json()["error"]["message"]
    bad = httpx.get(f"{server.url}/v1/documents?kb=Not%20A%20Name", headers=auth(API_KEY), timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "kb"


# (method, path, body): every route that takes a knowledge base, read or write
READS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/search", {"query": "潮汐观测站"}),
    ("POST", "/v1/ask", {"question": ALPHA_QUESTION}),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": ALPHA_QUESTION}]}),
    ("GET", "/v1/documents", None),
    ("GET", "/v1/documents/tide-station", None),
    ("GET", "/v1/documents/tide-station/chunks", None),
    ("GET", "/v1/facets", None),
    ("GET", "/v1/faq", None),
    ("GET", "/v1/index", None),
    ("GET", "/v1/documents/tide-station/file", None),
    ("GET", "/v1/models", None),
]
WRITES: list[tuple[str, str, Any]] = [
    ("PUT", "/v1/documents/tide-station", {"text": ALPHA_REPORT["text"], "title": ALPHA_REPORT["title"]}),
    ("POST", "/v1/documents", {"doc_id": "buoy", "text": "海泊河口还新设了一座潮位浮标。"}),
    ("DELETE", "/v1/documents/buoy", None),
    ("GET", "/v1/feedback", None),
    ("POST", "/v1/faq", {"question": "观测站谁负责？", "answer": "韩晓梅站长。"}),
    ("GET", "/v1/admin", None),
]


def _call(server: KbServer, method: str, path: str, body: Any, key: str | None, kb: str) -> int:
    sep = "&" if "?" in path else "?"
    url = f"{server.url}{path}{sep}kb={kb}" if kb != "default" else f"{server.url}{path}"
    headers = auth(key) if key else {}
    return httpx.request(method, url, json=body, headers=headers, timeout=180).status_code


@pytest.mark.parametrize(("method", "path", "body"), READS, ids=[f"{m} {p}" for m, p, _ in READS])
def test_scoped_keys_read_only_their_knowledge_bases(server: KbServer, alpha: str, method: str, path: str,
                                                     body: Any) -> None:
    assert _call(server, method, path, body, READ_ALPHA, "alpha") == 200
    assert _call(server, method, path, body, WRITE_ALPHA, "alpha") == 200  # writing implies reading
    assert _call(server, method, path, body, READ_DEFAULT, "alpha") == 403
    assert _call(server, method, path, body, None, "alpha") == 401
    if "tide-station" not in path:
        assert _call(server, method, path, body, READ_ALPHA, "default") == 403
        assert _call(server, method, path, body, READ_DEFAULT, "default") == 200


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_scoped_keys_write_only_their_knowledge_bases(server: KbServer, alpha: str, method: str, path: str,
                                                      body: Any) -> None:
    assert _call(server, method, path, body, READ_ALPHA, "alpha") == 403  # a read key does not write
    assert _call(server, method, path, body, WRITE_ALPHA, "default") == 403
    assert _call(server, method, path, body, WRITE_ALPHA, "alpha") in (200, 201)


def test_only_global_keys_create_and_delete_knowledge_bases(server: KbServer, alpha: str) -> None:
    body = {"doc_id": "x", "text": "测试街道开展测试活动。"}
    for key in (WRITE_ALPHA, READ_ALPHA):
        refused = httpx.post(f"{server.url}/v1/kbs/beta", json=body, headers=auth(key), timeout=60)
        assert refused.status_code == 403, refused.text
    assert httpx.post(f"{server.url}/v1/kbs/alpha", json=body, headers=auth(API_KEY), timeout=60).status_code == 409
    assert httpx.post(f"{server.url}/v1/kbs/beta", json={"doc_id": "x", "text": " "}, headers=auth(API_KEY),
                      timeout=60).status_code == 422
    assert not (server.dirs.index.parent.parent / "kbs" / "beta").exists()  # nothing left of it
    made = httpx.post(f"{server.url}/v1/kbs/beta", json=body, headers=auth(API_KEY), timeout=180)
    assert made.status_code == 201, made.text
    assert httpx.delete(f"{server.url}/v1/kbs/beta", headers=auth(WRITE_ALPHA), timeout=60).status_code == 403
    assert httpx.delete(f"{server.url}/v1/kbs/beta", headers=auth(API_KEY), timeout=60).status_code == 200
    assert httpx.delete(f"{server.url}/v1/kbs/default", headers=auth(API_KEY), timeout=60).status_code == 409
    listed = httpx.get(f"{server.url}/v1/kbs", headers=auth(API_KEY), timeout=30).json()["kbs"]
    assert [k["name"] for k in listed] == ["default", "alpha"]


def test_knowledge_bases_are_opened_again_on_start(server: KbServer, alpha: str,
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("kbs-restart")
    second = launch(server.dirs, tmp, ZHIWEN_KBS_DIR=str(server.dirs.index.parent.parent / "kbs"))
    try:
        wait_ready(second)  # (default's readiness: each other base opens in its own thread)
        deadline = time.monotonic() + 120
        while (listed := httpx.get(f"{second.url}/v1/kbs", timeout=30).json()["kbs"])[-1]["state"] == "loading":
            assert time.monotonic() < deadline, listed
            time.sleep(0.1)
        assert [(k["name"], k["state"]) for k in listed] == [("default", "ready"), ("alpha", "ready")]
        answer = httpx.post(f"{second.url}/v1/ask?kb=alpha", json={"question": ALPHA_QUESTION}, timeout=120)
        assert "韩晓梅" in answer.json()["answer"]
    finally:
        second.stop()


def test_feedback_and_models_take_the_knowledge_base_of_the_page(server: KbServer, alpha: str) -> None:
    """The chat page sends ?kb= on every call; a scoped key is checked against it there too."""
    asked = httpx.post(f"{server.url}/v1/ask?kb=alpha", json={"question": ALPHA_QUESTION},
                       headers=auth(READ_ALPHA), timeout=120).json()
    sent = httpx.post(f"{server.url}/v1/feedback?kb=alpha", json={"answer_id": asked["answer_id"], "rating": "up"},
                      headers=auth(READ_ALPHA), timeout=30)
    assert sent.status_code == 201, sent.text
    assert httpx.get(f"{server.url}/v1/models?kb=alpha", headers=auth(READ_ALPHA), timeout=30).status_code == 200
    assert httpx.get(f"{server.url}/v1/models?kb=default", headers=auth(READ_ALPHA), timeout=30).status_code == 403
    typo = httpx.get(f"{server.url}/v1/documents?kbb=alpha", headers=auth(API_KEY), timeout=30)
    assert typo.status_code == 422 and typo.json()["error"]["details"][0]["field"] == "kbb"
