"""The scoring configuration and the scoring functions that read it, with values worked out by
hand: fusion (adaptive dense weight, normalisation, RRF), sentence evidence, and the extractive
composer's refusal. No model or index: hand-built questions, sentences and hits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from indexer.retrieval.evidence import (
    QuestionInfo,
    evidence_rerank,
    score_candidates,
    score_sentence,
)
from indexer.retrieval.scoring import EvidenceConfig
from indexer.retrieval.search import _max_norm, _minmax, _rrf, adaptive_weight
from indexer.types import Chunk, Hit, Report, Sentence
from service.answering.config import DEFAULT, ScoringConfig, field_names

# -- the configuration ------------------------------------------------------------------------------


def test_overrides_by_dotted_or_unique_name() -> None:
    changed = DEFAULT.with_overrides({"fusion.dense_weight": "0.5", "keep_ratio": 0.9, "rerank.enabled": "false"})
    assert changed.fusion.dense_weight == 0.5
    assert changed.answer.keep_ratio == 0.9
    assert changed.rerank.enabled is False
    assert changed.evidence == DEFAULT.evidence  # untouched sections are shared
    assert DEFAULT.fusion.dense_weight == 0.4  # frozen: the default is never changed
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.fusion.dense_weight = 0.9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nope": 1}, "unknown scoring field 'nope'"),
        ({"semantic_weight": 0.1}, "ambiguous"),  # in rerank and answer
        ({"fusion.candidates": "many"}, "takes a int"),
        ({"rerank.enabled": "maybe"}, "takes a bool"),
    ],
)
def test_bad_overrides_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DEFAULT.with_overrides(overrides)


def test_every_field_is_listed_once() -> None:
    names = field_names()
    assert len(names) == len(set(names))
    assert "fusion.dense_weight" in names and "answer.min_coverage" in names
    assert ScoringConfig().as_dict()["answer"]["min_coverage"] == DEFAULT.answer.min_coverage


# -- fusion -----------------------------------------------------------------------------------------


def test_adaptive_weight_by_hand() -> None:
    # base 0.4, tau 0.4: confident queries keep 0.4; at half the tau, 0.4 + 0.6 × 0.5 = 0.7
    assert adaptive_weight(0.4, 0.4, 0.4) == pytest.approx(0.4)
    assert adaptive_weight(0.4, 0.9, 0.4) == pytest.approx(0.4)
    assert adaptive_weight(0.4, 0.2, 0.4) == pytest.approx(0.7)
    assert adaptive_weight(0.4, 0.0, 0.4) == pytest.approx(1.0)
    assert adaptive_weight(0.4, 0.0, 0.0) == pytest.approx(0.4)  # tau 0 switches it off


def test_weighted_fusion_by_hand() -> None:
    kw = np.array([2.0, 1.0, 0.0], np.float32)
    de = np.array([0.5, 0.7, 0.9], np.float32)
    assert _max_norm(kw).tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert _minmax(de).tolist() == pytest.approx([0.0, 0.5, 1.0])
    w = DEFAULT.fusion.dense_weight
    fused = (1 - w) * _max_norm(kw) + w * _minmax(de)
    # 0.6×1 + 0.4×0 = 0.6; 0.6×0.5 + 0.4×0.5 = 0.5; 0.6×0 + 0.4×1 = 0.4
    assert fused.tolist() == pytest.approx([0.6, 0.5, 0.4])


def test_rrf_by_hand() -> None:
    kw = np.array([2.0, 1.0, 0.0], np.float32)
    de = np.array([0.5, 0.7, 0.9], np.float32)
    # keyword ranks 1, 2 (and no keyword vote for a zero score); dense ranks 3, 2, 1
    expected = [1 / 61 + 1 / 63, 1 / 62 + 1 / 62, 1 / 61]
    assert _rrf(kw, de, 60).tolist() == pytest.approx(expected)


# -- sentence evidence ------------------------------------------------------------------------------

INFO = QuestionInfo(
    text="星海街道整改了多少处燃气隐患",
    terms=("星海街道", "整改", "燃气隐患"),
    bigrams=frozenset({"星海", "整改", "燃气", "隐患", "多少"}),
    wants="number",
    place_kind="",
    weights=(2.0, 1.0, 2.0),
)
CONTEXT = "星海街道安全生产月活动通报"  # the report's title: 星海街道 is an anchor


def sentence(text: str, kind: str = "body", start: int = 0) -> Sentence:
    return Sentence(start, start + len(text), text, kind)  # type: ignore[arg-type]


def test_evidence_score_by_hand() -> None:
    s = sentence("活动期间共排查整改燃气隐患64处。")
    score, free = score_sentence(INFO, s, CONTEXT, rank=0)
    # coverage: 星海街道 (2, inherited from the title) + 整改 (1) + 燃气隐患 (2) = 5/5 = 1.0;
    # free coverage (non-anchor terms only): 3/3 = 1.0
    # overlap: own bigrams 整改 燃气 隐患 = 3, inherited 星海 at 0.8: (3 + 0.8) / 5 = 0.76
    # bonus: a number for a 多少 question, 0.15; prior 0.06 / (1 + 0) = 0.06; not a restatement
    # score = 0.55 × 1.0 + 0.45 × 0.76 + 0.15 + 0.06 = 1.102
    assert free == pytest.approx(1.0)
    assert score == pytest.approx(1.102)
    caption, _ = score_sentence(INFO, sentence(s.text, "caption"), CONTEXT, rank=1)
    # (0.55 + 0.342 + 0.15 + 0.06 / 2) × 0.75 = 1.072 × 0.75 = 0.804
    assert caption == pytest.approx(0.804)


def test_evidence_without_the_asked_thing_by_hand() -> None:
    s = sentence("活动期间共组织消防演练37次。")
    score, free = score_sentence(INFO, s, CONTEXT, rank=0)
    # coverage: only the anchor 星海街道, 2/5 = 0.4; free coverage 0/3 = 0.0
    # overlap: own none, inherited 星海 0.8 / 5 = 0.16; number bonus 0.15; prior 0.06
    # score = 0.55 × 0.4 + 0.45 × 0.16 + 0.15 + 0.06 = 0.502
    assert free == pytest.approx(0.0)
    assert score == pytest.approx(0.502)


def test_evidence_weights_come_from_the_config() -> None:
    s = sentence("活动期间共排查整改燃气隐患64处。")
    no_bonus = dataclasses.replace(EvidenceConfig(), type_bonus=0.0, rank_prior=0.0)
    score, _ = score_sentence(INFO, s, CONTEXT, rank=0, cfg=no_bonus)
    assert score == pytest.approx(0.55 + 0.45 * 0.76)


REPORT = Report("r", CONTEXT, "", {"places": ["星海街道"]})


def hit(n: int, text: str, score: float) -> Hit:
    start = 100 * n
    chunk = Chunk(f"r#{n}", "r", start, start + len(text), text, CONTEXT, sentences=(sentence(text, start=start),))
    return Hit(chunk, score, {"fused": score})


def test_candidates_and_rerank_by_hand() -> None:
    drill = hit(0, "活动期间共组织消防演练37次。", 1.0)
    answer = hit(1, "活动期间共排查整改燃气隐患64处。", 0.5)
    ranked = score_candidates(INFO, [drill, answer], {"r": REPORT}, semantic_weight=0.0)
    # the answer sentence at rank 1: 0.55 + 0.342 + 0.15 + 0.03 = 1.072; the drill one 0.502
    assert [c.hit.chunk.chunk_id for c in ranked] == ["r#1", "r#0"]
    assert ranked[0].score == pytest.approx(1.072)
    reranked = evidence_rerank(INFO, [drill, answer], {"r": REPORT}, semantic_weight=0.0, alpha=0.3)
    # fused scaled 0..1: drill 1, answer 0; evidence scaled: drill 0, answer 1
    # final: drill 0.3 × 1 + 0.7 × 0 = 0.3; answer 0.3 × 0 + 0.7 × 1 = 0.7
    assert [h.chunk.chunk_id for h in reranked] == ["r#1", "r#0"]
    assert [h.score for h in reranked] == pytest.approx([0.7, 0.3])
