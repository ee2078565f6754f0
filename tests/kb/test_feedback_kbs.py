"""Feedback is kept per knowledge base (issue 36), through one real server with scoped keys: the
attack as written — a key scoped to ``alpha`` lists, rates and corrects with ``?kb=alpha`` and must
learn nothing of ``beta`` or ``default`` — and ``zhiwen feedback export`` per knowledge base
(real CLI over the server's own feedback database and each base's own index)."""

from __future__ import annotations

import hashlib
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

from tests.kb import API_KEY, RECYCLING, RECYCLING_QUESTION, make_kb
from tests.kb.conftest import launch, wait_ready
from tests.service.conftest import ROOT

pytestmark = pytest.mark.timeout(900)

ALPHA_KEY = "scoped-feedback-alpha-6e1d"  # writes (so reads) alpha only
BETA_KEY = "scoped-feedback-beta-0a94"  # writes (so reads) beta only
ALPHA_DOC = "tide-station"
ALPHA_TEXT = "海泊河口新设的潮汐观测站由韩晓梅站长负责，观测站于2021年5月建成，每天记录两次潮位。"
ALPHA_QUESTION = "海泊河口的潮汐观测站由谁负责？"
BETA_DOC = "recycling"
BETA_QUOTE = "870户居民办理了积分卡"  # in beta's report only
DEFAULT_DOC = "000_cfe86b6ecbc402ed"  # a report of the default knowledge base (data/reports)
DEFAULT_QUOTE = "172处"  # in DEFAULT_DOC
CLI_TIMEOUT_S = 600


@dataclass
class Setup:
    url: str
    db: Path  # the server's ZHIWEN_FEEDBACK_DB
    env: dict[str, str]  # the server's ZHIWEN_* settings, for the CLI


def _keys_file(path: Path) -> Path:
    def entry(key: str, write: str) -> str:
        return f'[[key]]\nsha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\nwrite = ["{write}"]\n'

    path.write_text(entry(ALPHA_KEY, "alpha") + entry(BETA_KEY, "beta"), encoding="utf-8")
    return path


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def setup(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One server (reads need a key) with knowledge bases alpha and beta beside default."""
    tmp = tmp_path_factory.mktemp("feedback-kbs")
    dirs = make_kb(index_dir, tmp / "kb")
    extra = {"ZHIWEN_KEYS_FILE": str(_keys_file(tmp / "keys.toml")),
             "ZHIWEN_KBS_DIR": str(tmp / "kbs"), "ZHIWEN_READ_API_KEYS_REQUIRED": "true"}
    server = launch(dirs, tmp, **extra)
    try:
        wait_ready(server)
        for name, report in (("alpha", {"doc_id": ALPHA_DOC, "title": "潮汐观测站", "text": ALPHA_TEXT}),
                             ("beta", {"doc_id": BETA_DOC, "title": "积分超市", "text": RECYCLING})):
            created = httpx.post(f"{server.url}/v1/kbs/{name}", json=report, headers=auth(API_KEY),
                                 timeout=180)
            assert created.status_code == 201, created.text
        env = {"ZHIWEN_INDEX_DIR": str(dirs.index), "ZHIWEN_KBS_DIR": str(tmp / "kbs")}
        yield Setup(server.url, tmp / "feedback.sqlite3", env)
    finally:
        server.stop()


def call(setup: Setup, method: str, path: str, key: str, kb: str | None = None, **kw: Any) -> httpx.Response:
    params = dict(kw.pop("params", {}))
    if kb is not None:
        params["kb"] = kb
    return httpx.request(method, f"{setup.url}{path}", params=params, headers=auth(key), timeout=120, **kw)


def ask(setup: Setup, key: str, kb: str, question: str) -> dict[str, Any]:
    response = call(setup, "POST", "/v1/ask", key, kb, json={"question": question})
    assert response.status_code == 200, response.text
    return dict(response.json())


def listed(setup: Setup, key: str, kb: str | None, **params: Any) -> list[dict[str, Any]]:
    response = call(setup, "GET", "/v1/feedback", key, kb, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["feedback"])


def post(setup: Setup, key: str, kb: str, body: dict[str, Any]) -> httpx.Response:
    return call(setup, "POST", "/v1/feedback", key, kb, json=body)


def test_a_scoped_key_lists_only_its_own_knowledge_bases_feedback(setup: Setup) -> None:
    beta_answer = ask(setup, BETA_KEY, "beta", RECYCLING_QUESTION)
    secret = {"answer_id": beta_answer["answer_id"], "rating": "down", "comment": "beta 的秘密评语",
              "correction": {"doc_id": BETA_DOC, "quote": BETA_QUOTE}}
    assert post(setup, BETA_KEY, "beta", secret).status_code == 201
    alpha_answer = ask(setup, ALPHA_KEY, "alpha", ALPHA_QUESTION)
    mine = post(setup, ALPHA_KEY, "alpha", {"answer_id": alpha_answer["answer_id"], "rating": "up"})
    assert mine.status_code == 201 and mine.json()["kb"] == "alpha", mine.text

    # with ?kb=alpha: alpha's rows only, none of beta's question, answer, quote or comment
    rows = listed(setup, ALPHA_KEY, "alpha")
    assert {r["kb"] for r in rows} == {"alpha"}
    assert alpha_answer["answer_id"] in {r["answer_id"] for r in rows}
    shown = json.dumps(rows, ensure_ascii=False)
    for leaked in (beta_answer["answer_id"], RECYCLING_QUESTION, BETA_QUOTE, "beta 的秘密评语"):
        assert leaked not in shown
    # another base, or default (no ?kb=): refused, whatever the key may do elsewhere
    for kb in ("beta", None, "default"):
        refused = call(setup, "GET", "/v1/feedback", ALPHA_KEY, kb)
        assert refused.status_code == 403, refused.text
    # beta's own key, and a global key naming beta, see beta's row with its base
    for key in (BETA_KEY, API_KEY):
        beta_rows = listed(setup, key, "beta")
        assert {r["kb"] for r in beta_rows} == {"beta"}
        assert beta_answer["answer_id"] in {r["answer_id"] for r in beta_rows}
    assert alpha_answer["answer_id"] not in {r["answer_id"] for r in listed(setup, API_KEY, None)}


def test_another_bases_answer_id_is_as_unknown_as_a_made_up_one(setup: Setup) -> None:
    beta_answer = ask(setup, BETA_KEY, "beta", RECYCLING_QUESTION)["answer_id"]
    chat = call(setup, "POST", "/v1/chat/completions", BETA_KEY, "beta",
                json={"messages": [{"role": "user", "content": RECYCLING_QUESTION}]})
    assert chat.status_code == 200, chat.text
    beta_chat = chat.json()["answer_id"]
    made_up = "0123456789abcdef0123456789abcdef"

    def refusal(answer_id: str, key: str) -> dict[str, Any]:
        response = post(setup, key, "alpha", {"answer_id": answer_id, "rating": "up"})
        assert response.status_code == 404, response.text
        error = dict(response.json()["error"])
        error["message"] = error["message"].replace(answer_id, "<id>")
        return error

    unknown = refusal(made_up, ALPHA_KEY)
    assert unknown["message"].startswith("answer_id:")
    for answer_id in (beta_answer, beta_chat):
        assert refusal(answer_id, ALPHA_KEY) == unknown
        assert refusal(answer_id, API_KEY) == unknown  # the base decides, not the key
    # a scoped key may not even ask about beta's answers in beta
    assert post(setup, ALPHA_KEY, "beta", {"answer_id": beta_answer, "rating": "up"}).status_code == 403
    # sent with a question (as for an answer the server forgot): stored in alpha with what was
    # sent, nothing of beta's answer
    kept = post(setup, ALPHA_KEY, "alpha", {"answer_id": beta_answer, "rating": "down",
                                            "question": "我自己的问题"})
    assert kept.status_code == 201, kept.text
    row = next(r for r in listed(setup, ALPHA_KEY, "alpha") if r["feedback_id"] == kept.json()["feedback_id"])
    assert (row["question"], row["answer"], row["citations"], row["kb"]) == ("我自己的问题", "", [], "alpha")
    # beta's key rates beta's answers (JSON and chat) in beta: the ids are remembered with beta
    for answer_id in (beta_answer, beta_chat):
        created = post(setup, BETA_KEY, "beta", {"answer_id": answer_id, "rating": "up"})
        assert created.status_code == 201 and created.json()["kb"] == "beta", created.text
        row = next(r for r in listed(setup, BETA_KEY, "beta") if r["feedback_id"] == created.json()["feedback_id"])
        assert row["question"] == RECYCLING_QUESTION and row["citations"]


def test_a_correction_is_checked_against_the_named_base_only(setup: Setup) -> None:
    """The old oracle: 201 for a quote in another base's report, 422 for one not in it. Now any
    report not in alpha answers exactly as a made-up report does, whatever the quote."""
    answer_id = ask(setup, ALPHA_KEY, "alpha", ALPHA_QUESTION)["answer_id"]

    def correct(doc_id: str, quote: str) -> httpx.Response:
        return post(setup, ALPHA_KEY, "alpha", {"answer_id": answer_id, "rating": "down",
                                                "correction": {"doc_id": doc_id, "quote": quote}})

    def error(doc_id: str, quote: str) -> dict[str, Any]:
        response = correct(doc_id, quote)
        assert response.status_code == 404, response.text
        err = dict(response.json()["error"])
        err["message"] = err["message"].replace(doc_id, "<doc>")
        return err

    made_up = error("made-up-report", "随便一句话")
    assert made_up["message"].startswith("correction.doc_id:")
    for doc_id, quote in ((BETA_DOC, BETA_QUOTE), (BETA_DOC, "不在任何报告里的一句话"),
                          (DEFAULT_DOC, DEFAULT_QUOTE), (DEFAULT_DOC, "不在任何报告里的一句话")):
        assert error(doc_id, quote) == made_up, (doc_id, quote)
    # alpha's own report: checked against alpha (the default base has no such report)
    accepted = correct(ALPHA_DOC, "韩晓梅站长")
    assert accepted.status_code == 201 and accepted.json()["kb"] == "alpha", accepted.text
    wrong = correct(ALPHA_DOC, BETA_QUOTE)
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["error"]["details"][0]["field"] == "correction.quote"
    assert BETA_DOC not in wrong.text and "recycling" not in wrong.text
    row = next(r for r in listed(setup, ALPHA_KEY, "alpha") if r["feedback_id"] == accepted.json()["feedback_id"])
    assert row["correction"] == {"answer": None, "doc_id": ALPHA_DOC, "quote": "韩晓梅站长"}


def zhiwen(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning", **setup.env)
    return subprocess.run([sys.executable, "-m", "zhiwen.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def read_qa(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_is_per_knowledge_base_and_merges_identical_corrections(setup: Setup, tmp_path: Path) -> None:
    # 500 identical corrections in alpha (blanks and full-width forms differ: the same once normalised)
    answer_id = ask(setup, ALPHA_KEY, "alpha", ALPHA_QUESTION)["answer_id"]
    first_id = None
    with httpx.Client(base_url=setup.url, headers=auth(ALPHA_KEY), timeout=60) as client:
        for n in range(500):
            body = {"answer_id": f"flood-{n}", "rating": "down",
                    "question": "潮汐观测站 由谁负责？" if n % 2 else "潮汐观测站由谁负责?",
                    "correction": {"answer": "韩晓梅"}}
            created = client.post("/v1/feedback", params={"kb": "alpha"}, json=body)
            assert created.status_code == 201, created.text
            first_id = first_id or created.json()["feedback_id"]
    # beta's own: a correction and a 👍 on an answer
    beta_answer = ask(setup, BETA_KEY, "beta", RECYCLING_QUESTION)["answer_id"]
    for body in ({"rating": "down", "correction": {"doc_id": BETA_DOC, "quote": BETA_QUOTE}},
                 {"rating": "up"}):
        assert post(setup, BETA_KEY, "beta", {"answer_id": beta_answer, **body}).status_code == 201
    # a correction whose text only alpha's index holds (no citation to fall back on)
    located = post(setup, ALPHA_KEY, "alpha", {"answer_id": answer_id, "rating": "down",
                                               "question": "观测站哪一年建成？", "correction": {"answer": "2021年5月建成"}})
    assert located.status_code == 201, located.text

    alpha = tmp_path / "alpha.jsonl"
    done = zhiwen(setup, "feedback", "export", "--db", str(setup.db), "--kb", "alpha", "--out", str(alpha))
    assert done.returncode == 0, done.stderr
    assert "499 identical ones merged" in done.stderr, done.stderr
    rows = read_qa(alpha)
    assert {r["kb"] for r in rows} == {"alpha"}
    flood = [r for r in rows if r["answers"] == ["韩晓梅"] and "潮汐观测站" in r["question"]]
    assert len(flood) == 1, flood
    assert flood[0]["count"] == 500 and flood[0]["id"] == f"feedback-{first_id}"
    where = next(r for r in rows if r["id"] == f"feedback-{located.json()['feedback_id']}")
    assert where["doc"] == ALPHA_DOC and where["evidence"] == ["2021年5月建成"]  # found in alpha's index

    beta = tmp_path / "beta.jsonl"
    done = zhiwen(setup, "feedback", "export", "--db", str(setup.db), "--kb", "beta", "--out", str(beta))
    assert done.returncode == 0, done.stderr
    beta_rows = read_qa(beta)
    assert beta_rows and {r["kb"] for r in beta_rows} == {"beta"}
    assert {r["doc"] for r in beta_rows} == {BETA_DOC}
    assert not any("潮汐" in r["question"] for r in beta_rows)

    # --all (👍 too) stays within the base named
    done = zhiwen(setup, "feedback", "export", "--db", str(setup.db), "--kb", "beta", "--all", "--out", str(beta))
    assert done.returncode == 0, done.stderr
    assert {r["kb"] for r in read_qa(beta)} == {"beta"}
    assert any(r["type"] == "feedback-confirmed" for r in read_qa(beta))

    # every base, each in its own file, each line naming its base
    folder = tmp_path / "every"
    done = zhiwen(setup, "feedback", "export", "--db", str(setup.db), "--kb", "*", "--out", str(folder))
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in folder.iterdir())
    assert {"alpha.jsonl", "beta.jsonl"} <= set(files), files
    for path in folder.iterdir():
        assert {r["kb"] for r in read_qa(path)} <= {path.stem}
    assert read_qa(folder / "alpha.jsonl") == rows

    refused = zhiwen(setup, "feedback", "export", "--db", str(setup.db), "--kb", "*")
    assert refused.returncode == 2 and "--out" in refused.stderr
    bad = zhiwen(setup, "feedback", "export", "--db", str(setup.db), "--kb", "../alpha")
    assert bad.returncode == 2 and "knowledge base name" in bad.stderr
