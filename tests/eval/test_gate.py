"""CI gate: the dev-set evaluation, run in-process on a fresh index of data/reports with the real
model, must meet every floor in eval/floors.toml. Plus unit tests of the gate itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.gate import check, gate_table, load_floors
from eval.metrics import MetricValue

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ROOT / "eval" / "floors.toml"
# The project's copy of the dev set if it ships one, else the shared one CI has beside the project.
DEV_SETS = (
    ROOT / "data" / "eval" / "dev_questions.jsonl",
    ROOT.parent / "shared" / "eval" / "dev_questions.jsonl",
)


def test_check_reports_each_violation_readably() -> None:
    floors = {
        "hybrid_hit@1": 0.95,
        "hybrid_hit@5": 1.0,
        "hybrid_abstention_recall": 1.0,
        "x_y": 0.5,
    }
    metrics: dict[str, MetricValue] = {
        "hybrid_hit@1": 0.9130434782608695,  # 21/23
        "hybrid_hit@5": 1.0,
        "hybrid_abstention_recall": None,
    }
    assert check(metrics, floors) == [
        "hybrid_hit@1: 0.913 < floor 0.950",
        "hybrid_abstention_recall: undefined on this set (floor 1.000)",
        "x_y: not measured (floor 0.500)",
    ]
    table = gate_table(metrics, floors)
    assert "| hybrid_hit@1 | 0.950 | 0.913 | FAIL |" in table
    assert "| hybrid_hit@5 | 1.000 | 1.000 | ok |" in table


def test_check_tolerates_float_noise() -> None:
    # 19/20 computed as a mean of 0/1 values may come out a hair under 0.95.
    assert check({"m": 0.95 - 1e-12}, {"m": 0.95}) == []
    assert check({"m": 1.0}, {"m": 1.0}) == []


def test_floors_file_is_well_formed() -> None:
    floors = load_floors(FLOORS)
    assert floors, "eval/floors.toml has no floors"
    for name, value in floors.items():
        system, _, metric = name.partition("_")
        assert system and metric, f"{name}: expected <system>_<metric>"
        assert 0.0 <= value <= 1.0, f"{name}: floor {value} is not a share"


def test_load_floors_rejects_non_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "floors.toml"
    bad.write_text('[floors]\n"hybrid_hit@1" = "high"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="hybrid_hit@1"):
        load_floors(bad)


@pytest.fixture(scope="session")
def dev_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MetricValue]:
    """The dev-set evaluation (keyword, dense, hybrid; answers for hybrid) on a fresh index."""
    from embeddings import load_embedder
    from eval.data import load_qa
    from eval.runner import run_evaluation
    from eval.systems import DEFAULT_SYSTEMS, InProcessBackend
    from indexer.backends.local.build import build_index
    from indexer.backends.local.store import load_index
    from service.answering.extractive import ExtractiveComposer

    dev_set = next((p for p in DEV_SETS if p.is_file()), None)
    assert dev_set is not None, f"no dev set at any of {[str(p) for p in DEV_SETS]}"
    embedder = load_embedder("m3e-small")
    index_dir = tmp_path_factory.mktemp("eval-gate") / "index"
    build_index(ROOT / "data" / "reports", index_dir, embedder)
    searcher = load_index(index_dir, embedder)
    backend = InProcessBackend(searcher, ExtractiveComposer.for_index(searcher))
    run = run_evaluation(load_qa(dev_set), backend, DEFAULT_SYSTEMS, answer_systems={"hybrid"})
    return run.flat_metrics()


def test_dev_set_meets_floors(dev_metrics: dict[str, MetricValue]) -> None:
    floors = load_floors(FLOORS)
    violations = check(dev_metrics, floors)
    assert not violations, "dev-set evaluation below floors:\n" + gate_table(dev_metrics, floors)


CMRC = ROOT.parent / "shared" / "benchmarks" / "cmrc2018"
CMRC_TABLE = "cmrc_dev_leave_out"


def test_cmrc_leave_out_subset_meets_floors(tmp_path: Path) -> None:
    """Questions nobody tuned for: the first 300 CMRC 2018 DEV questions, their articles indexed
    with 15 % of them left out (seed 0), through the real `zhiwen eval` command and its gate."""
    import os
    import subprocess
    import sys

    assert (CMRC / "corpus.jsonl").is_file(), f"no CMRC 2018 benchmark at {CMRC}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable, "-m", "zhiwen.cli", "eval", "--beir", str(CMRC), "--split", "DEV",
            "--limit", "300", "--gold-corpus", "--leave-out", "0.15", "--seed", "0",
            "--no-default-systems", "--system", "hybrid", "--quiet",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
            "--gate", str(FLOORS), "--gate-table", CMRC_TABLE,
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Gate passed." in result.stdout
    assert (out / "risk_coverage.png").is_file()


def test_multi_set_meets_floors(tmp_path: Path, index_dir: Path) -> None:
    """The list and comparison questions (eval/data/multi_questions.jsonl) through the real
    `zhiwen eval --multi` command and its gate: report recall and precision keep what they reach."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    result = subprocess.run(
        [
            sys.executable, "-m", "zhiwen.cli", "eval",
            "--multi", str(ROOT / "eval" / "data" / "multi_questions.jsonl"),
            "--index", str(index_dir), "--quiet", "--out", str(tmp_path / "out"),
            "--gate", str(FLOORS), "--gate-table", "multi",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Gate passed." in result.stdout


def test_every_floors_table_is_well_formed() -> None:
    for table in ("floors", CMRC_TABLE, "multi"):
        floors = load_floors(FLOORS, table)
        for name, value in floors.items():
            assert "_" in name and 0.0 <= value <= 1.0, f"[{table}] {name} = {value}"


def test_unknown_floors_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no \[nope\] table \(tables: floors"):
        load_floors(FLOORS, "nope")


def test_an_index_of_an_older_pipeline_is_named_before_its_figures(caplog: pytest.LogCaptureFixture) -> None:
    """Figures of an index built by older code are not this code's (README figures must be)."""
    import logging

    from eval.indexes import warn_if_stale
    from indexer.params import PIPELINE_VERSION

    with caplog.at_level(logging.WARNING, logger="eval.cli"):
        warn_if_stale({"params": {"pipeline_version": PIPELINE_VERSION}}, Path("fresh"))
        assert not caplog.records
        warn_if_stale({"params": {"pipeline_version": PIPELINE_VERSION - 1}}, Path("old"))
    assert "zhiwen index" in caplog.text and "old" in caplog.text
