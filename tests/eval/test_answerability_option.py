"""`zhiwen eval --answerability FILE` judges the answers with that model, and a bad file is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"
PACKAGED = ROOT / "service" / "answering" / "answerability.json"


def _eval(index_dir: Path, out: Path, model: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    return subprocess.run(
        [sys.executable, "-m", "zhiwen.cli", "eval", "--qa", str(DEV), "--index", str(index_dir),
         "--no-default-systems", "--system", "hybrid", "--limit", "5", "--quiet", "--out", str(out),
         "--answerability", str(model)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


def test_another_model_decides_the_refusals(tmp_path: Path, index_dir: Path) -> None:
    assert DEV.is_file(), f"no dev set at {DEV}"
    model = json.loads(PACKAGED.read_text(encoding="utf-8"))
    model["threshold"] = 1.0  # no probability reaches it: every answer is refused
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(model), encoding="utf-8")
    result = _eval(index_dir, tmp_path / "out", strict)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["config"]["answerability"] == str(strict)
    records = [json.loads(line) for line in (tmp_path / "out" / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    answers = [r["answer"] for r in records if r.get("answer")]
    assert answers and not any(a["answerable"] for a in answers)


def test_a_missing_model_file_is_named(tmp_path: Path, index_dir: Path) -> None:
    result = _eval(index_dir, tmp_path / "out", tmp_path / "nope.json")
    assert result.returncode == 2
    assert "nope.json" in result.stderr and "Traceback" not in result.stderr
