"""Metric computation: retrieval metrics by ranx, answer and latency aggregates.

Metric names are flat strings (``hit@1``, ``mrr@10``, ``answer_accuracy``, ``search_p95_ms``);
the runner prefixes them with the system name (``hybrid_hit@1``). A metric that is undefined for
a set (abstention recall with no unanswerable question) is ``None``, never a made-up number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence

from eval.types import AnswerVerdict, Judgement

# our name -> ranx metric name
RETRIEVAL_METRICS: dict[str, str] = {
    "hit@1": "hit_rate@1",
    "hit@3": "hit_rate@3",
    "hit@5": "hit_rate@5",
    "hit@10": "hit_rate@10",
    "recall@1": "recall@1",
    "recall@5": "recall@5",
    "recall@10": "recall@10",
    "mrr@10": "mrr@10",
    "ndcg@10": "ndcg@10",
}
ANSWER_METRICS: tuple[str, ...] = (
    "answer_accuracy",
    "answer_accuracy_with_titles",
    "answered_share",
    "citation_support",
    "citation_exact",
    "abstention_precision",
    "abstention_recall",
)
# ranx needs at least one ranked item per query; this one is never relevant.
_NO_RESULT = "<no-result>"

MetricValue = float | None


def retrieval_scores(judgements: Mapping[str, Judgement]) -> dict[str, dict[str, float]]:
    """Per-query retrieval scores computed by ranx: ``{metric: {qid: score}}``.

    Ranks, not raw scores, order the run: ranx sorts by score and does not keep the order of ties,
    so each item gets ``len(ranking) - position`` as its score.
    """
    if not judgements:
        return {name: {} for name in RETRIEVAL_METRICS}
    from numba.core.errors import NumbaTypeSafetyWarning
    from ranx import Qrels, Run, evaluate

    qrels = Qrels({qid: dict(j.qrels) for qid, j in judgements.items()})
    run = Run(
        {
            qid: {item: float(len(j.ranking) - i) for i, item in enumerate(j.ranking)}
            or {_NO_RESULT: 0.0}
            for qid, j in judgements.items()
        }
    )
    with warnings.catch_warnings():
        # ranx hashes ids to uint64 and numba warns about the cast to int64; harmless here.
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        evaluate(qrels, run, list(RETRIEVAL_METRICS.values()), return_mean=False)
    return {
        name: {qid: float(v) for qid, v in run.scores[ranx_name].items()}
        for name, ranx_name in RETRIEVAL_METRICS.items()
    }


def mean_scores(
    per_query: Mapping[str, Mapping[str, float]], qids: Collection[str] | None = None
) -> dict[str, MetricValue]:
    """Mean of each metric over ``qids`` (all scored queries when None); None for no queries."""
    out: dict[str, MetricValue] = {}
    for name, scores in per_query.items():
        values = [v for qid, v in scores.items() if qids is None or qid in qids]
        out[name] = sum(values) / len(values) if values else None
    return out


def _share(hits: int, total: int) -> MetricValue:
    return hits / total if total else None


def answer_metrics(verdicts: Sequence[AnswerVerdict]) -> dict[str, MetricValue]:
    """Answer metrics over a set of judged answers.

    - ``answer_accuracy``: answers holding a gold answer in their text / answerable questions
      with gold answers (strict: what the gate uses);
    - ``answer_accuracy_with_titles``: the same, also counting a gold answer found only in a
      cited report's title (lenient, for comparison);
    - ``answered_share``: answerable questions not refused / answerable questions;
    - ``citation_support``: supported citations / all citations, pooled over the answers to
      answerable questions (citations given to unanswerable questions are an abstention
      failure, counted there);
    - ``citation_exact``: citations whose quote equals the report span / all citations;
    - ``abstention_precision``: refusals of unanswerable questions / refusals;
    - ``abstention_recall``: refusals of unanswerable questions / unanswerable questions.
    """
    judgeable = [v for v in verdicts if v.judgeable]
    answerable = [v for v in verdicts if v.answerable]
    unanswerable = [v for v in verdicts if not v.answerable]
    refused = [v for v in verdicts if not v.answered]
    return {
        "answer_accuracy": _share(sum(v.correct for v in judgeable), len(judgeable)),
        "answer_accuracy_with_titles": _share(
            sum(v.correct_with_titles for v in judgeable), len(judgeable)
        ),
        "answered_share": _share(sum(v.answered for v in answerable), len(answerable)),
        "citation_support": _share(
            sum(v.supported for v in answerable), sum(v.citations for v in answerable)
        ),
        "citation_exact": _share(
            sum(v.exact for v in verdicts), sum(v.citations for v in verdicts)
        ),
        "abstention_precision": _share(sum(not v.answerable for v in refused), len(refused)),
        "abstention_recall": _share(sum(not v.answered for v in unanswerable), len(unanswerable)),
    }


# Refusal rates at which answers are also reported (``at_refusal``): two answerability models (or
# two index schemes) each at its own operating point trade refusals for answers differently, so
# they are compared at one refusal rate. 0.95: above where the fitted models operate (~0.90-0.94 of
# the questions about left-out CMRC articles), so every run can be brought to it.
REFUSAL_TARGETS: tuple[float, ...] = (0.95,)


def refusing(metric: str, target: float) -> str:
    """The name of ``metric`` at a set refusal rate: ``answer_accuracy_refusing_95``."""
    return f"{metric}_refusing_{round(target * 100):d}"


def at_refusal(
    answers: Sequence[tuple[float | None, AnswerVerdict]], target: float
) -> dict[str, MetricValue]:
    """Answer metrics with the refusal threshold raised until at least ``target`` of the
    unanswerable questions are refused: the most answers a run keeps at that refusal rate.

    ``answers`` pairs each verdict with its answer's confidence. An answer stays when its
    confidence is above the cut (ties with a refused unanswerable answer go too); refused
    questions stay refused (what they would have said is unknown), so a run that already refuses
    ``target`` is reported at its own operating point. Keys (``NN`` = the target in percent):
    ``answer_accuracy_refusing_NN``, ``answered_share_refusing_NN``,
    ``abstention_recall_refusing_NN`` (the rate reached) and ``cut_refusing_NN`` (the confidence
    cut; None at the run's own point). All None without unanswerable questions or when an
    answer carries no confidence.
    """
    keys = ("answer_accuracy", "answered_share", "abstention_recall", "cut")
    out: dict[str, MetricValue] = {refusing(k, target): None for k in keys}
    unanswerable = [(c, v) for c, v in answers if not v.answerable]
    if not unanswerable or any(c is None for c, v in answers if v.answered):
        return out
    refused = sum(not v.answered for _, v in unanswerable)
    missing = math.ceil(target * len(unanswerable) - 1e-9) - refused
    cut: float | None = None
    if missing > 0:
        cut = sorted(float(c) for c, v in unanswerable if v.answered and c is not None)[missing - 1]

    def kept(c: float | None, v: AnswerVerdict) -> bool:
        return v.answered and (cut is None or (c is not None and c > cut))

    answerable = [(c, v) for c, v in answers if v.answerable]
    judgeable = [(c, v) for c, v in answerable if v.judgeable]
    out[refusing("answer_accuracy", target)] = _share(sum(kept(c, v) and v.correct for c, v in judgeable), len(judgeable))
    out[refusing("answered_share", target)] = _share(sum(kept(c, v) for c, v in answerable), len(answerable))
    out[refusing("abstention_recall", target)] = _share(sum(not kept(c, v) for c, v in unanswerable), len(unanswerable))
    out[refusing("cut", target)] = cut
    return out


def latency_summary(millis: Iterable[float], prefix: str) -> dict[str, MetricValue]:
    """``{prefix}_p50_ms`` and ``{prefix}_p95_ms`` (linear interpolation between samples)."""
    import numpy as np

    values = np.asarray(list(millis), dtype=np.float64)
    if values.size == 0:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p95_ms": None}
    p50, p95 = np.percentile(values, [50, 95])
    return {f"{prefix}_p50_ms": float(p50), f"{prefix}_p95_ms": float(p95)}
