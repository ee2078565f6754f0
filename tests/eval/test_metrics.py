"""Metric plumbing of `zhiwen eval` on toy sets with fake hits and answers (no model, no index).

Every expected figure is worked out by hand in the comments.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from eval.data import EvalQuery, EvalSet, load_beir, load_beir_corpus, load_qa, normalize
from eval.metrics import answer_metrics, at_refusal
from eval.relevance import EVIDENCE_ID, judge_answer, judge_beir, judge_qa
from eval.report import markdown_report, write_outputs
from eval.runner import EvalRun, run_evaluation
from eval.systems import InProcessBackend, System, parse_system, select_systems
from eval.types import AnswerVerdict, AnswerView, Retrieved
from indexer.types import Chunk, Hit, Report
from service.answering.config import DEFAULT
from service.answering.types import NOT_FOUND, Answer, Citation

TOY = Path(__file__).resolve().parents[1] / "data" / "eval_toy"

A = Report("A", "A街道报告", "A街道的荣誉是甲乙。另有丙丁一词。", {"source_id": "A"})
B1 = Report("B-1", "B街道报告之一", "B街道开展了工作。", {"source_id": "B"})
B2 = Report("B-2", "B街道报告之二", "丙丁位于B街道东部。丙丁很有名。", {"source_id": "B"})
REPORTS = {r.doc_id: r for r in (A, B1, B2)}


def chunk(report: Report, n: int, start: int, end: int) -> Retrieved:
    return Retrieved(0, report.doc_id, f"{report.doc_id}#{n}", report.text[start:end], report.title)


def ranked(*items: Retrieved) -> list[Retrieved]:
    return [
        Retrieved(i, r.doc_id, r.chunk_id, r.text, r.title, 1.0 / i)
        for i, r in enumerate(items, start=1)
    ]


def cite(n: int, report: Report, quote: str, start: int | None = None) -> Citation:
    s = report.text.index(quote) if start is None else start
    return Citation(n, report.doc_id, report.title, quote, s, s + len(quote))


class FakeBackend:
    """Canned results by query text; reports for the judges. Ignores the system."""

    def __init__(
        self,
        reports: Mapping[str, Report],
        hits: Mapping[str, list[Retrieved]],
        answers: Mapping[str, AnswerView] | None = None,
    ) -> None:
        self.reports, self.hits, self.answers = reports, hits, answers or {}
        self.searched: list[tuple[str, str, int]] = []

    def search(self, query: str, system: System, top_k: int) -> list[Retrieved]:
        self.searched.append((query, system.name, top_k))
        return self.hits.get(query, [])[:top_k]

    def ask(self, question: str, system: System, top_k: int) -> AnswerView:
        return self.answers.get(question, AnswerView(NOT_FOUND, False))

    def warm_up(self, systems: Sequence[System]) -> None:
        pass

    def text(self, doc_id: str) -> str | None:
        r = self.reports.get(doc_id)
        return r.text if r else None

    def title(self, doc_id: str) -> str:
        r = self.reports.get(doc_id)
        return r.title if r else ""

    def source_id(self, doc_id: str) -> str | None:
        r = self.reports.get(doc_id)
        return r.meta.get("source_id") if r else None


# q1: evidence 甲乙 in the gold report A at rank 1 (split by a page-break line break: whitespace
#     is removed before comparing).
# q2: gold B (a file of two reports B-1, B-2). Rank 1: A holds 丙丁 but is not the gold report;
#     rank 2: B-1 is the gold file but lacks the evidence; ranks 3 and 4: B-2 chunks with 丙丁 —
#     relevant, merged into one evidence item at rank 3.
# q3: unanswerable; whatever is retrieved is not scored, and the answer refuses.
TOY_HITS = {
    "A街道的荣誉是什么？": ranked(
        Retrieved(0, "A", "A#0", "A街道的荣誉是甲\n乙。", A.title), chunk(B1, 0, 0, 9)
    ),
    "哪个街道有丙丁？": ranked(
        chunk(A, 1, 10, 17), chunk(B1, 0, 0, 9), chunk(B2, 0, 0, 10), chunk(B2, 1, 10, 16)
    ),
    "戊己有多少？": ranked(chunk(A, 0, 0, 10)),
}
# q1 answers with the gold string, citing A exactly (1 citation, supported).
# q2's text lacks the gold answer "B街道" but a cited report's title has it (correct); of its two
#     citations the first is exact, the second's offsets are wrong (not supported).
# q3 refuses.
TOY_ANSWERS = {
    "A街道的荣誉是什么？": AnswerView("A街道的荣誉是甲乙。[1]", True, (cite(1, A, "甲乙"),)),
    "哪个街道有丙丁？": AnswerView(
        "丙丁位于东部。[1][2]",
        True,
        (cite(1, B2, "丙丁位于B街道东部"), cite(2, B2, "丙丁很有名", 0)),
    ),
    "戊己有多少？": AnswerView(NOT_FOUND, False),
}


@pytest.fixture(scope="module")
def toy_run() -> EvalRun:
    backend = FakeBackend(REPORTS, TOY_HITS, TOY_ANSWERS)
    return run_evaluation(load_qa(TOY / "qa.jsonl"), backend, [System("hybrid")])


def test_qa_retrieval_metrics_by_hand(toy_run: EvalRun) -> None:
    m = toy_run.flat_metrics()
    # Over the 2 answerable questions; q1 relevant at rank 1, q2 at rank 3.
    assert m["hybrid_hit@1"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert m["hybrid_hit@3"] == pytest.approx(1.0)  # (1 + 1) / 2
    assert m["hybrid_hit@5"] == pytest.approx(1.0)
    assert m["hybrid_hit@10"] == pytest.approx(1.0)
    # The evidence is one item, so recall equals hit (q2's two relevant chunks count once).
    assert m["hybrid_recall@1"] == pytest.approx(0.5)
    assert m["hybrid_recall@5"] == pytest.approx(1.0)
    assert m["hybrid_mrr@10"] == pytest.approx((1 + 1 / 3) / 2)  # 0.667
    # nDCG@10 with one relevant item at rank r is 1 / log2(r + 1): (1 + 1/log2(4)) / 2 = 0.75.
    # (Counting q2's ranks 3 and 4 separately would give (0.5 + 0.431) / 1.631 = 0.571 for q2.)
    assert m["hybrid_ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / 2)


def test_qa_answer_metrics_by_hand(toy_run: EvalRun) -> None:
    m = toy_run.flat_metrics()
    assert m["hybrid_answer_accuracy"] == pytest.approx(0.5)  # strict: q1 by text only, 1/2
    assert m["hybrid_answer_accuracy_with_titles"] == pytest.approx(1.0)  # + q2 by cited title
    assert m["hybrid_answered_share"] == pytest.approx(1.0)  # 2 of 2 answerable answered
    assert m["hybrid_citation_support"] == pytest.approx(2 / 3)  # q1 1/1 + q2 1/2 -> 2 of 3
    assert m["hybrid_citation_exact"] == pytest.approx(2 / 3)
    assert m["hybrid_abstention_precision"] == pytest.approx(1.0)  # 1 refusal, of q3: 1/1
    assert m["hybrid_abstention_recall"] == pytest.approx(1.0)  # q3 refused: 1/1
    for key in ("search_p50_ms", "search_p95_ms", "ask_p50_ms", "ask_p95_ms"):
        assert (m[f"hybrid_{key}"] or 0.0) >= 0.0


def test_qa_metrics_by_type(toy_run: EvalRun) -> None:
    by_type = toy_run.flat_by_type()
    assert list(by_type) == ["factoid", "paraphrase", "unanswerable"]
    assert by_type["factoid"]["hybrid_hit@1"] == pytest.approx(1.0)
    assert by_type["paraphrase"]["hybrid_hit@1"] == pytest.approx(0.0)
    assert by_type["paraphrase"]["hybrid_mrr@10"] == pytest.approx(1 / 3)
    assert by_type["unanswerable"]["hybrid_hit@1"] is None  # no answerable question of this type
    assert by_type["unanswerable"]["hybrid_abstention_recall"] == pytest.approx(1.0)


def test_qa_judgement_merges_evidence_chunks() -> None:
    q = load_qa(TOY / "qa.jsonl").queries[1]
    j = judge_qa(q, TOY_HITS[q.text], FakeBackend(REPORTS, {}))
    assert j.relevant == (False, False, True, True)
    assert j.ranking == ("A#1", "B-1#0", EVIDENCE_ID)
    assert j.first_rank == 3


def test_qa_miss_scores_zero() -> None:
    q = load_qa(TOY / "qa.jsonl").queries[0]
    run = run_evaluation(
        EvalSet("miss", "qa", TOY, (q,), True),
        FakeBackend(REPORTS, {q.text: ranked(chunk(B1, 0, 0, 9))}),
        [System("keyword", "keyword")],
        answer_systems=(),
    )
    m = run.flat_metrics()
    assert m["keyword_hit@10"] == 0.0 and m["keyword_mrr@10"] == 0.0
    assert "keyword_answer_accuracy" not in m  # answers are evaluated for answer systems only


def test_abstention_and_accuracy_failures() -> None:
    # q1 refused (answerable), q3 answered citing A (unanswerable), q2 as before.
    answers = dict(TOY_ANSWERS)
    answers["A街道的荣誉是什么？"] = AnswerView(NOT_FOUND, False)
    answers["戊己有多少？"] = AnswerView("约十个。[1]", True, (cite(1, A, "甲乙"),))
    run = run_evaluation(
        load_qa(TOY / "qa.jsonl"), FakeBackend(REPORTS, TOY_HITS, answers), [System("hybrid")]
    )
    m = run.flat_metrics()
    assert m["hybrid_answer_accuracy"] == pytest.approx(0.0)  # q2 only through its title
    assert m["hybrid_answer_accuracy_with_titles"] == pytest.approx(0.5)  # q2: 1/2
    assert m["hybrid_answered_share"] == pytest.approx(0.5)  # q2 of q1, q2
    assert m["hybrid_citation_support"] == pytest.approx(0.5)  # answerable: q2's 1 of 2
    assert m["hybrid_citation_exact"] == pytest.approx(2 / 3)  # all: q2 1/2 + q3 1/1
    assert m["hybrid_abstention_precision"] == pytest.approx(0.0)  # the one refusal (q1) was wrong
    assert m["hybrid_abstention_recall"] == pytest.approx(0.0)  # q3 answered: 0/1


def test_answer_metrics_undefined_is_none() -> None:
    # Nothing refused and nothing unanswerable: both abstention figures are undefined.
    q = EvalQuery("x", "问", "factoid", {"A": 1}, ("甲乙",), ("甲乙",))
    v = judge_answer(q, AnswerView("甲乙", True), FakeBackend(REPORTS, {}), gold_citations=True)
    m = answer_metrics([v])
    assert m["answer_accuracy"] == 1.0
    assert m["abstention_precision"] is None and m["abstention_recall"] is None
    assert m["citation_support"] is None  # no citations at all


def test_citation_from_other_report() -> None:
    q = load_qa(TOY / "qa.jsonl").queries[0]  # gold A
    answer = AnswerView("甲乙[1]", True, (cite(1, B2, "丙丁很有名"),))
    docs = FakeBackend(REPORTS, {})
    qa = judge_answer(q, answer, docs, gold_citations=True)
    assert (qa.exact, qa.supported) == (1, 0)  # exact quote, but not from the gold report
    beir = judge_answer(q, answer, docs, gold_citations=False)
    assert (beir.exact, beir.supported) == (1, 1)  # BEIR sets only check the quote


def test_normalize() -> None:
    assert normalize("１：８ 万\n元\u3000") == "1:8万元"  # NFKC folds full-width forms


# -- BEIR ---------------------------------------------------------------------------------------


def test_load_beir_split_limit_and_corpus() -> None:
    full = load_beir(TOY / "beir")
    assert [q.qid for q in full.queries] == ["DEV_1", "DEV_2", "TRIAL_1"]  # X_9 has no qrels
    assert [q.type for q in full.queries] == ["DEV", "DEV", "TRIAL"]
    assert full.has_answers and full.queries[0].answers == ("1900年",)
    assert [q.qid for q in load_beir(TOY / "beir", split="DEV").queries] == ["DEV_1", "DEV_2"]
    assert [q.qid for q in load_beir(TOY / "beir", split="TRIAL,DEV", limit=2).queries] == [
        "DEV_1",
        "DEV_2",
    ]
    corpus = load_beir_corpus(TOY / "beir")
    assert corpus[0] == Report("P1", "甲城", "甲城位于北方，建于1900年。", {})


P = {r.doc_id: r for r in load_beir_corpus(TOY / "beir")}


def pchunk(doc: str, n: int) -> Retrieved:
    return Retrieved(0, doc, f"{doc}#{n}", P[doc].text, P[doc].title)


# DEV_1 (gold P1): chunks P2, P1, P2, P1, P3 collapse to P2, P1, P3 -> rank 2.
# DEV_2 (gold P3): P3, P3 -> P3 at rank 1.
# TRIAL_1 (gold P2): P1, P3 -> not retrieved.
BEIR_HITS = {
    "甲城建于哪一年？": ranked(
        pchunk("P2", 0), pchunk("P1", 0), pchunk("P2", 1), pchunk("P1", 1), pchunk("P3", 0)
    ),
    "丙山有多高？": ranked(pchunk("P3", 0), pchunk("P3", 1)),
    "乙河有多长？": ranked(pchunk("P1", 0), pchunk("P3", 0)),
}


def test_beir_max_passage_by_hand(tmp_path: Path) -> None:
    backend = FakeBackend(P, BEIR_HITS)
    run = run_evaluation(
        load_beir(TOY / "beir"), backend, [System("dense", "dense")], answer_systems=()
    )
    m = run.flat_metrics()
    assert m["dense_hit@1"] == pytest.approx(1 / 3)  # DEV_2 only
    assert m["dense_hit@3"] == pytest.approx(2 / 3)  # DEV_1, DEV_2
    assert m["dense_mrr@10"] == pytest.approx((1 / 2 + 1 + 0) / 3)  # 0.5
    assert m["dense_ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 + 0) / 3)  # 0.544
    assert backend.searched[0][2] == 30  # 3 x depth chunks, so 10 passages survive the collapse
    by_type = run.flat_by_type()
    assert by_type["TRIAL"]["dense_hit@10"] == 0.0

    write_outputs(run, tmp_path)
    trec = (tmp_path / "runs" / "dense.trec").read_text(encoding="utf-8").splitlines()
    assert trec[:3] == [
        "DEV_1 Q0 P2 1 1.000000 dense",
        "DEV_1 Q0 P1 2 0.500000 dense",  # the best chunk's score
        "DEV_1 Q0 P3 3 0.200000 dense",
    ]


def test_beir_depth_cut() -> None:
    q = load_beir(TOY / "beir").queries[1]  # gold P3
    j = judge_beir(q, BEIR_HITS["甲城建于哪一年？"], FakeBackend(P, {}), depth=2)
    assert j.ranking == ("P2", "P1") and j.first_rank is None


# -- outputs ------------------------------------------------------------------------------------


def test_outputs(toy_run: EvalRun, tmp_path: Path) -> None:
    paths = write_outputs(toy_run, tmp_path)
    for name in ("report", "metrics", "chart", "per_question", "trec_hybrid"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(paths["metrics"].read_text(encoding="utf-8"))
    assert doc["metrics"]["hybrid_mrr@10"] == pytest.approx(2 / 3)
    assert doc["set"]["answerable"] == 2 and doc["set"]["unanswerable"] == 1
    rows = [
        json.loads(line) for line in paths["per_question"].read_text(encoding="utf-8").splitlines()
    ]
    assert [(r["id"], r["rank"]) for r in rows] == [("q1", 1), ("q2", 3), ("q3", None)]
    assert rows[1]["verdict"]["problems"] == ["[2] quote is not B-2[0:5]", "gold answer only in a cited title"]
    assert [h["relevant"] for h in rows[1]["hits"]] == [False, False, True, True]
    report = markdown_report(toy_run)
    assert "| hybrid | hybrid | 0.500 | 1.000 |" in report
    assert "| paraphrase | 1 | hybrid | 0.000 |" in report


# -- systems ------------------------------------------------------------------------------------


def test_parse_system() -> None:
    assert parse_system("bm25only=mode:keyword") == System("bm25only", "keyword", {})
    w5 = parse_system("w5=mode:hybrid,dense_weight:0.5,candidates:50,fusion:rrf")
    assert w5 == System("w5", "hybrid", {"dense_weight": 0.5, "candidates": 50, "fusion": "rrf"})
    assert parse_system("plain") == System("plain", "hybrid", {})
    assert w5.scoring.fusion == DEFAULT.fusion.__class__(method="rrf", dense_weight=0.5, candidates=50)
    assert parse_system("r=rerank:false,answer.min_coverage:0.5").scoring.rerank.enabled is False
    for bad in ("bad name=mode:keyword", "x=mode", "=mode:keyword", "x=no_such_field:1",
                "x=dense_weight:heavy", "x=semantic:0.1"):
        with pytest.raises(ValueError):
            parse_system(bad)
    names = [s.name for s in select_systems([parse_system("hybrid=dense_weight:0.5"), w5])]
    assert names == ["keyword", "dense", "hybrid", "w5"]


class FakeSearcher:
    def __init__(self) -> None:
        self.reports = REPORTS
        self.calls: list[dict[str, Any]] = []

    def search(
        self, query: str, top_k: int = 10, mode: str = "hybrid", **options: Any
    ) -> list[Hit]:
        self.calls.append({"query": query, "top_k": top_k, "mode": mode, **options})
        c = Chunk("B-2#0", "B-2", 0, 10, B2.text[:10])
        return [Hit(c, 0.9, {"fused": 0.9})]


class FakeComposer:
    name = "fake"

    def compose(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Answer:
        return Answer("丙丁。[1]", True, (cite(1, B2, "丙丁位于B街道东部"),), tuple(hits))


def test_in_process_backend_passes_options() -> None:
    searcher = FakeSearcher()
    backend = InProcessBackend(searcher, FakeComposer())
    w5 = System("w5", "hybrid", {"dense_weight": 0.5})
    [hit] = backend.search("问", w5, 7)
    assert hit == Retrieved(1, "B-2", "B-2#0", B2.text[:10], B2.title, 0.9)  # title from report
    call = searcher.calls[-1]
    assert {k: call[k] for k in ("query", "top_k", "mode")} == {"query": "问", "top_k": 7, "mode": "hybrid"}
    assert call["scoring"].fusion.dense_weight == 0.5
    assert call["scoring"].rerank == DEFAULT.rerank
    answer = backend.ask("丙丁位于哪里？", w5, 5)
    assert answer.answerable and answer.citations[0].doc_id == "B-2"
    assert backend.source_id("B-2") == "B" and backend.text("nope") is None


def test_systems_name_their_retrieval_backend() -> None:
    from eval.systems import milvus_twins

    assert parse_system("hm=backend:milvus,mode:keyword") == System("hm", "keyword", {}, "milvus")
    assert parse_system("plain").backend == "local"
    with pytest.raises(ValueError, match="backend must be one of"):
        parse_system("x=backend:elastic")
    twins = milvus_twins([System("keyword", "keyword"), System("hybrid"), System("hm", backend="milvus")])
    assert [(s.name, s.mode, s.backend) for s in twins] == [
        ("keyword", "keyword", "local"), ("keyword-milvus", "keyword", "milvus"),
        ("hybrid", "hybrid", "local"), ("hybrid-milvus", "hybrid", "milvus"), ("hm", "hybrid", "milvus"),
    ]


def test_in_process_backend_routes_each_system_to_its_searcher() -> None:
    local, milvus = FakeSearcher(), FakeSearcher()
    made: list[Any] = []

    def composer_for(searcher: Any, scoring: Any) -> FakeComposer:
        made.append(searcher)
        return FakeComposer()

    backend = InProcessBackend(local, composer_for=composer_for, others={"milvus": milvus})
    backend.search("问", System("h"), 3)
    backend.ask("丙丁位于哪里？", System("hm", backend="milvus"), 3)
    assert len(local.calls) == 1 and len(milvus.calls) == 1 and made == [milvus]
    with pytest.raises(ValueError, match="milvus-uri"):
        InProcessBackend(local).search("问", System("hm", backend="milvus"), 3)


def test_http_backend() -> None:
    import httpx

    from eval.systems import HttpBackend

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/search":
            assert json.loads(request.content) == {"query": "问", "top_k": 3}
            hit = {"doc_id": "B-2", "chunk_id": "B-2#0", "text": "丙丁", "title": "t", "score": 0.5}
            return httpx.Response(200, json={"results": [hit], "took_ms": 1.0})
        if request.url.path == "/v1/ask":
            c = {
                "n": 1,
                "doc_id": "B-2",
                "title": "t",
                "quote": "丙丁",
                "start": 0,
                "end": 2,
                "supported": True,
            }
            return httpx.Response(
                200,
                json={"answer": "丙丁[1]", "answerable": True, "citations": [c], "passages": []},
            )
        if request.url.path == "/v1/documents/B-2":
            return httpx.Response(
                200,
                json={
                    "doc_id": "B-2",
                    "title": "t",
                    "text": B2.text,
                    "metadata": {"source_id": "B"},
                    "length": 16,
                },
            )
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    client = httpx.Client(base_url="http://test", transport=httpx.MockTransport(handler))
    backend = HttpBackend("http://test", client=client)
    served = System("served", "served")
    assert backend.search("问", served, 3) == [Retrieved(1, "B-2", "B-2#0", "丙丁", "t", 0.5)]
    answer = backend.ask("问", served, 5)
    assert answer.citations[0].quote == "丙丁"
    assert backend.source_id("B-2") == "B" and backend.text("B-2") == B2.text
    assert backend.text("nope") is None


def test_per_question_keeps_a_late_first_relevant_hit(tmp_path: Path) -> None:
    q = load_qa(TOY / "qa.jsonl").queries[0]  # evidence 甲乙 in A
    misses = [chunk(B1, n, 0, 9) for n in range(6)]
    hits = ranked(*misses, chunk(A, 0, 0, 10), chunk(A, 1, 0, 10))  # first relevant at rank 7
    run = run_evaluation(
        EvalSet("late", "qa", TOY, (q,), True),
        FakeBackend(REPORTS, {q.text: hits}),
        [System("hybrid")],
        answer_systems=(),
    )
    paths = write_outputs(run, tmp_path)
    [row] = [json.loads(line) for line in paths["per_question"].read_text("utf-8").splitlines()]
    assert row["rank"] == 7 and row["mrr@10"] == pytest.approx(1 / 7)
    assert [h["rank"] for h in row["hits"]] == [1, 2, 3, 4, 5, 7]  # top 5 + the first relevant


def _verdict(answerable: bool, answered: bool, correct: bool = False) -> AnswerVerdict:
    return AnswerVerdict(answerable=answerable, judgeable=answerable, answered=answered, correct=correct)


# (confidence, verdict): four answerable questions (three answered, two of them right) and four
# unanswerable ones (one refused, three answered at 0.45, 0.6 and 0.3).
SCORED = [
    (0.9, _verdict(True, True, True)),
    (0.5, _verdict(True, True, True)),
    (0.4, _verdict(True, True, False)),
    (0.2, _verdict(True, False)),
    (0.1, _verdict(False, False)),
    (0.45, _verdict(False, True)),
    (0.6, _verdict(False, True)),
    (0.3, _verdict(False, True)),
]


@pytest.mark.parametrize(
    ("target", "cut", "recall", "accuracy", "answered"),
    [
        # refusing 0.95 of 4 needs all 4: the cut passes the highest answered one (0.6), and of
        # the answerable only the 0.9 answer stays
        (0.95, 0.6, 4 / 4, 1 / 4, 1 / 4),
        # 0.5 of 4 = 2 refusals: one more than the run's own, so the cut is the lowest (0.3)
        (0.5, 0.3, 2 / 4, 2 / 4, 3 / 4),
        # the run already refuses 1 of 4: its own operating point, no cut
        (0.25, None, 1 / 4, 2 / 4, 3 / 4),
    ],
)
def test_answers_at_a_refusal_rate_by_hand(
    target: float, cut: float | None, recall: float, accuracy: float, answered: float
) -> None:
    pct = round(target * 100)
    m = at_refusal(SCORED, target)
    assert m[f"cut_refusing_{pct}"] == cut
    assert m[f"abstention_recall_refusing_{pct}"] == pytest.approx(recall)
    assert m[f"answer_accuracy_refusing_{pct}"] == pytest.approx(accuracy)
    assert m[f"answered_share_refusing_{pct}"] == pytest.approx(answered)


def test_answers_at_a_refusal_rate_need_unanswerables_and_confidences() -> None:
    answerable_only = [(c, v) for c, v in SCORED if v.answerable]
    assert set(at_refusal(answerable_only, 0.95).values()) == {None}
    unscored = [(None if v.answered else c, v) for c, v in SCORED]
    assert set(at_refusal(unscored, 0.95).values()) == {None}


def test_a_run_with_confidences_reports_answers_at_a_refusal_rate() -> None:
    # q3 (unanswerable) answered at 0.4: refusing it costs q2 (0.3), not q1 (0.8)
    confidences = (0.8, 0.3, 0.1)
    answers = {q: dataclasses.replace(a, confidence=c) for (q, a), c in zip(TOY_ANSWERS.items(), confidences, strict=True)}
    answers["戊己有多少？"] = AnswerView("约十个。[1]", True, (cite(1, A, "甲乙"),), confidence=0.4)
    run = run_evaluation(load_qa(TOY / "qa.jsonl"), FakeBackend(REPORTS, TOY_HITS, answers), [System("hybrid")])
    m = run.flat_metrics()
    assert m["hybrid_abstention_recall"] == 0.0
    assert m["hybrid_cut_refusing_95"] == pytest.approx(0.4)
    assert m["hybrid_abstention_recall_refusing_95"] == 1.0
    assert m["hybrid_answer_accuracy_refusing_95"] == pytest.approx(0.5)  # q1 kept and right
    assert m["hybrid_answered_share_refusing_95"] == pytest.approx(0.5)
    report = markdown_report(run)
    assert "Answers at a set refusal rate" in report and "| hybrid | ≥ 0.95 | 0.400 | 1.000 | 0.500 | 0.500 |" in report
