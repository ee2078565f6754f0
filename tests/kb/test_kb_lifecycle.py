"""Knowledge bases under concurrency (issue 36), through a real server: deleting one while an
upload into it is paused mid-way (``ZHIWEN_FAULT_PAUSE_AT``) waits for that write or gives up with
a 409, never a 500, and leaves no folder behind; the name can be created again; a folder an
interrupted create left is no name; reads of the base being written and of the others answer
while the write is paused."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb import make_kb
from tests.kb.conftest import AUTH, launch, wait_for_file, wait_ready
from tests.service.conftest import Server

pytestmark = pytest.mark.timeout(900)

LOCK_TIMEOUT_S = 8  # ZHIWEN_WRITE_LOCK_TIMEOUT_S of the server: how long a delete waits for a write
FIRST = {"doc_id": "ferry-pier", "title": "轮渡码头改造完工",
         "text": "前海轮渡码头改造工程由港务局赵立新负责，于2022年9月完工，新增候船座椅三百个。"}
QUESTION = "前海轮渡码头改造工程由谁负责？"
UPLOAD = {"doc_id": "ferry-bus", "text": "前海轮渡码头新开通了一条接驳公交线路，每十五分钟一班。"}


@dataclass
class Lifecycle:
    url: str
    kbs: Path
    marker: Path
    server: Server


@pytest.fixture(scope="module")
def lifecycle(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lifecycle]:
    tmp = tmp_path_factory.mktemp("kb-lifecycle")
    dirs = make_kb(index_dir, tmp / "kb")
    kbs = tmp / "kbs"
    # what a create killed before its index was published leaves: the first report, a half
    # written snapshot, the journal
    stale = kbs / "stale"
    (stale / "reports").mkdir(parents=True)
    (stale / "reports" / "x.txt").write_text("没有索引的报告。", encoding="utf-8")
    (stale / "index.snapshots" / ".tmp-0001").mkdir(parents=True)
    (stale / "index.journal.jsonl").write_text("", encoding="utf-8")
    marker = tmp / "paused"
    server = launch(dirs, tmp, ZHIWEN_KBS_DIR=str(kbs), ZHIWEN_FAULT_PAUSE_AT="after_store",
                    ZHIWEN_FAULT_PAUSE_MARKER=str(marker), ZHIWEN_WRITE_LOCK_TIMEOUT_S=str(LOCK_TIMEOUT_S))
    try:
        wait_ready(server)
        yield Lifecycle(server.url, kbs, marker, server)
    finally:
        if marker.exists():
            marker.unlink()
        server.stop()


def _in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["response"] = call()
        except httpx.HTTPError as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _joined(thread: threading.Thread, out: dict[str, Any], timeout: float = 300) -> httpx.Response:
    thread.join(timeout=timeout)
    assert not thread.is_alive(), "the request never finished"
    assert "response" in out, out.get("error")
    response: httpx.Response = out["response"]
    return response


def _create(c: httpx.Client, name: str) -> None:
    made = c.post(f"/v1/kbs/{name}", json=FIRST, headers=AUTH)
    assert made.status_code == 201, made.text


def _states(c: httpx.Client) -> dict[str, str]:
    return {k["name"]: k["state"] for k in c.get("/v1/kbs", headers=AUTH).json()["kbs"]}


def _paused_upload(life: Lifecycle, name: str) -> tuple[threading.Thread, dict[str, Any]]:
    """An upload into ``name`` that the writer holds at ``after_store`` (files stored, index not)."""
    thread, out = _in_thread(lambda: httpx.post(f"{life.url}/v1/documents?kb={name}", json=UPLOAD,
                                                headers=AUTH, timeout=300))
    assert wait_for_file(life.marker, life.server) == "after_store"
    return thread, out


def _wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def test_delete_during_an_upload_waits_for_it_then_frees_the_name(lifecycle: Lifecycle) -> None:
    life = lifecycle
    with httpx.Client(base_url=life.url, timeout=120) as c:
        _create(c, "gamma")
        asked = c.post("/v1/ask?kb=gamma", json={"question": QUESTION}).json()
        rated = c.post("/v1/feedback?kb=gamma", json={"answer_id": asked["answer_id"], "rating": "up"})
        assert rated.status_code == 201, rated.text
        upload, uploaded = _paused_upload(life, "gamma")

        # writes never block reads: this base's and the others' answer while its write is paused
        assert c.post("/v1/search?kb=gamma", json={"query": QUESTION}).status_code == 200
        assert c.post("/v1/search", json={"query": "九水街道"}).status_code == 200
        assert c.get("/v1/documents?kb=gamma").status_code == 200
        assert c.get("/v1/index?kb=gamma").status_code == 200
        assert _states(c)["gamma"] == "ready"

        delete, deleted = _in_thread(lambda: httpx.delete(f"{life.url}/v1/kbs/gamma", headers=AUTH, timeout=300))
        _wait_until("listed as deleting", lambda: _states(c).get("gamma") == "deleting")
        racing = c.post("/v1/documents?kb=gamma", json={"doc_id": "late", "text": "前海码头的晚班轮渡延长到十点。"},
                        headers=AUTH)
        assert racing.status_code == 409, racing.text
        assert racing.json()["error"]["message"] == "knowledge base 'gamma' is being deleted"
        again = c.delete("/v1/kbs/gamma", headers=AUTH)
        assert again.status_code == 409 and "being deleted" in again.json()["error"]["message"]
        assert c.post("/v1/kbs/gamma", json=FIRST, headers=AUTH).status_code == 409
        curated = c.post("/v1/faq?kb=gamma", json={"question": "码头几点开门？", "answer": "六点。"},
                         headers=AUTH)  # curated answers live in the folder being removed too
        assert curated.status_code == 409, curated.text
        assert curated.json()["error"]["message"] == "knowledge base 'gamma' is being deleted"

        life.marker.unlink()  # the paused write goes on, and the delete after it
        assert _joined(upload, uploaded).status_code == 201, uploaded["response"].text
        assert _joined(delete, deleted).status_code == 200, deleted["response"].text

        assert not (life.kbs / "gamma").exists()
        assert "gamma" not in _states(c)
        gone = c.post("/v1/documents?kb=gamma", json=UPLOAD, headers=AUTH)
        assert gone.status_code == 404 and "unknown knowledge base: gamma" in gone.json()["error"]["message"]
        assert c.post("/v1/search?kb=gamma", json={"query": QUESTION}).status_code == 404

        _create(c, "gamma")  # the name is free again: only the first report is in it
        docs = c.get("/v1/documents?kb=gamma").json()["documents"]
        assert [d["doc_id"] for d in docs] == ["ferry-pier"]
        # ... and none of the old base's feedback, nor its answer ids
        assert c.get("/v1/feedback?kb=gamma", headers=AUTH).json()["feedback"] == []
        stale = c.post("/v1/feedback?kb=gamma", json={"answer_id": asked["answer_id"], "rating": "up"})
        assert stale.status_code == 404, stale.text
        assert c.get("/v1/faq?kb=gamma").json()["items"] == []
        assert c.delete("/v1/kbs/gamma", headers=AUTH).status_code == 200
        assert not (life.kbs / "gamma").exists()


def test_delete_gives_up_when_the_write_outlasts_its_wait(lifecycle: Lifecycle) -> None:
    life = lifecycle
    with httpx.Client(base_url=life.url, timeout=120) as c:
        _create(c, "delta")
        upload, uploaded = _paused_upload(life, "delta")
        refused = c.delete("/v1/kbs/delta", headers=AUTH)  # waits LOCK_TIMEOUT_S, then 409
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "write_in_progress" and refused.headers["Retry-After"]
        assert _states(c)["delta"] == "ready" and (life.kbs / "delta" / "index").exists()
        life.marker.unlink()
        assert _joined(upload, uploaded).status_code == 201, uploaded["response"].text
        docs = {d["doc_id"] for d in c.get("/v1/documents?kb=delta").json()["documents"]}
        assert docs == {"ferry-pier", "ferry-bus"}  # the write was kept, and writes are taken again
        assert c.delete("/v1/kbs/delta", headers=AUTH).status_code == 200
        assert not (life.kbs / "delta").exists()


def test_a_folder_left_by_an_interrupted_create_is_no_name(lifecycle: Lifecycle) -> None:
    life = lifecycle
    with httpx.Client(base_url=life.url, timeout=120) as c:
        assert not (life.kbs / "stale").exists()  # removed on start
        assert "stale" not in _states(c)
        orphan = life.kbs / "orphan"  # and one left while the service runs
        (orphan / "reports").mkdir(parents=True)
        (orphan / "reports" / "x.txt").write_text("没有索引的报告。", encoding="utf-8")
        for name in ("stale", "orphan"):
            _create(c, name)
            assert [d["doc_id"] for d in c.get(f"/v1/documents?kb={name}").json()["documents"]] == ["ferry-pier"]
            assert c.delete(f"/v1/kbs/{name}", headers=AUTH).status_code == 200

        foreign = life.kbs / "foreign"  # not something a create leaves: kept, but listed
        foreign.mkdir()
        (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
        taken = c.post("/v1/kbs/foreign", json=FIRST, headers=AUTH)
        assert taken.status_code == 409 and "DELETE" in taken.json()["error"]["message"]
        assert (foreign / "notes.txt").exists()
        listed = {k["name"]: k for k in c.get("/v1/kbs", headers=AUTH).json()["kbs"]}
        assert listed["foreign"]["state"] == "unavailable" and listed["foreign"]["reports"] is None
        assert c.post("/v1/search?kb=foreign", json={"query": QUESTION}).status_code == 503
        assert c.delete("/v1/kbs/foreign", headers=AUTH).status_code == 200
        assert not foreign.exists() and "foreign" not in _states(c)
        _create(c, "foreign")
        assert c.delete("/v1/kbs/foreign", headers=AUTH).status_code == 200
