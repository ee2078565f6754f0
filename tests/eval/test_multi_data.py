"""The list and comparison eval set (eval/data/multi_questions.jsonl) against the bundled reports:
every report it names exists, every evidence string is in that report's text, and its make-up is
the one the set promises (lists stated by several reports, by one, by none; comparisons)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPORTS_DIR

ROOT = Path(__file__).resolve().parents[2]
MULTI = ROOT / "eval" / "data" / "multi_questions.jsonl"


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in MULTI.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """Report id -> text, as the indexer reads the bundled corpus (a file may hold two reports)."""
    from indexer.ingest.corpus import read_reports

    names = sorted(p.name for p in REPORTS_DIR.iterdir() if p.is_file())
    reports, skipped = read_reports(REPORTS_DIR, names)
    assert not skipped
    return {r.doc_id: r.text for r in reports}


def test_every_evidence_string_is_in_its_report(items: list[dict[str, Any]], texts: dict[str, str]) -> None:
    missing = [
        (item["id"], e["doc_id"], ev)
        for item in items for e in item["expected"] for ev in e["evidence"]
        if e["doc_id"] not in texts or ev not in texts[e["doc_id"]]
    ]
    assert not missing


def test_lines_are_well_formed(items: list[dict[str, Any]], texts: dict[str, str]) -> None:
    ids = [item["id"] for item in items]
    assert len(set(ids)) == len(ids)
    for item in items:
        assert set(item) == {"id", "question", "kind", "expected", "note"}, item["id"]
        assert item["kind"] in ("list", "comparison"), item["id"]
        docs = [e["doc_id"] for e in item["expected"]]
        assert len(set(docs)) == len(docs), item["id"]
        for e in item["expected"]:
            assert e["doc_id"] in texts, (item["id"], e["doc_id"])
            assert e["evidence"], (item["id"], e["doc_id"])
            assert all(6 <= len(ev) <= 40 for ev in e["evidence"]), (item["id"], e["doc_id"])


def test_the_set_has_the_promised_make_up(items: list[dict[str, Any]], texts: dict[str, str]) -> None:
    lists = [i for i in items if i["kind"] == "list"]
    comparisons = [i for i in items if i["kind"] == "comparison"]
    assert len(items) >= 26 and len(lists) >= 18 and len(comparisons) >= 6
    by_count = Counter(len(i["expected"]) for i in lists)
    assert by_count[0] >= 2  # stated by no report: must be refused
    assert by_count[1] >= 2  # stated by one report only
    assert by_count[2] >= 1 and by_count[3] + by_count[4] >= 1
    assert any(len(i["expected"]) == len(texts) for i in lists)  # stated by every report
    sides = Counter(len(i["expected"]) for i in comparisons)
    assert sides[2] >= 1 and sides[1] >= 1  # both sides state it; one side does not
