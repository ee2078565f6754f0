"""Leave-out evaluation: remove a share of whole source documents from the index, so the questions
about them become questions the corpus cannot answer — refusals are measured on real questions,
not on a handful of hand-written unanswerable ones.

A *document* is what a question is about: in a BEIR set, the passages sharing a title (CMRC 2018:
each passage is its own article, titles are unique); passages without a title stand alone. In a QA
set (``by_source``), a source file with every report split from it: its questions name the file. The
choice is reproducible: ``share`` of the documents, sorted by key, sampled with ``seed``.
A question whose relevant passages are all left out becomes unanswerable (no relevance; the
system should refuse it); one with some relevant passage kept keeps those.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass

from eval.data import EvalSet
from indexer.types import Report


@dataclass(frozen=True)
class LeaveOut:
    share: float
    seed: int
    documents: int  # documents (title groups) left out
    passages: frozenset[str]  # their passage ids
    questions: int  # questions turned unanswerable

    def describe(self) -> dict[str, object]:
        return {
            "share": self.share,
            "seed": self.seed,
            "documents_left_out": self.documents,
            "passages_left_out": len(self.passages),
            "questions_about_them": self.questions,
        }


def choose(
    reports: Sequence[Report], share: float, seed: int, *, by_source: bool = False
) -> tuple[int, frozenset[str]]:
    """(documents left out, their passage ids): ``share`` of the title groups (or source files),
    seeded. With ``by_source`` the ids include the source ids, which QA gold names."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"--leave-out must be between 0 and 1 (exclusive), got {share}")
    groups: dict[str, list[str]] = {}
    for report in reports:
        source = str(report.meta.get("source_id") or report.doc_id) if by_source else ""
        key = source or report.title.strip() or f"\0{report.doc_id}"
        groups.setdefault(key, []).append(report.doc_id)
        if source and source != report.doc_id:
            groups[key].append(source)
    keys = sorted(groups)
    count = max(1, round(share * len(keys)))
    left = random.Random(seed).sample(keys, count)
    return count, frozenset(doc for key in left for doc in groups[key])


def apply(
    eval_set: EvalSet, reports: Sequence[Report], share: float, seed: int
) -> tuple[EvalSet, LeaveOut]:
    """The set with questions about left-out documents made unanswerable, and what was left out."""
    documents, passages = choose(reports, share, seed, by_source=eval_set.kind == "qa")
    queries = []
    turned = 0
    for query in eval_set.queries:
        if query.gold_docs and query.gold_docs <= passages:
            queries.append(dataclasses.replace(query, relevance={}, type=f"{query.type}-left-out"))
            turned += 1
        else:
            kept = {d: g for d, g in query.relevance.items() if d not in passages}
            queries.append(dataclasses.replace(query, relevance=kept))
    left = LeaveOut(share, seed, documents, passages, turned)
    return dataclasses.replace(eval_set, queries=tuple(queries)), left
