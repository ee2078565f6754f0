"""Run an evaluation set against systems through a backend, judge every result, aggregate."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eval.data import EvalQuery, EvalSet
from eval.metrics import (
    REFUSAL_TARGETS,
    MetricValue,
    answer_metrics,
    at_refusal,
    latency_summary,
    mean_scores,
    retrieval_scores,
)
from eval.relevance import judge_answer, judge_beir, judge_qa
from eval.systems import Backend, System
from eval.types import AnswerVerdict, AnswerView, Judgement, Retrieved

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryOutcome:
    """Everything one system did with one query, and how it was judged."""

    query: EvalQuery
    retrieved: tuple[Retrieved, ...]
    judgement: Judgement | None  # None for unanswerable queries (no retrieval metrics)
    search_ms: float
    answer: AnswerView | None = None
    verdict: AnswerVerdict | None = None
    ask_ms: float | None = None


@dataclass(frozen=True)
class SystemResult:
    """One system's outcomes, per-query retrieval scores and aggregated metrics.

    ``metrics`` and ``by_type`` use unprefixed names (``hit@1``); answer metrics are present only
    when answers were evaluated for this system.
    """

    system: System
    outcomes: tuple[QueryOutcome, ...]
    per_query: dict[str, dict[str, float]]
    metrics: dict[str, MetricValue]
    by_type: dict[str, dict[str, MetricValue]]
    answers: bool


@dataclass(frozen=True)
class EvalRun:
    """A whole evaluation: the set, each system's result and the run's configuration."""

    eval_set: EvalSet
    results: tuple[SystemResult, ...]
    config: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def types(self) -> list[str]:
        return list(dict.fromkeys(q.type for q in self.eval_set.queries))

    def flat_metrics(self) -> dict[str, MetricValue]:
        """``{system}_{metric}`` for every system — what floors and metrics.json refer to."""
        return {f"{r.system.name}_{k}": v for r in self.results for k, v in r.metrics.items()}

    def flat_by_type(self) -> dict[str, dict[str, MetricValue]]:
        """``{type: {system_metric: value}}``; the query count per type is in ``type_counts``."""
        return {
            t: {
                f"{r.system.name}_{k}": v
                for r in self.results
                for k, v in r.by_type[t].items()
                if k != "queries"
            }
            for t in self.types
        }

    @property
    def type_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for q in self.eval_set.queries:
            counts[q.type] = counts.get(q.type, 0) + 1
        return counts


def _judge(
    eval_set: EvalSet, query: EvalQuery, retrieved: list[Retrieved], backend: Backend, depth: int
) -> Judgement | None:
    if not query.answerable:
        return None
    if eval_set.kind == "qa":
        return judge_qa(query, retrieved[:depth], backend)
    return judge_beir(query, retrieved, backend, depth=depth)


def _aggregate(
    eval_set: EvalSet, system: System, outcomes: list[QueryOutcome], answers: bool
) -> SystemResult:
    judgements = {o.query.qid: o.judgement for o in outcomes if o.judgement is not None}
    per_query = retrieval_scores(judgements)
    verdicts = [o.verdict for o in outcomes if o.verdict is not None]

    metrics: dict[str, MetricValue] = dict(mean_scores(per_query))
    metrics |= latency_summary((o.search_ms for o in outcomes), "search")
    if answers:
        metrics |= answer_metrics(verdicts)
        scored = [
            (o.answer.confidence if o.answer is not None else None, o.verdict)
            for o in outcomes if o.verdict is not None
        ]
        for target in REFUSAL_TARGETS:
            metrics |= at_refusal(scored, target)
        metrics |= latency_summary((o.ask_ms for o in outcomes if o.ask_ms is not None), "ask")

    by_type: dict[str, dict[str, MetricValue]] = {}
    for qtype in dict.fromkeys(q.type for q in eval_set.queries):
        typed = [o for o in outcomes if o.query.type == qtype]
        values: dict[str, MetricValue] = {"queries": float(len(typed))}
        values |= mean_scores(per_query, {o.query.qid for o in typed})
        if answers:
            values |= answer_metrics([o.verdict for o in typed if o.verdict is not None])
        by_type[qtype] = values
    return SystemResult(system, tuple(outcomes), per_query, metrics, by_type, answers)


def run_evaluation(
    eval_set: EvalSet,
    backend: Backend,
    systems: Sequence[System],
    *,
    answer_systems: Collection[str] = ("hybrid",),
    depth: int = 10,
    search_k: int | None = None,
    ask_top_k: int = 5,
    progress: bool = False,
    config: dict[str, Any] | None = None,
) -> EvalRun:
    """Search (and, for ``answer_systems``, ask) every query with every system, then score.

    ``depth`` is the cut-off of the scored ranking (10). ``search_k`` is how many chunks are
    retrieved: ``depth`` for QA sets; for BEIR sets 3 × ``depth`` by default, so that ``depth``
    documents remain after max-passage collapse. Latencies are wall-clock per call, after one
    warm-up call per system.
    """
    from tqdm import tqdm

    if search_k is None:
        search_k = depth if eval_set.kind == "qa" else 3 * depth
    gold_citations = eval_set.kind == "qa"
    backend.warm_up(systems)
    results: list[SystemResult] = []
    total = len(systems) * len(eval_set.queries)
    with tqdm(
        total=total, desc=eval_set.name, unit="q", file=sys.stderr, disable=not progress
    ) as bar:
        for system in systems:
            answers = system.name in answer_systems and eval_set.has_answers
            bar.set_postfix_str(system.name)
            outcomes: list[QueryOutcome] = []
            for query in eval_set.queries:
                t0 = time.perf_counter()
                retrieved = backend.search(query.text, system, search_k)
                search_ms = (time.perf_counter() - t0) * 1000
                outcome = QueryOutcome(
                    query,
                    tuple(retrieved),
                    _judge(eval_set, query, retrieved, backend, depth),
                    search_ms,
                )
                if answers:
                    t0 = time.perf_counter()
                    answer = backend.ask(query.text, system, ask_top_k)
                    ask_ms = (time.perf_counter() - t0) * 1000
                    verdict = judge_answer(query, answer, backend, gold_citations=gold_citations)
                    outcome = QueryOutcome(
                        query,
                        outcome.retrieved,
                        outcome.judgement,
                        search_ms,
                        answer,
                        verdict,
                        ask_ms,
                    )
                outcomes.append(outcome)
                bar.update()
            results.append(_aggregate(eval_set, system, outcomes, answers))
            log.info("%s: %d queries scored", system.name, len(outcomes))
    run_config = {
        "depth": depth,
        "search_k": search_k,
        "ask_top_k": ask_top_k,
        "answer_systems": [r.system.name for r in results if r.answers],
        "systems": [s.as_dict() for s in systems],
    } | (config or {})
    return EvalRun(eval_set, tuple(results), run_config)
