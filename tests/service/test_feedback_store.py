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
           question: str = "九水街道整改了多少处隐患？") -> AnswerRecord:
    spans = tuple(CitedSpan(i + 1, d, 0, 4, REPORTS[d][:4]) for i, d in enumerate(cites))
    return AnswerRecord(answer_id, question, "答案[1]", answerable, spans, "snap-1", 0.0)


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
