"""`zhiwen eval --multi FILE`: list and comparison questions asked through the real answering
engine, scored by report, as rows and files of their own (two questions of the set: cheap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MULTI = ROOT / "eval" / "data" / "multi_questions.jsonl"


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    return subprocess.run([sys.executable, "-m", "zhiwen.cli", "eval", *args, "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_two_questions_through_the_engine(tmp_path: Path, index_dir: Path) -> None:
    lines = MULTI.read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines]
    # one list question some reports answer, one no report answers
    chosen = [next(i for i in items if i["kind"] == "list" and len(i["expected"]) >= 2),
              next(i for i in items if not i["expected"])]
    two = tmp_path / "two.jsonl"
    two.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in chosen), encoding="utf-8")
    out = tmp_path / "out"
    result = _eval("--multi", str(two), "--index", str(index_dir), "--out", str(out), "--per-question")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "| multi list report recall |" in result.stdout and "| multi no-report refused |" in result.stdout
    assert chosen[0]["question"] in result.stdout  # the per-question table, asked for

    metrics = json.loads((out / "multi.json").read_text(encoding="utf-8"))["metrics"]
    assert metrics["multi_list_questions"] == 2.0 and metrics["multi_no_report_questions"] == 1.0
    assert all(v is None or 0.0 <= v <= 1.0 for k, v in metrics.items() if not k.endswith("questions"))
    records = [json.loads(line) for line in (out / "multi_per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [i["id"] for i in chosen]
    for r in records:
        answer, score = r["answer"], r["score"]
        if answer["answer_kind"] == "refusal":
            assert score["given"] == []
        elif not answer["groups"]:  # a fact answer: one group per cited report, in order
            assert score["given"] == list(dict.fromkeys(c["doc_id"] for c in answer["citations"]))
    assert "multi list report recall" in (out / "report.md").read_text(encoding="utf-8")


def test_multi_runs_in_process_only_and_something_must_be_asked() -> None:
    over_http = _eval("--multi", str(MULTI), "--url", "http://127.0.0.1:9")
    assert over_http.returncode == 2 and "in-process" in over_http.stderr
    nothing = _eval()
    assert nothing.returncode == 2 and "--multi" in nothing.stderr
