"""What counts as relevant and as correct.

QA sets (DPR-style): a retrieved passage is relevant when it belongs to the gold report and
contains an evidence string (NFKC, whitespace removed). A chunk belongs to the gold report when
its ``doc_id`` is the gold id or its report's ``meta["source_id"]`` is (a file holding several
reports yields doc ids ``{stem}-1``, ``{stem}-2`` with ``source_id = stem``).

The unit of relevance is the gold *evidence*, not a chunk: chunks overlap, so the same evidence
often sits in two neighbouring chunks, and counting both would make Recall@1 0.5 for a perfect
first hit. All relevant chunks of a query are therefore merged into one item, ``EVIDENCE_ID``, at
the rank of the first of them, and the query's qrels are ``{EVIDENCE_ID: 1}``. ranx then computes
Hit@k = Recall@k = "the evidence is in the top k", MRR = 1/rank of the first relevant passage and
nDCG@10 = 1/log2(rank + 1). When no retrieved passage is relevant the item is simply absent from
the ranking and every metric is 0 for that query.

BEIR sets: chunk hits collapse to their document ("max passage": a document's rank is its best
chunk's rank; later chunks of a document already ranked are dropped) before scoring with qrels.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from eval.data import EvalQuery, contains_any
from eval.types import AnswerVerdict, AnswerView, Judgement, Retrieved

EVIDENCE_ID = "<gold-evidence>"


class DocLookup(Protocol):
    """Report text, title and source id by doc id (the index in-process, the API over HTTP)."""

    def text(self, doc_id: str) -> str | None: ...

    def title(self, doc_id: str) -> str: ...

    def source_id(self, doc_id: str) -> str | None: ...


def belongs_to(doc_id: str, gold: Collection[str], docs: DocLookup) -> bool:
    """Whether ``doc_id`` is one of the gold reports, directly or through its source file."""
    if not gold:
        return False
    if doc_id in gold:
        return True
    source = docs.source_id(doc_id)
    return source is not None and source in gold


def passage_relevant(query: EvalQuery, hit: Retrieved, docs: DocLookup) -> bool:
    """DPR-style relevance of one passage for a QA-set query. With no evidence strings given,
    any passage of the gold report counts."""
    if not belongs_to(hit.doc_id, query.gold_docs, docs):
        return False
    return not query.evidence or contains_any(hit.text, query.evidence)


def judge_qa(query: EvalQuery, retrieved: Sequence[Retrieved], docs: DocLookup) -> Judgement:
    """Passage-level judgement of a QA-set query (see the module docstring)."""
    flags = tuple(passage_relevant(query, hit, docs) for hit in retrieved)
    ranking: list[str] = []
    seen: set[str] = set()
    first_rank: int | None = None
    for hit, relevant in zip(retrieved, flags, strict=True):
        item = EVIDENCE_ID if relevant else hit.chunk_id
        if item in seen:
            continue
        seen.add(item)
        ranking.append(item)
        if relevant:
            first_rank = len(ranking)
    return Judgement(tuple(ranking), {EVIDENCE_ID: 1}, flags, first_rank)


def doc_key(query: EvalQuery, doc_id: str, docs: DocLookup) -> str:
    """The id a chunk's document is scored under: the doc id when the qrels use it, else its
    source id when it has one."""
    if doc_id in query.relevance:
        return doc_id
    return docs.source_id(doc_id) or doc_id


def judge_beir(
    query: EvalQuery, retrieved: Sequence[Retrieved], docs: DocLookup, *, depth: int
) -> Judgement:
    """Document-level judgement after max-passage collapse, cut at ``depth`` documents."""
    keys = [doc_key(query, hit.doc_id, docs) for hit in retrieved]
    ranking: list[str] = []
    for key in keys:
        if key not in ranking and len(ranking) < depth:
            ranking.append(key)
    flags = tuple(query.relevance.get(key, 0) > 0 for key in keys)
    first_rank = next(
        (i for i, key in enumerate(ranking, start=1) if query.relevance.get(key, 0) > 0), None
    )
    qrels = {d: g for d, g in query.relevance.items() if g > 0}
    return Judgement(tuple(ranking), qrels, flags, first_rank)


def judge_answer(
    query: EvalQuery, answer: AnswerView, docs: DocLookup, *, gold_citations: bool
) -> AnswerVerdict:
    """Judge a composed answer: correctness, citation exactness and (``gold_citations``, for QA
    sets) whether each citation comes from the gold report."""
    problems: list[str] = []
    exact = supported = 0
    titles: list[str] = []
    for c in answer.citations:
        text = docs.text(c.doc_id)
        is_exact = (
            text is not None
            and 0 <= c.start <= c.end <= len(text)
            and text[c.start : c.end] == c.quote
        )
        if not is_exact:
            problems.append(f"[{c.n}] quote is not {c.doc_id}[{c.start}:{c.end}]")
        from_gold = not gold_citations or belongs_to(c.doc_id, query.gold_docs, docs)
        if is_exact:
            exact += 1
            if from_gold:
                supported += 1
        if not from_gold and query.answerable:
            problems.append(f"[{c.n}] cites {c.doc_id}, not the gold report")
        titles += [c.title, docs.title(c.doc_id)]
    judgeable = query.answerable and bool(query.answers)
    correct = judgeable and answer.answerable and contains_any(answer.text, query.answers)
    with_titles = correct or (
        judgeable and answer.answerable and any(contains_any(t, query.answers) for t in titles if t)
    )
    if judgeable and answer.answerable and not correct:
        where = "only in a cited title" if with_titles else "not in the answer text"
        problems.append(f"gold answer {where}")
    if query.answerable and not answer.answerable:
        problems.append("refused an answerable question")
    if not query.answerable and answer.answerable:
        problems.append("answered an unanswerable question")
    return AnswerVerdict(
        answerable=query.answerable,
        judgeable=judgeable,
        answered=answer.answerable,
        correct=correct,
        citations=len(answer.citations),
        exact=exact,
        supported=supported,
        problems=tuple(problems),
        correct_with_titles=with_titles,
    )
