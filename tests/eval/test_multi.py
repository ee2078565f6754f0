"""Scoring list and comparison answers by report (eval.multi), on tiny hand-made reports."""

from __future__ import annotations

import pytest

from eval.multi import (
    AnswerGroup,
    CitedSpan,
    Expected,
    MultiDataError,
    MultiQuestion,
    aggregate,
    evidence_problems,
    evidence_spans,
    groups_of,
    parse_item,
    score_question,
)
from service.answering.types import Answer, Citation, Group

# Three reports; 「助老食堂」 is stated by a (twice) and b, never by c.
TEXTS = {
    "a": "九水街道建成助老食堂三处。街道还开展文化活动。王家下河助老食堂开业。",
    "b": "湖岛街道开设助老食堂一处。",
    "c": "堤口路街道开展党史学习教育。",
}
ITEM = MultiQuestion("q1", "哪些街道建了助老食堂？", "list", (
    Expected("a", ("助老食堂",)),
    Expected("b", ("开设助老食堂",)),
))
NOBODY = MultiQuestion("q2", "哪些街道开展了无偿献血？", "list", ())


def span(doc: str, text: str) -> CitedSpan:
    start = TEXTS[doc].index(text)
    return CitedSpan(start, start + len(text), text)


def test_evidence_spans_are_every_occurrence() -> None:
    assert evidence_spans(TEXTS["a"], ["助老食堂"]) == [(6, 10), (27, 31)]
    assert evidence_spans(TEXTS["c"], ["助老食堂"]) == []


def test_both_expected_reports_quoted_where_they_state_it() -> None:
    groups = [AnswerGroup("a", (span("a", "九水街道建成助老食堂三处。"),)),
              AnswerGroup("b", (span("b", "湖岛街道开设助老食堂一处。"),))]
    s = score_question(ITEM, groups, TEXTS, refused=False, answer_kind="list")
    assert (s.recall, s.precision, s.found, s.right) == (1.0, 1.0, ("a", "b"), 2)


def test_a_report_quoted_elsewhere_does_not_count() -> None:
    # a is quoted only where it speaks of culture; c is not expected: 0 of 2 expected found,
    # 0 of 2 groups right
    groups = [AnswerGroup("a", (span("a", "街道还开展文化活动。"),)),
              AnswerGroup("c", (span("c", "堤口路街道开展党史学习教育。"),))]
    s = score_question(ITEM, groups, TEXTS, refused=False)
    assert (s.recall, s.precision, s.found) == (0.0, 0.0, ())


def test_the_second_place_a_report_states_it_counts_and_partial_overlap_is_enough() -> None:
    # 「王家下河助老」 shares 「助老」 with the second 「助老食堂」 of a: a found; b not quoted
    groups = [AnswerGroup("a", (span("a", "王家下河助老"),))]
    s = score_question(ITEM, groups, TEXTS, refused=False)
    assert (s.recall, s.precision) == (0.5, 1.0)


def test_a_citation_that_only_touches_the_evidence_does_not_count() -> None:
    # 「九水街道建成」 ends where 「助老食堂」 starts: no character shared
    groups = [AnswerGroup("a", (span("a", "九水街道建成"),))]
    assert score_question(ITEM, groups, TEXTS, refused=False).recall == 0.0


def test_the_empty_cases() -> None:
    refused = score_question(NOBODY, [], TEXTS, refused=True)
    assert (refused.recall, refused.precision, refused.answer_kind) == (1.0, 1.0, "refusal")
    answered = score_question(NOBODY, [AnswerGroup("c", (span("c", "堤口路街道开展党史学习教育。"),))],
                              TEXTS, refused=False)
    assert (answered.recall, answered.precision) == (0.0, 0.0)
    missed = score_question(ITEM, [], TEXTS, refused=True)
    assert (missed.recall, missed.precision) == (0.0, 0.0)
    # a refusal's closest passages are never groups
    quoted_refusal = score_question(ITEM, [AnswerGroup("b", (span("b", "开设助老食堂"),))], TEXTS, refused=True)
    assert quoted_refusal.given == () and quoted_refusal.recall == 0.0


def test_a_fact_answer_is_one_group_per_cited_report() -> None:
    cites = (Citation(1, "a", "", "九水街道建成助老食堂三处。", 0, 13),
             Citation(2, "b", "", "湖岛街道开设助老食堂一处。", 0, 13),
             Citation(3, "a", "", "王家下河助老食堂开业。", 23, 34))
    groups = groups_of(Answer("…", True, cites, ()))
    assert [(g.doc_id, [(s.start, s.end) for s in g.spans]) for g in groups] == [
        ("a", [(0, 13), (23, 34)]), ("b", [(0, 13)])]
    assert groups_of(Answer("资料中未找到", False, cites, ())) == ()


def test_a_list_answer_is_scored_by_its_own_groups() -> None:
    cites = (Citation(1, "a", "", "九水街道建成助老食堂三处。", 0, 13),
             Citation(2, "b", "", "湖岛街道开设助老食堂一处。", 0, 13))
    answer = Answer("…", True, cites, (), kind="list",
                    groups=(Group("b", "", (), (2,)), Group("a", "", (), (1,))))
    assert [(g.doc_id, g.spans[0].start) for g in groups_of(answer)] == [("b", 0), ("a", 0)]


def test_aggregate_micro_and_macro_by_hand() -> None:
    both = score_question(ITEM, [AnswerGroup("a", (span("a", "助老食堂"),)),
                                 AnswerGroup("b", (span("b", "开设助老食堂"),))], TEXTS,
                          refused=False, answer_kind="list")          # R 2/2, P 2/2
    half = score_question(ITEM, [AnswerGroup("a", (span("a", "助老食堂"),)),
                                 AnswerGroup("c", (span("c", "党史学习教育"),))], TEXTS,
                          refused=False, answer_kind="fact")          # R 1/2, P 1/2
    wrong = score_question(NOBODY, [AnswerGroup("c", (span("c", "党史学习教育"),))], TEXTS,
                           refused=False)                             # R 0, P 0/1
    right = score_question(NOBODY, [], TEXTS, refused=True)           # R 1, P 1 (no counts)
    compared = score_question(
        MultiQuestion("q3", "九水街道和湖岛街道哪个助老食堂多？", "comparison",
                      (Expected("a", ("建成助老食堂三处",)), Expected("b", ("助老食堂一处",)))),
        [AnswerGroup("a", (span("a", "九水街道建成助老食堂三处。"),))], TEXTS,
        refused=False, answer_kind="comparison")                      # R 1/2, P 1/1
    m = aggregate([both, half, wrong, right, compared])
    # list micro: recall (2 + 1) / (2 + 2) = 0.75; precision (2 + 1 + 0) / (2 + 2 + 1) = 0.6
    assert m["multi_list_report_recall"] == pytest.approx(0.75)
    assert m["multi_list_report_precision"] == pytest.approx(0.6)
    # list macro: recall (1 + 0.5 + 0 + 1) / 4 = 0.625; precision (1 + 0.5 + 0 + 1) / 4 = 0.625
    assert m["multi_list_report_recall_macro"] == pytest.approx(0.625)
    assert m["multi_list_report_precision_macro"] == pytest.approx(0.625)
    # of the two list questions some report answers, one was answered as a list
    assert m["multi_list_answered_as_list"] == pytest.approx(0.5)
    assert m["multi_list_questions"] == 4.0
    assert (m["multi_comparison_report_recall"], m["multi_comparison_report_precision"]) == (0.5, 1.0)
    assert m["multi_comparison_answered_as_comparison"] == 1.0
    # both kinds: recall (3 + 1) / (4 + 2), precision (3 + 1) / (5 + 1)
    assert (m["multi_all_report_recall"], m["multi_all_report_precision"]) == (pytest.approx(4 / 6), pytest.approx(4 / 6))
    # of the two questions no report answers, one refused
    assert (m["multi_no_report_refused"], m["multi_no_report_questions"]) == (0.5, 2.0)


def test_undefined_figures_are_none() -> None:
    m = aggregate([score_question(ITEM, [], TEXTS, refused=True)])
    assert m["multi_list_report_precision"] is None  # no group at all
    assert m["multi_comparison_report_recall"] is None and m["multi_no_report_refused"] is None


def test_items_are_parsed_and_checked_against_the_reports() -> None:
    item = parse_item({"id": "m1", "question": "哪些？", "kind": "list",
                       "expected": [{"doc_id": "a", "evidence": ["助老食堂", "没有这句"]},
                                    {"doc_id": "z", "evidence": ["x"]}]}, "f:1")
    assert evidence_problems(item, TEXTS) == ["m1: a: evidence '没有这句' is not in its text",
                                              "m1: report z is not in the index"]
    with pytest.raises(MultiDataError, match="f:2: 'kind'"):
        parse_item({"id": "m2", "question": "？", "kind": "fact", "expected": []}, "f:2")
    with pytest.raises(MultiDataError, match="f:3: a: 'evidence'"):
        parse_item({"id": "m3", "question": "？", "kind": "list",
                    "expected": [{"doc_id": "a", "evidence": []}]}, "f:3")
