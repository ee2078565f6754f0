"""Fact features on made-up sentences, each value worked out by hand."""

from __future__ import annotations

import pytest

from indexer.text.zh import norm
from service.answering.fact_features import (
    FACT_FEATURES,
    fact_features,
    literals_missing,
    negated,
    negation_mismatch,
    question_literals,
    relation_found,
    relation_word,
    window_text,
)


def test_window_is_the_lead_sentence_and_its_neighbours() -> None:
    sentences = ["甲。", "乙。", "丙。", "丁。"]
    assert window_text(sentences, 0) == "甲。乙。"
    assert window_text(sentences, 2) == "乙。丙。丁。"
    assert window_text(sentences, 2, radius=0) == "丙。"
    assert window_text(sentences, -1) == "甲。乙。丙。丁。"  # lead not found: the whole chunk


def test_literals_are_numbers_latin_words_and_quoted_names() -> None:
    assert question_literals("《红楼梦》在1791年由哪家出版社出版？") == ("红楼梦", "1791")
    assert question_literals("NASA的Apollo计划始于哪一年") == ("nasa", "apollo")
    assert question_literals("他是谁") == ()
    # one of two literals missing
    assert literals_missing(("红楼梦", "1791"), "红楼梦于1792年出版") == pytest.approx(0.5)
    assert literals_missing((), "任何文字") == 0.0


def test_negation_ignores_compounds() -> None:
    assert negated("哪个城市不是首都")
    assert negated("没有参加比赛的是谁")
    assert not negated("不同地区的非常规做法")
    assert not negated("未来十年的计划")
    assert negation_mismatch("哪种动物不会飞", "企鹅是一种鸟。") == 1.0
    assert negation_mismatch("哪种动物不会飞", "企鹅不会飞。") == 0.0
    assert negation_mismatch("哪种动物会飞", "企鹅不会飞。") == 0.0  # only a negated question counts


def test_relation_word_is_the_term_next_to_the_question_word() -> None:
    # 首都 ends right before 是什么 (是 is a filler); 法国 is farther away
    assert relation_word("法国的首都是什么", ["法国", "首都"]) == "首都"
    # nothing before 谁: the term right after it (了 skipped)
    assert relation_word("谁发明了电话", ["发明", "电话"]) == "发明"
    assert relation_word("法国首都", ["法国", "首都"]) == ""  # no question word
    assert relation_found("首都", "巴黎是法国的首都。") == 1.0
    assert relation_found("首都", "巴黎是法国最大的城市。") == 0.0
    assert relation_found("", "任何") == 1.0


def test_fact_features_of_an_answer_whose_fact_is_elsewhere() -> None:
    # terms 巴黎 (weight 3) and 人口 (weight 1); the lead sentence (index 2) and its neighbours
    # hold 巴黎 only, the passage holds both: window 3/4, passage 4/4, gap 1/4
    sentences = [norm(s) for s in ["人口很多。", "天气很好。", "巴黎是首都。", "河流穿城。"]]
    passage = "".join(sentences)
    f = fact_features("巴黎的人口是多少", ["巴黎", "人口"], [3.0, 1.0], frozenset({"巴黎", "人口"}),
                      sentences, 2, passage)
    assert set(f) == set(FACT_FEATURES)
    assert f["window_terms"] == pytest.approx(0.75)
    assert f["window_gap"] == pytest.approx(0.25)
    assert f["window_bigrams"] == pytest.approx(0.5)  # 巴黎 yes, 人口 no
    assert f["lead_rarest"] == 1.0  # 巴黎, the rarest, is in the lead sentence
    assert f["literals_missing"] == 0.0
    assert f["negation_mismatch"] == 0.0
    assert f["relation_found"] == 0.0  # 人口, next to 是多少, is not near the lead
