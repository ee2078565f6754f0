"""service.feedback (answer log, SQLite store) and service.feedback_export (feedback → QA lines),
without a server. Export lines are read back with eval's own loader."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.data import load_qa
from service.feedback import AnswerLog, AnswerRecord, CitedSpan, Correction, FeedbackStore
from service.feedback_export import qa_rows

REPORTS = {
    "a": "九水街道共整改安全隐患172处，获评干事创业好班子。",
    "b": "王哥庄街道2018年渔业总产值5.73亿元。",
    "c": "王哥庄街道渔业总产值5.73亿元，另见b。",
}


def record(answer_id: str = "x1", *, cites: tuple[str, ...] = ("a",), answerable: bool = True,
           question: str = "九水街道整改了多少处隐患？", kb: str = "default") -> AnswerRecord:
    spans = tuple(CitedSpan(i + 1, d, 0, 4, REPORTS[d][:4]) for i, d in enumerate(cites))
    return AnswerRecord(answer_id, question, "答案[1]", answerable, spans, "snap-1", 0.0, kb)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    s = FeedbackStore.open(tmp_path / "sub" / "feedback.sqlite3")
    yield s
    s.close()


def test_answer_log_keeps_the_last_n() -> None:
    log = AnswerLog(2)
    for n in range(3):
        log.add(record(f"id{n}"))
    assert log.get("id0") is None and log.get("id1") is not None and log.get("id2") is not None
    assert len(log) == 2


def test_store_round_trip_in_wal_mode(store: FeedbackStore) -> None:
    fb = store.add(record(), "down", Correction(answer="172处"), "不对")
    again = store.list()
    assert again == [fb]
    assert fb.citations[0] == CitedSpan(1, "a", 0, 4, "九水街道")
    assert fb.correction == Correction(answer="172处") and fb.index_version == "snap-1"
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_list_filters_newest_first(store: FeedbackStore) -> None:
    first = store.add(record("a1"), "up")
    second = store.add(record("a2"), "down", Correction(doc_id="a"))
    third = store.add(record("a3"), "down")
    assert [f.feedback_id for f in store.list()] == [third.feedback_id, second.feedback_id,
                                                    first.feedback_id]
    assert [f.answer_id for f in store.list(rating="up")] == ["a1"]
    assert [f.answer_id for f in store.list(corrected=True)] == ["a2"]
    assert [f.answer_id for f in store.list(since=second.created_at)] == ["a3", "a2"]
    assert len(store.list(limit=1)) == 1


def test_concurrent_writes_from_threads_and_a_second_connection(store: FeedbackStore) -> None:
    other = FeedbackStore.open(store.path)  # as another server process would
    errors: list[BaseException] = []

    def write(s: FeedbackStore, n: int) -> None:
        try:
            for i in range(25):
                s.add(record(f"t{n}-{i}"), "up")
        except BaseException as exc:  # reported below, by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(store if n % 2 else other, n)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.close()
    assert not errors and not any(t.is_alive() for t in threads)
    assert store.count() == 200
    assert len({f.answer_id for f in store.list()}) == 200


def _export(store: FeedbackStore, tmp_path: Path, include_all: bool = False) -> list[dict]:  # type: ignore[type-arg]
    result = qa_rows(reversed(store.list()), REPORTS, include_all=include_all)
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rows),
                    encoding="utf-8")
    if result.rows:
        load_qa(path)  # eval reads what export writes
    return result.rows


def test_export_rules(store: FeedbackStore, tmp_path: Path) -> None:
    # report and passage given: gold report and evidence
    store.add(record("p"), "down", Correction(answer="172处", doc_id="a", quote="安全隐患172处"))
    # only an answer, held by one report (not the cited one): that report, evidence = the answer
    store.add(record("q", question="渔业总产值？"), "down", Correction(answer="渔业总产值5.73亿元，另见b"))
    # only an answer held by two reports, one of them cited: the cited one
    store.add(record("r", cites=("c",)), "down", Correction(answer="5.73亿元"))
    # an answer no report holds: the cited report, without evidence
    store.add(record("s"), "down", Correction(answer="一百七十二处"))
    # nothing holds it and nothing was cited: skipped
    store.add(record("t", cites=()), "down", Correction(answer="一百七十二处"))
    # 👎 without correction: never; 👍: only with --all
    store.add(record("u"), "down")
    store.add(record("v"), "up")
    store.add(record("w", cites=(), answerable=False), "up")
    rows = {r["id"]: r for r in _export(store, tmp_path)}
    assert [r["doc"] for r in rows.values()] == ["a", "c", "c", "a"]
    p, q, r, s = rows.values()
    assert p["evidence"] == ["安全隐患172处"] and p["answers"] == ["172处"]
    assert q["evidence"] == ["渔业总产值5.73亿元，另见b"]
    assert r["evidence"] == ["5.73亿元"]
    assert s["evidence"] == [] and s["answers"] == ["一百七十二处"]
    every = _export(store, tmp_path, include_all=True)
    assert len(every) == 6
    confirmed, refused = every[-2:]
    assert confirmed["doc"] == "a" and confirmed["evidence"] == ["九水街道"]
    assert refused["doc"] is None and refused["type"] == "unanswerable"


# The feedback table as written before feedback had a knowledge base (no kb column, no kb index).
OLD_SCHEMA = """
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL, question TEXT NOT NULL,
    answer TEXT NOT NULL, answerable INTEGER, citations TEXT NOT NULL, index_version TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')), correction TEXT, comment TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX feedback_created ON feedback (created_at);
INSERT INTO feedback (answer_id, question, answer, answerable, citations, index_version, rating,
                      correction, comment, created_at)
VALUES ('old1', '旧问题一', '旧答案', 1, '[]', 'snap-0', 'up', NULL, NULL, '2026-11-01T00:00:00.000000Z'),
       ('old2', '旧问题二', '旧答案', NULL, '[]', 'snap-0', 'down', '{"answer": "172处", "doc_id": null, "quote": null}',
        '旧评语', '2026-11-02T00:00:00.000000Z');
"""


def test_an_old_database_is_migrated_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    conn.close()
    store = FeedbackStore.open(path)
    try:
        old = store.list()
        assert [(f.answer_id, f.kb) for f in old] == [("old2", "default"), ("old1", "default")]
        assert old[0].correction == Correction(answer="172处") and old[0].comment == "旧评语"
        added = store.add(record("new", kb="alpha"), "up")
        assert added.kb == "alpha" and store.kbs() == ("alpha", "default")
    finally:
        store.close()
    again = FeedbackStore.open(path)  # opening a migrated database again changes nothing
    try:
        assert again.count() == 3 and [f.answer_id for f in again.list(kb="default")] == ["old2", "old1"]
    finally:
        again.close()
    with sqlite3.connect(path) as conn:
        columns = {row[1]: row for row in conn.execute("PRAGMA table_info(feedback)")}
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(feedback)")}
    conn.close()
    assert columns["kb"][3] == 1 and columns["kb"][4] == "'default'"  # NOT NULL DEFAULT 'default'
    assert "feedback_kb_created" in indexes


def test_list_is_per_knowledge_base(store: FeedbackStore) -> None:
    store.add(record("d1"), "up")
    store.add(record("a1", kb="alpha"), "down", Correction(answer="x"))
    store.add(record("b1", kb="beta"), "up")
    store.add(record("a2", kb="alpha"), "up")
    assert [f.answer_id for f in store.list(kb="alpha")] == ["a2", "a1"]
    assert [f.answer_id for f in store.list(kb="default")] == ["d1"]
    assert [f.answer_id for f in store.list(kb="alpha", corrected=True)] == ["a1"]
    assert store.list(kb="gamma") == []
    assert len(store.list()) == 4 and store.kbs() == ("alpha", "beta", "default")


def test_export_merges_identical_questions_and_names_the_base(store: FeedbackStore, tmp_path: Path) -> None:
    for n in range(500):  # the same correction 500 times; blanks and full-width forms differ
        question = "九水街道 整改了多少处隐患？" if n % 2 else "九水街道整改了多少处隐患?"
        store.add(record(f"f{n}", question=question, kb="alpha"), "down", Correction(answer="172处"))
    # a different answer, or a different gold report, is another question
    store.add(record("g", kb="alpha"), "down", Correction(answer="一百七十二处"))
    store.add(record("h", kb="alpha"), "down", Correction(answer="172处", doc_id="b"))
    rows = _export(store, tmp_path)
    first = min(f.feedback_id for f in store.list(kb="alpha"))
    assert (rows[0]["id"], rows[0]["count"], rows[0]["kb"]) == (f"feedback-{first}", 500, "alpha")
    assert [r["count"] for r in rows] == [500, 1, 1]
    assert [r["doc"] for r in rows] == ["a", "a", "b"]
    # the earliest id is kept whatever order the feedback comes in
    assert qa_rows(store.list(), REPORTS).rows == rows


def test_export_refuses_feedback_of_several_bases(store: FeedbackStore) -> None:
    store.add(record("a", kb="alpha"), "down", Correction(answer="172处"))
    store.add(record("b", kb="beta"), "down", Correction(answer="172处"))
    with pytest.raises(ValueError, match="alpha, beta"):
        qa_rows(store.list(), REPORTS)
    assert [r["kb"] for r in qa_rows(store.list(kb="beta"), REPORTS).rows] == ["beta"]
