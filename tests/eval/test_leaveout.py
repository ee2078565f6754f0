"""Leave-out evaluation (``eval.leaveout``): whole documents leave the index and questions about
them become questions to refuse. Worked on the toy BEIR set and hand-made passages."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.data import load_beir, load_beir_corpus
from eval.leaveout import apply, choose
from indexer.types import Report

TOY = Path(__file__).resolve().parents[1] / "data" / "eval_toy" / "beir"


def test_the_choice_is_seeded_and_takes_the_share_of_documents() -> None:
    reports = load_beir_corpus(TOY)  # three passages, three titles
    first = choose(reports, 0.34, seed=1)
    assert first == choose(reports, 0.34, seed=1)  # reproducible
    assert first[0] == 1 and len(first[1]) == 1  # round(0.34 × 3) = 1 document
    assert {frozenset(choose(reports, 0.34, seed=s)[1]) for s in range(20)} == {
        frozenset({"P1"}), frozenset({"P2"}), frozenset({"P3"})
    }


def test_passages_sharing_a_title_leave_together() -> None:
    reports = [Report("a1", "甲", "x"), Report("a2", "甲", "y"), Report("b1", "乙", "z")]
    for seed in range(10):
        count, passages = choose(reports, 0.5, seed)
        assert count == 1 and passages in ({"a1", "a2"}, {"b1"})


def test_a_qa_source_file_leaves_with_every_report_split_from_it() -> None:
    # 004.txt holds two reports; QA gold names the file, so both leave and the file id is listed
    reports = [
        Report("004-1", "甲", "x", {"source_id": "004"}),
        Report("004-2", "乙", "y", {"source_id": "004"}),
        Report("000", "丙", "z", {"source_id": "000"}),
    ]
    chosen = {choose(reports, 0.5, seed, by_source=True)[1] for seed in range(10)}
    assert chosen == {frozenset({"004-1", "004-2", "004"}), frozenset({"000"})}


def test_questions_about_left_out_documents_become_unanswerable() -> None:
    eval_set = load_beir(TOY)
    reports = load_beir_corpus(TOY)
    seed = next(s for s in range(50) if choose(reports, 0.34, s)[1] == {"P3"})
    changed, left = apply(eval_set, reports, 0.34, seed)
    by_id = {q.qid: q for q in changed.queries}
    assert not by_id["DEV_2"].answerable and by_id["DEV_2"].type == "DEV-left-out"
    assert by_id["DEV_1"].answerable and by_id["TRIAL_1"].answerable
    assert left.questions == 1 and left.passages == {"P3"}
    assert left.describe()["documents_left_out"] == 1


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, 1.5])
def test_a_share_outside_zero_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="--leave-out"):
        choose(load_beir_corpus(TOY), share, 0)


def test_qa_leave_out_rebuilds_the_index_without_a_report_file(tmp_path: Path, index_dir: Path) -> None:
    """`zhiwen eval --qa … --leave-out`: the dev questions about the report file left out of the
    index are refused, through the real command on a real index."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    dev = root.parent / "shared" / "eval" / "dev_questions.jsonl"
    assert dev.is_file(), f"no dev set at {dev}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable, "-m", "zhiwen.cli", "eval", "--qa", str(dev), "--index", str(index_dir),
            "--leave-out", "0.15", "--seed", "0", "--no-default-systems", "--system", "hybrid",
            "--quiet", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        ],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    config = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["config"]
    assert config["leave_out"]["documents_left_out"] == 1
    assert config["leave_out"]["questions_about_them"] >= 1
    assert str(tmp_path / "cache") in config["index"]  # the reduced index, not the full one
    records = [json.loads(line) for line in (out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    left = [r for r in records if r["type"].endswith("-left-out")]
    assert len(left) == config["leave_out"]["questions_about_them"]
    assert all(not r["answer"]["answerable"] for r in left), [r["question"] for r in left if r["answer"]["answerable"]]
