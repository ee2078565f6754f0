"""The equal-mix answerability run (``eval.mix``): impossible questions loaded, the fixed article
split, the seeded equal mix, and the figures, with expected values worked out by hand."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eval.data import EvalDataError, EvalQuery, load_beir, load_beir_corpus
from eval.mix import (
    ARTICLE_SPLIT_SEED,
    Scored,
    article_keys,
    at_threshold,
    equal_mix,
    mix_metrics,
    query_article,
    scored_outcomes,
    select,
    split_articles,
    sweep,
)
from eval.runner import QueryOutcome
from eval.types import AnswerVerdict, AnswerView

TOY = Path(__file__).resolve().parents[1] / "data" / "mix_toy"


def _q(qid: str, answerable: bool, answers: tuple[str, ...] = ()) -> EvalQuery:
    return EvalQuery(qid, f"问题{qid}？", "all" if answerable else "impossible",
                     {"p": 1} if answerable else {}, answers=answers)


# -- loading ----------------------------------------------------------------------------------------


def test_impossible_questions_are_kept_as_unanswerable() -> None:
    es = load_beir(TOY)
    ids = [q.qid for q in es.queries]
    # 7 answerable (qrels) + 7 impossible; a03p000-z1 has neither and is dropped (BEIR convention)
    assert es.counts == {"queries": 14, "answerable": 7, "unanswerable": 7}
    assert "a03p000-z1" not in ids
    x1 = next(q for q in es.queries if q.qid == "a00p001-x1")
    assert x1.type == "impossible" and not x1.answerable and x1.answers == () and x1.passage == "a00p001"
    q1 = next(q for q in es.queries if q.qid == "a00p000-q1")
    assert q1.answerable and q1.answers == ("1900年",) and q1.passage == "a00p000"


def test_an_impossible_question_with_qrels_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(TOY, bad)
    with (bad / "qrels.tsv").open("a", encoding="utf-8") as f:
        f.write("a01p000-x1\ta01p000\t1\n")
    with pytest.raises(EvalDataError, match=r"queries\.jsonl:8: a01p000-x1 is impossible but has qrels"):
        load_beir(bad)


def test_a_non_boolean_impossible_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(TOY, bad)
    (bad / "queries.jsonl").write_text(
        json.dumps({"_id": "x", "text": "甲？", "impossible": "yes"}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"queries\.jsonl:1: 'impossible' must be true or false"):
        load_beir(bad)


# -- the article split --------------------------------------------------------------------------------


def test_the_split_is_deterministic_disjoint_and_by_article() -> None:
    keys = [f"a{i:02d}" for i in range(18)]
    split = split_articles(keys)
    assert split == split_articles(list(reversed(keys)))  # input order does not matter
    assert split == split_articles(keys, ARTICLE_SPLIT_SEED)
    assert not split["fit"] & split["report"]
    assert split["fit"] | split["report"] == set(keys)
    assert (len(split["fit"]), len(split["report"])) == (9, 9)
    # odd count: fit gets the smaller half
    assert tuple(map(len, split_articles(keys[:5]).values())) == (2, 3)


def test_the_toy_split_keeps_the_passages_of_an_article_together() -> None:
    reports = load_beir_corpus(TOY)
    articles = article_keys(reports)
    # 甲城 has two passages; they are one article
    assert articles["a00p000"] == articles["a00p001"] == "甲城"
    split = split_articles(articles.values())
    # fixed by ARTICLE_SPLIT_SEED = 31 (shuffle of the sorted titles 丁湖, 丙山, 乙河, 甲城)
    assert split == {"fit": frozenset({"甲城", "乙河"}), "report": frozenset({"丙山", "丁湖"})}
    es = load_beir(TOY)
    for half in ("fit", "report"):
        chosen, selection = select(es, reports, half, seed=0)
        assert {query_article(q, articles) for q in chosen.queries} <= split[half]
        assert selection.articles == tuple(sorted(split[half]))
    fit, _ = select(es, reports, "fit", seed=0)
    report, _ = select(es, reports, "report", seed=0)
    assert not {q.qid for q in fit.queries} & {q.qid for q in report.queries}
    # fit: 甲城 3 answerable + 3 impossible, 乙河 1 + 1 -> 4 + 4, already equal
    assert fit.counts == {"queries": 8, "answerable": 4, "unanswerable": 4}
    # report: 丙山 1 + 2, 丁湖 2 + 1 -> 3 + 3
    assert report.counts == {"queries": 6, "answerable": 3, "unanswerable": 3}


def test_an_impossible_question_without_a_passage_is_named() -> None:
    articles = {"a00p000": "甲城"}
    with pytest.raises(EvalDataError, match="x9: cannot tell its article"):
        query_article(_q("x9", False), articles)


# -- the equal mix ------------------------------------------------------------------------------------


def test_the_equal_mix_samples_the_larger_class_down_with_a_seed() -> None:
    queries = [_q(f"u{i}", False) for i in range(7)] + [_q(f"a{i}", True) for i in range(3)]
    mixed = equal_mix(queries, seed=0)
    assert sum(q.answerable for q in mixed) == 3 and sum(not q.answerable for q in mixed) == 3
    assert {q.qid for q in mixed} >= {"a0", "a1", "a2"}  # the smaller class is kept whole
    assert mixed == equal_mix(queries, seed=0)  # same seed, same questions
    assert [q.qid for q in mixed] == [q.qid for q in queries if q in mixed]  # input order kept
    others = {frozenset(q.qid for q in equal_mix(queries, seed=s)) for s in range(10)}
    assert len(others) > 1  # the seed chooses which of the larger class stay
    capped = equal_mix(queries, seed=0, per_class=2)
    assert sum(q.answerable for q in capped) == 2 and len(capped) == 4


def test_a_mix_needs_both_classes(tmp_path: Path) -> None:
    es = load_beir(TOY)
    only = es.__class__(es.name, es.kind, es.source, tuple(q for q in es.queries if q.answerable),
                        es.has_answers, es.corpus_dir)
    with pytest.raises(EvalDataError, match="needs answerable and unanswerable"):
        select(only, load_beir_corpus(TOY), "report", seed=0)


# -- figures ------------------------------------------------------------------------------------------


def test_mix_metrics_by_hand() -> None:
    # (answerable, answered, correct):
    # unanswerable: 3 refused, 1 answered               -> refused_unanswerable 3/4 = 0.75
    # answerable: 2 answered right, 1 answered wrong,
    #             1 refused                             -> gold_in_answer 2/4 = 0.5
    # mix_accuracy = (0.75 + 0.5) / 2 = 0.625
    # answers: 1 (unanswerable) + 3 (answerable) = 4 of 8 -> coverage 0.5
    # answers without gold: the unanswerable one and the wrong one: 2 / 4 -> risk 0.5
    rows = [(False, False, False)] * 3 + [(False, True, False)] + [
        (True, True, True), (True, True, True), (True, True, False), (True, False, False)]
    assert mix_metrics(rows) == {
        "refused_unanswerable": 0.75, "gold_in_answer": 0.5, "mix_accuracy": 0.625,
        "coverage": 0.5, "risk": 0.5,
    }
    assert mix_metrics([(True, False, False)])["mix_accuracy"] is None  # no unanswerable: undefined


def test_the_threshold_sweep_by_hand() -> None:
    scored = [
        Scored(False, 0.2, False),
        Scored(False, 0.6, False),
        Scored(False, None, False),  # no candidate: refused at every threshold
        Scored(True, 0.4, True),
        Scored(True, 0.8, True),
        Scored(True, 0.3, False),
    ]
    # threshold 0.5: answered 0.6 (unanswerable) and 0.8 (answerable, right)
    #   refused_unanswerable 2/3, gold_in_answer 1/3, mix (2/3 + 1/3) / 2 = 0.5,
    #   coverage 2/6, risk 1/2
    point = at_threshold(scored, 0.5)
    assert point["refused_unanswerable"] == pytest.approx(2 / 3)
    assert point["gold_in_answer"] == pytest.approx(1 / 3)
    assert point["mix_accuracy"] == pytest.approx(0.5)
    assert (point["coverage"], point["risk"]) == (pytest.approx(2 / 6), 0.5)
    # an answer exactly at the threshold is given (AnswerabilityModel.answerable: p >= threshold)
    assert at_threshold(scored, 0.4)["gold_in_answer"] == pytest.approx(2 / 3)
    curve = sweep(scored)
    assert [p["threshold"] for p in curve] == [0.0, 0.2, 0.3, 0.4, 0.6, 0.8]
    # threshold 0: every answer given: 2 of 3 unanswerable answered -> refused 1/3;
    # gold 2/3; coverage 5/6; risk 3/5 (two unanswerable and the wrong one)
    assert curve[0]["refused_unanswerable"] == pytest.approx(1 / 3)
    assert curve[0]["coverage"] == pytest.approx(5 / 6) and curve[0]["risk"] == pytest.approx(3 / 5)
    # threshold 0.8: only the right answer: refused 1, gold 1/3, risk 0
    assert curve[-1]["refused_unanswerable"] == 1.0 and curve[-1]["risk"] == 0.0
    coverage = [p["coverage"] for p in curve]
    assert coverage == sorted(coverage, reverse=True)


def _outcome(query: EvalQuery, answer: AnswerView, correct: bool) -> QueryOutcome:
    verdict = AnswerVerdict(query.answerable, bool(query.answers), answer.answerable, correct)
    return QueryOutcome(query, (), None, 1.0, answer, verdict, 1.0)


def test_scored_outcomes_ask_the_thresholds_refusals_again() -> None:
    right = _q("a1", True, ("1900年",))
    held = _q("a2", True, ("300公里",))
    empty = _q("u1", False)
    outcomes = [
        _outcome(right, AnswerView("建于1900年。[1]", True, (), 0.9), True),
        _outcome(held, AnswerView("资料中未找到", False, (), 0.3), False),  # refused by the threshold
        _outcome(empty, AnswerView("资料中未找到", False, (), None), False),  # no candidate at all
    ]
    asked: list[str] = []

    def reask(text: str) -> AnswerView:
        asked.append(text)
        return AnswerView("乙河全长300 公里。[1]", True, (), 0.3)

    scored = scored_outcomes(outcomes, reask)
    assert asked == [held.text]  # only the refusal that carried a confidence
    # the re-asked answer holds the gold once normalised (whitespace removed)
    assert scored == [Scored(True, 0.9, True), Scored(True, 0.3, True), Scored(False, None, False)]
    # without a confidence on an answer given there is nothing to sweep
    no_model = [_outcome(right, AnswerView("建于1900年。[1]", True, (), None), True)]
    assert scored_outcomes(no_model, reask) is None


# -- the command --------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _eval(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    return subprocess.run(
        [sys.executable, "-m", "zhiwen.cli", "eval", "--beir", str(TOY), "--no-default-systems",
         "--system", "hybrid", "--quiet", "--cache-dir", str(tmp / "cache"), "--out", str(tmp / "out"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


def test_one_command_scores_the_report_articles(tmp_path: Path) -> None:
    result = _eval("--articles", "report", tmp=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = tmp_path / "out"
    doc = json.loads((out / "answerability.json").read_text(encoding="utf-8"))
    assert doc["selection"]["articles"] == "report"
    assert doc["selection"]["article_keys"] == ["丁湖", "丙山"]
    assert doc["selection"]["kept"] == {"answerable": 3, "unanswerable": 3}
    # the sweep at the served threshold reproduces the answers as served
    assert doc["operating_point_from_sweep"] | {"threshold": None} == doc["operating_point"] | {"threshold": None}
    assert doc["curve"] and doc["curve"][0]["threshold"] == 0.0
    assert (out / "answerability_sweep.png").stat().st_size > 0
    assert "Answerability on an equal mix (the `report` articles)" in result.stdout
    asked = [json.loads(line)["id"] for line in (out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(asked) == ["a02p000-q1", "a02p000-x1", "a02p000-x2", "a03p000-q1", "a03p000-q2", "a03p000-x1"]


def test_per_class_without_articles_is_refused(tmp_path: Path) -> None:
    result = _eval("--per-class", "2", tmp=tmp_path)
    assert result.returncode == 2
    assert "--per-class works with --articles" in result.stderr and "Traceback" not in result.stderr
