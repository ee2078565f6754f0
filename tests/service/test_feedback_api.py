"""Feedback through the API of a real server (``zhiwen serve`` over the real index): answer ids on
/v1/ask and chat (JSON and SSE), POST and GET /v1/feedback, bad input, concurrent writes, and
the export read by ``zhiwen eval --qa`` (real CLI, real index)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ROOT, free_port, server_env, start_server, wait_for

KEY = "feedback-write-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
LOG_SIZE = 3  # ZHIWEN_ANSWER_LOG_SIZE: small, so eviction is quick to reach
Q_SAFETY = "九水街道共有多少处安全隐患被整改？"  # dev02: 172处 in report 000_cfe86b6ecbc402ed
SAFETY_DOC = "000_cfe86b6ecbc402ed"
Q_FISHERY = "王哥庄街道2018年渔业总产值是多少？"  # dev11: 5.73亿元
CLI_TIMEOUT_S = 600


@dataclass
class FeedbackServer:
    url: str
    db: Path
    client: httpx.Client


@pytest.fixture(scope="module")
def fb(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedbackServer]:
    tmp = tmp_path_factory.mktemp("feedback-server")
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = server_env(index_dir, tmp, ZHIWEN_API_KEYS=KEY, ZHIWEN_ANSWER_LOG_SIZE=str(LOG_SIZE))
    server = start_server(cmd, env, tmp / "server.log", port)
    try:
        wait_for(server, lambda r: r.status_code == 200, "ready")
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield FeedbackServer(server.url, tmp / "feedback.sqlite3", client)
    finally:
        server.stop()


def ask(fb: FeedbackServer, question: str) -> dict:  # type: ignore[type-arg]
    response = fb.client.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


def stored(fb: FeedbackServer, **params: str | int) -> list[dict]:  # type: ignore[type-arg]
    response = fb.client.get("/v1/feedback", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["feedback"])
    return list(body["feedback"])


def error(response: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


def test_ask_answer_gets_feedback_by_id(fb: FeedbackServer) -> None:
    answer = ask(fb, Q_SAFETY)
    assert len(answer["answer_id"]) == 32
    body = {"answer_id": answer["answer_id"], "rating": "down", "comment": "数字要写全",
            "correction": {"answer": "172处", "doc_id": SAFETY_DOC, "quote": "172处"}}
    created = fb.client.post("/v1/feedback", json=body)
    assert created.status_code == 201, created.text
    feedback_id = created.json()["feedback_id"]
    row = next(f for f in stored(fb) if f["feedback_id"] == feedback_id)
    assert row["question"] == Q_SAFETY and row["answer"] == answer["answer"]
    assert row["answerable"] is True and row["rating"] == "down" and row["comment"] == "数字要写全"
    assert row["citations"] == [
        {k: c[k] for k in ("n", "doc_id", "start", "end", "quote")} for c in answer["citations"]
    ]
    assert row["index_version"]
    assert row["correction"] == {"answer": "172处", "doc_id": SAFETY_DOC, "quote": "172处"}


def test_chat_answers_carry_their_id_json_and_streamed(fb: FeedbackServer) -> None:
    completion = fb.client.post("/v1/chat/completions",
                                json={"messages": [{"role": "user", "content": Q_FISHERY}]})
    assert completion.status_code == 200, completion.text
    body = completion.json()
    assert body["answer_id"] == body["id"]

    last: dict = {}  # type: ignore[type-arg]
    with fb.client.stream("POST", "/v1/chat/completions", json={
        "messages": [{"role": "user", "content": Q_SAFETY}], "stream": True,
    }) as events:
        for line in events.iter_lines():
            if line.startswith("data: {"):
                chunk = json.loads(line[6:])
                if chunk.get("answer_id"):
                    last = chunk
    assert last["answer_id"] == last["id"] and last["choices"][0]["finish_reason"] == "stop"
    for answer_id, question in ((body["answer_id"], Q_FISHERY), (last["answer_id"], Q_SAFETY)):
        created = fb.client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "up"})
        assert created.status_code == 201, created.text
        row = stored(fb, limit=1)[0]
        assert row["answer_id"] == answer_id and row["question"] == question
        assert row["citations"], row


def test_evicted_answer_needs_its_question(fb: FeedbackServer) -> None:
    first = ask(fb, Q_SAFETY)["answer_id"]
    for _ in range(LOG_SIZE):
        ask(fb, Q_FISHERY)
    gone = error(fb.client.post("/v1/feedback", json={"answer_id": first, "rating": "up"}), 404)
    assert gone["message"].startswith("answer_id:") and "question" in gone["message"]
    created = fb.client.post("/v1/feedback", json={
        "answer_id": first, "rating": "down", "question": Q_SAFETY, "answer": "旧的回答",
        "correction": {"answer": "172处"}})
    assert created.status_code == 201, created.text
    row = stored(fb, limit=1)[0]
    assert (row["question"], row["answer"], row["answerable"], row["citations"]) == (
        Q_SAFETY, "旧的回答", None, [])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"rating": "up"}, 422, "answer_id"),
        ({"answer_id": "x y", "rating": "up", "question": "q"}, 422, "answer_id"),
        ({"answer_id": "abc", "rating": "meh", "question": "q"}, 422, "rating"),
        ({"answer_id": "abc", "rating": "up", "question": "q", "stars": 5}, 422, "stars"),
        ({"answer_id": "abc", "rating": "up", "question": "q", "correction": {}}, 422, "correction"),
        ({"answer_id": "abc", "rating": "up", "question": "q", "correction": {"answer": " "}},
         422, "correction.answer"),
        ({"answer_id": "abc", "rating": "up", "question": "q", "correction": {"answer": None}},
         422, "correction.answer"),
        ({"answer_id": "abc", "rating": "up", "question": "q", "comment": "长" * 4001},
         422, "comment"),
        ({"answer_id": "abc", "rating": "up", "question": "q",
          "correction": {"doc_id": "no-such-report"}}, 404, "correction.doc_id"),
        ({"answer_id": "abc", "rating": "up", "question": "q",
          "correction": {"doc_id": SAFETY_DOC, "quote": "这句话不在报告里"}}, 422, "correction.quote"),
        ({"answer_id": "never-given", "rating": "up"}, 404, "answer_id"),
    ],
)
def test_bad_feedback_is_refused_naming_the_field(
    fb: FeedbackServer, body: dict, status: int, field: str  # type: ignore[type-arg]
) -> None:
    err = error(fb.client.post("/v1/feedback", json=body), status)
    named = [d["field"] for d in err["details"]] or [err["message"].split(":")[0]]
    assert field in named, err


def test_listing_needs_a_write_key_and_filters(fb: FeedbackServer) -> None:
    assert fb.client.get("/v1/feedback").status_code == 401
    assert fb.client.get("/v1/feedback", headers={"Authorization": "Bearer wrong"}).status_code == 403
    for since in ("yesterday", "2026-12-01", "2026-12-01T08:00:00", "1764576000"):
        err = error(fb.client.get("/v1/feedback", params={"since": since}, headers=AUTH), 422)
        assert err["details"][0]["field"] == "since", err
    error(fb.client.get("/v1/feedback", params={"limit": 0}, headers=AUTH), 422)
    base = {"answer_id": "list-test", "question": Q_SAFETY}
    fb.client.post("/v1/feedback", json=base | {"rating": "up"}).raise_for_status()
    newest = stored(fb, limit=1)[0]
    fb.client.post("/v1/feedback", json=base | {"rating": "down"}).raise_for_status()
    assert [f["rating"] for f in stored(fb, since=newest["created_at"])] == ["down", "up"]
    assert all(f["rating"] == "up" for f in stored(fb, rating="up"))
    assert all(f["correction"] for f in stored(fb, corrected="true"))
    assert not any(f["correction"] for f in stored(fb, corrected="false"))
    assert stored(fb, since="9999-12-31T23:59:59-01:00") == []  # past the calendar in UTC: none
    everything = stored(fb, limit=1000)
    assert [f["created_at"] for f in everything] == sorted(
        (f["created_at"] for f in everything), reverse=True)


def test_concurrent_feedback_is_all_stored(fb: FeedbackServer) -> None:
    """40 feedbacks from 8 threads, each on its own connection: every one is stored once."""
    marker = "concurrent-"
    errors: list[str] = []

    def post(n: int) -> None:
        with httpx.Client(base_url=fb.url, timeout=60) as client:
            for i in range(5):
                answer_id = f"{marker}{n}-{i}"
                r = client.post("/v1/feedback", json={
                    "answer_id": answer_id, "rating": "up" if i % 2 else "down",
                    "question": f"{Q_SAFETY}（{answer_id}）"})
                if r.status_code != 201:
                    errors.append(f"{answer_id}: {r.status_code} {r.text}")

    threads = [threading.Thread(target=post, args=(n,), name=f"feedback-{n}") for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a posting thread did not finish in 120 s"
    assert not errors, errors
    ids = [f["answer_id"] for f in stored(fb, limit=1000) if f["answer_id"].startswith(marker)]
    assert sorted(ids) == sorted(f"{marker}{n}-{i}" for n in range(8) for i in range(5))
    with sqlite3.connect(fb.db) as conn:  # and in the file itself, not only in the server's view
        (count,) = conn.execute("SELECT COUNT(*) FROM feedback WHERE answer_id LIKE ?",
                                (marker + "%",)).fetchone()
    assert count == 40


def zhiwen(*args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    return subprocess.run([sys.executable, "-m", "zhiwen.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_correction_exported_then_scored_by_eval(
    fb: FeedbackServer, index_dir: Path, tmp_path: Path
) -> None:
    answer = ask(fb, Q_SAFETY)
    created = fb.client.post("/v1/feedback", json={
        "answer_id": answer["answer_id"], "rating": "down", "correction": {"answer": "172处"}})
    assert created.status_code == 201, created.text
    feedback_id = created.json()["feedback_id"]

    qa = tmp_path / "corrections.jsonl"
    exported = zhiwen("feedback", "export", "--db", str(fb.db), "--out", str(qa),
                      "--index", str(index_dir))
    assert exported.returncode == 0, exported.stderr
    rows = {r["id"]: r for r in map(json.loads, qa.read_text(encoding="utf-8").splitlines())}
    # only an answer was given: the report that holds it (the cited one) is the gold report. An
    # earlier test sent the same correction of the same question (the line stands for both, under
    # the earliest id), so the line is found by what it says, and ``count`` covers this feedback
    mine = next(r for r in rows.values() if r["question"] == Q_SAFETY and r["answers"] == ["172处"]
                and r["evidence"] == ["172处"])
    assert mine == mine | {"doc": SAFETY_DOC, "type": "feedback-correction", "kb": "default"}
    assert int(mine["id"].removeprefix("feedback-")) <= feedback_id and mine["count"] >= 1
    assert all(r["doc"] for r in rows.values())  # corrections only: no refusals, no 👍

    out = tmp_path / "eval"
    scored = zhiwen("eval", "--qa", str(qa), "--index", str(index_dir), "--out", str(out),
                    "--quiet", "--no-default-systems", "--system", "hybrid=mode:hybrid")
    assert scored.returncode == 0, scored.stderr
    per_question = [json.loads(line) for line in
                    (out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    row = next(r for r in per_question if r["id"] == mine["id"])
    assert row["gold"] == [SAFETY_DOC] and row["rank"] == 1
    assert row["verdict"]["correct"] is True, row["answer"]
