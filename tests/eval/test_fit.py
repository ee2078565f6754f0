"""The fit command's choice of operating point, on rows worked out by hand."""

from __future__ import annotations

import pytest

from eval.fit import Row, operating_point, outcomes, scoring_overrides


def _row(qid: str, p: float | None, right: bool, left_out: bool) -> tuple[Row, float | None]:
    return Row(qid, 0, None if p is None else {"p": p}, right, left_out), p


def test_operating_point_is_the_lowest_threshold_meeting_the_refusal_target() -> None:
    made = [
        _row("a", 0.9, True, False),
        _row("b", 0.7, True, False),
        _row("c", 0.4, False, False),
        _row("d", 0.6, False, True),
        _row("e", 0.3, False, True),
        _row("f", None, False, True),  # refused by a rule whatever the threshold
        _row("g", 0.2, False, True),
    ]
    rows = [r for r, _ in made]
    probs = {id(r): p for r, p in made if p is not None}
    # left out: f always refused; threshold 0.6 refuses e, g, f (3/4); 0.7 all four
    threshold, figures = operating_point(rows, probs, 0.9)
    assert threshold == pytest.approx(0.7)
    assert figures["left_out_refused"] == 1.0
    assert figures["others_right"] == pytest.approx(2 / 3)
    assert outcomes(rows, probs, 0.6)["left_out_refused"] == pytest.approx(0.75)
    assert operating_point(rows, probs, 0.7)[0] == pytest.approx(0.4)  # 0.4 already refuses e, g, f


def test_operating_point_must_hold_on_every_left_out_sample() -> None:
    # seed 0 alone is met above 0.4; seed 1's left-out question scores 0.8, so only 0.9 holds on both
    rows = [
        Row("a", 0, {}, True, False),
        Row("b", 0, {}, False, True),
        Row("c", 1, {}, True, False),
        Row("d", 1, {}, False, True),
    ]
    probs = {id(rows[0]): 0.9, id(rows[1]): 0.4, id(rows[2]): 0.95, id(rows[3]): 0.8}
    threshold, figures = operating_point(rows, probs, 1.0)
    assert threshold == pytest.approx(0.9)
    assert figures["worst_sample_refused"] == 1.0
    assert operating_point(rows[:2], probs, 1.0)[0] == pytest.approx(0.8)


def test_scoring_overrides_for_sweeps_name_a_bad_field() -> None:
    scoring = scoring_overrides(["answer.max_sentences=2", "keep_ratio=0.9"])
    assert (scoring.answer.max_sentences, scoring.answer.keep_ratio) == (2, 0.9)
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        scoring_overrides(["max_sentences"])
    with pytest.raises(ValueError, match="no_such_field"):
        scoring_overrides(["no_such_field=1"])
