"""The fit command's choice of operating point, weights and folds, on rows worked out by hand."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest

from eval.fit import feature_set, fit_command, scoring_overrides
from eval.fit_data import Row
from eval.fit_model import (
    answered_at,
    choose_threshold,
    cross_validate,
    figures,
    folds,
    source_weights,
)


def _rows(made: list[tuple[str, float | None, bool, bool, str]], seed: int = 0) -> tuple[list[Row], np.ndarray]:
    rows = [Row(q, seed, None if p is None else {"p": p}, right, refuse, source, q) for q, p, right, refuse, source in made]
    return rows, np.array([math.nan if p is None else p for _, p, *_ in made])


LEAVE = "cmrc-leave-out"
ONE = [
    ("a", 0.9, True, False, LEAVE),
    ("b", 0.7, True, False, LEAVE),
    ("c", 0.4, False, False, LEAVE),
    ("d", 0.6, False, True, LEAVE),
    ("e", 0.3, False, True, LEAVE),
    ("f", None, False, True, LEAVE),  # refused by a rule whatever the threshold
    ("g", 0.2, False, True, LEAVE),
]


def test_threshold_maximises_equal_mix_accuracy_above_the_refusal_floor() -> None:
    rows, p = _rows(ONE)
    # refused of d e f g: 0.4 and 0.6 → 3/4, 0.7 → 4/4; right of a b c: up to 0.7 → 2/3, 0.9 → 1/3
    # accuracy: 0.4 → (0.75 + 2/3)/2 = 0.708; 0.7 → (1 + 2/3)/2 = 0.833; 0.9 → (1 + 1/3)/2 = 0.667
    # the floor 0.75 is met from 0.4 up (the old rule's lowest threshold); 0.7 is the best above it
    assert choose_threshold(rows, p, 0.75) == pytest.approx(0.7)
    assert choose_threshold(rows, p, 0.9) == pytest.approx(0.7)
    found = figures(rows, answered_at(p, 0.7))
    assert found["sources"][LEAVE]["refused"] == 1.0
    assert found["sources"][LEAVE]["right"] == pytest.approx(2 / 3)
    assert found["sources"][LEAVE]["mix_accuracy"] == pytest.approx(5 / 6)
    assert found["worst_seed_refused"] == 1.0


def test_every_source_counts_equally_in_the_choice() -> None:
    # squad2 rows h (answerable, right, 0.8) and i (impossible, 0.75): at 0.7 squad2 scores 0.5,
    # at 0.8 it scores 1 while CMRC falls to (1 + 1/3)/2; mean 0.667 at 0.7 < 0.833 at 0.8
    rows, p = _rows([*ONE, ("h", 0.8, True, False, "squad2-fit"), ("i", 0.75, False, True, "squad2-fit")])
    assert choose_threshold(rows, p, 0.9) == pytest.approx(0.8)
    found = figures(rows, answered_at(p, 0.8))
    assert found["mean_mix_accuracy"] == pytest.approx((2 / 3 + 1.0) / 2)


def test_the_refusal_floor_must_hold_on_every_leave_out_seed() -> None:
    # seed 0 alone is met from 0.4; seed 1's left-out question scores 0.8, so only ≥ 0.95 holds on both
    rows = [
        Row("a", 0, {}, True, False), Row("b", 0, {}, False, True),
        Row("c", 1, {}, True, False), Row("d", 1, {}, False, True),
    ]
    p = np.array([0.9, 0.4, 0.95, 0.8])
    assert choose_threshold(rows, p, 1.0) == pytest.approx(0.9)
    assert choose_threshold(rows[:2], p[:2], 1.0) == pytest.approx(0.9)  # best accuracy, not lowest
    assert figures(rows, answered_at(p, 0.9))["seed_refused"] == {0: 1.0, 1: 1.0}


def test_each_source_weighs_the_same() -> None:
    rows = [Row("a", 0, {}, True, False, "x"), Row("b", 0, {}, True, False, "x"),
            Row("c", 0, {}, True, False, "x"), Row("d", 0, {}, True, False, "y")]
    # 4 rows, 2 sources: x rows 4/2/3 = 2/3 each, the y row 4/2/1 = 2; they sum to 4
    assert source_weights(rows).tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])


def test_folds_keep_an_article_whole_across_seeds_and_sources() -> None:
    rows = [Row(f"q{i}", seed, {}, True, False, source, f"cmrc:P{i % 7}")
            for i in range(35) for seed, source in ((0, LEAVE), (1, LEAVE), (0, "cmrc-removed"))]
    seen: dict[str, int] = {}
    for n, test in enumerate(folds(rows, 5)):
        for i in test:
            assert seen.setdefault(rows[i].article, n) == n
    assert len(seen) == 7


def test_cross_validation_decides_every_row_out_of_fold() -> None:
    # one feature that separates right from wrong: every fold learns it, so out of fold all is right
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        right = i % 2 == 0
        x = float(rng.normal(1.0 if right else -1.0, 0.3))
        rows.append(Row(f"q{i}", i % 2, {"x": x}, right, not right, LEAVE, f"cmrc:P{i // 4}"))
    found = cross_validate(rows, ("x",), 0.9)
    assert len(found["thresholds"]) == 5
    assert found["sources"][LEAVE]["mix_accuracy"] > 0.95
    assert found["worst_seed_refused"] >= 0.9


def test_feature_sets_and_the_recorded_command() -> None:
    from service.answering.answerability import BASE_FEATURES
    from service.answering.fact_features import FACT_FEATURES

    assert feature_set("base") == BASE_FEATURES
    assert feature_set("fact") == BASE_FEATURES + FACT_FEATURES
    assert feature_set("a, b,a") == ("a", "b")
    args = argparse.Namespace(
        beir=Path("../shared/benchmarks/cmrc2018"), split="TRIAL", leave_out=0.15, removed=0.15, removed_seed=0,
        squad2=Path("../shared/benchmarks/squad2-zh"), features=None, target_refusal=0.9, limit=None, scoring=[],
    )
    assert fit_command(args, [0]) == (
        "zhiwen fit-answerability --beir ../shared/benchmarks/cmrc2018 --split TRIAL --leave-out 0.15 --seeds 0 "
        "--removed 0.15 --removed-seed 0 --squad2 ../shared/benchmarks/squad2-zh --target-refusal 0.9"
    )


def test_scoring_overrides_for_sweeps_name_a_bad_field() -> None:
    scoring = scoring_overrides(["answer.max_sentences=2", "keep_ratio=0.9"])
    assert (scoring.answer.max_sentences, scoring.answer.keep_ratio) == (2, 0.9)
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        scoring_overrides(["max_sentences"])
    with pytest.raises(ValueError, match="no_such_field"):
        scoring_overrides(["no_such_field=1"])
