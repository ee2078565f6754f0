"""Outputs of an evaluation run: markdown report, metrics.json, bar chart, TREC runs, and a
per-question JSONL for error analysis."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.metrics import REFUSAL_TARGETS, MetricValue, refusing
from eval.runner import EvalRun, QueryOutcome, SystemResult

log = logging.getLogger(__name__)

RETRIEVAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("hit@1", "Hit@1"),
    ("hit@3", "Hit@3"),
    ("hit@5", "Hit@5"),
    ("hit@10", "Hit@10"),
    ("recall@1", "R@1"),
    ("recall@5", "R@5"),
    ("recall@10", "R@10"),
    ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"),
    ("search_p50_ms", "search p50 ms"),
    ("search_p95_ms", "search p95 ms"),
)
ANSWER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("answer_accuracy", "Answer acc."),
    ("answer_accuracy_with_titles", "Acc. incl. titles"),
    ("answered_share", "Answered"),
    ("citation_support", "Citation support"),
    ("citation_exact", "Citation exact"),
    ("abstention_precision", "Abstention P"),
    ("abstention_recall", "Abstention R"),
    ("ask_p50_ms", "ask p50 ms"),
    ("ask_p95_ms", "ask p95 ms"),
)
TYPE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("hit@1", "Hit@1"),
    ("hit@5", "Hit@5"),
    ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"),
    ("answer_accuracy", "Answer acc."),
    ("abstention_recall", "Abstention R"),
)
# per_question.jsonl keeps the top hits (plus the first relevant one when it ranks lower) with a
# snippet each: enough to see what won, small enough for 4,000-query benchmarks.
JSONL_HITS = 5
JSONL_SNIPPET = 60
CHART_METRICS: tuple[tuple[str, str], ...] = (
    ("hit@1", "Hit@1"),
    ("hit@5", "Hit@5"),
    ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"),
    ("answer_accuracy", "Answer acc."),
    ("citation_support", "Citation support"),
)


def fmt(value: MetricValue, name: str = "") -> str:
    """A metric for a table: 3 decimals, 1 for milliseconds, '–' when undefined."""
    if value is None:
        return "–"
    return f"{value:.1f}" if name.endswith("_ms") else f"{value:.3f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table; columns after the first are right-aligned."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _relevance_note(run: EvalRun) -> str:
    if run.eval_set.kind == "qa":
        return (
            "Retrieval is scored over answerable questions. A passage is relevant when it belongs "
            "to the gold report and contains an evidence string (NFKC, whitespace removed); all "
            "relevant passages of a question count as one item at the rank of the first, so "
            "Recall@k equals Hit@k."
        )
    return (
        f"Chunk hits collapse to their passage (max-passage: a passage ranks at its best chunk; "
        f"{run.config.get('search_k')} chunks retrieved, cut at {run.config.get('depth')} "
        f"passages) and are scored against the qrels."
    )


def markdown_report(run: EvalRun) -> str:
    """The run as markdown: retrieval, answers, and per-type tables."""
    es, counts = run.eval_set, run.eval_set.counts
    extra = ", ".join(
        f"{k} {run.config[k]}"
        for k in ("index", "url", "model", "split", "limit")
        if run.config.get(k) not in (None, "")
    )
    parts = [
        f"# Evaluation: {es.name} ({es.kind})",
        "",
        f"{counts['queries']} queries ({counts['answerable']} answerable, "
        f"{counts['unanswerable']} unanswerable) · depth {run.config.get('depth')} · "
        f"{run.created_at}" + (f" · {extra}" if extra else ""),
        "",
        "## Retrieval",
        "",
        markdown_table(
            ["System", "Mode", *(label for _, label in RETRIEVAL_COLUMNS)],
            [
                [
                    r.system.name,
                    r.system.describe(),
                    *(fmt(r.metrics.get(k), k) for k, _ in RETRIEVAL_COLUMNS),
                ]
                for r in run.results
            ],
        ),
        "",
        _relevance_note(run),
    ]
    answered = [r for r in run.results if r.answers]
    if answered:
        parts += [
            "",
            f"## Answers (ask top_k {run.config.get('ask_top_k')})",
            "",
            markdown_table(
                ["System", *(label for _, label in ANSWER_COLUMNS)],
                [
                    [r.system.name, *(fmt(r.metrics.get(k), k) for k, _ in ANSWER_COLUMNS)]
                    for r in answered
                ],
            ),
        ]
        parts += _refusal_table(answered)
    rows = []
    for qtype in run.types:
        for r in run.results:
            values = r.by_type[qtype]
            rows.append(
                [
                    qtype,
                    str(int(values.get("queries") or 0)),
                    r.system.name,
                    *(fmt(values.get(k)) if k in values else "" for k, _ in TYPE_COLUMNS),
                ]
            )
    parts += [
        "",
        "## By question type",
        "",
        markdown_table(["Type", "n", "System", *(label for _, label in TYPE_COLUMNS)], rows),
        "",
    ]
    return "\n".join(parts)


def _refusal_table(results: Sequence[SystemResult]) -> list[str]:
    """The answers each system keeps when refusing a set share of the unanswerable questions
    (``eval.metrics.at_refusal``); nothing when no run can say."""
    rows = []
    for r in results:
        for target in REFUSAL_TARGETS:
            if r.metrics.get(refusing("answer_accuracy", target)) is None:
                continue
            cut = r.metrics.get(refusing("cut", target))
            rows.append([
                r.system.name,
                f"≥ {target:.2f}",
                "its own" if cut is None else f"{cut:.3f}",
                *(fmt(r.metrics.get(refusing(k, target))) for k in ("abstention_recall", "answer_accuracy", "answered_share")),
            ])
    if not rows:
        return []
    return [
        "",
        "Answers at a set refusal rate (the confidence cut raised until that share of the "
        "unanswerable questions is refused; compares answerability models at equal refusals):",
        "",
        markdown_table(["System", "Refusing", "Cut", "Abstention R", "Answer acc.", "Answered"], rows),
    ]


def metrics_document(run: EvalRun) -> dict[str, Any]:
    """What metrics.json holds: the set, the configuration and flat metrics (overall, by type)."""
    es = run.eval_set
    return {
        "set": {
            "name": es.name,
            "kind": es.kind,
            "source": str(es.source),
            **es.counts,
            "types": run.type_counts,
        },
        "created_at": run.created_at,
        "config": run.config,
        "metrics": run.flat_metrics(),
        "by_type": run.flat_by_type(),
    }


def _trec_lines(run: EvalRun, result: SystemResult) -> list[str]:
    """TREC run lines: chunk ids for QA sets, passage ids after max-passage collapse for BEIR."""
    depth = int(run.config.get("depth") or 10)
    tag = result.system.name
    lines: list[str] = []
    for o in result.outcomes:
        if run.eval_set.kind == "qa":
            ranked = [(h.chunk_id, h.score) for h in o.retrieved[:depth]]
        else:
            best: dict[str, float] = {}
            for h in o.retrieved:
                if h.doc_id not in best and len(best) < depth:
                    best[h.doc_id] = h.score
            ranked = list(best.items())
        lines += [
            f"{o.query.qid} Q0 {doc} {rank} {score:.6f} {tag}"
            for rank, (doc, score) in enumerate(ranked, start=1)
        ]
    return lines


def _question_record(run: EvalRun, result: SystemResult, o: QueryOutcome) -> dict[str, Any]:
    q, j = o.query, o.judgement
    scores = {name: per_q.get(q.qid) for name, per_q in result.per_query.items()}
    relevant = j.relevant if j is not None else (False,) * len(o.retrieved)
    record: dict[str, Any] = {
        "system": result.system.name,
        "id": q.qid,
        "type": q.type,
        "question": q.text,
        "gold": sorted(q.gold_docs),
        "evidence": list(q.evidence),
        "answers": list(q.answers),
        "rank": j.first_rank if j is not None else None,
        **{k: scores.get(k) for k in ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")},
        "search_ms": round(o.search_ms, 2),
        "hits": [
            {
                "rank": h.rank,
                "doc_id": h.doc_id,
                "chunk_id": h.chunk_id,
                "title": h.title,
                "score": h.score,
                "relevant": rel,
                "text": h.text[:JSONL_SNIPPET],
            }
            for i, (h, rel) in enumerate(zip(o.retrieved, relevant, strict=False))
            if i < JSONL_HITS or (rel and not any(relevant[:i]))
        ],
    }
    if o.answer is not None and o.verdict is not None:
        v = o.verdict
        record["answer"] = {
            "text": o.answer.text,
            "answerable": o.answer.answerable,
            "confidence": o.answer.confidence,
            "citations": [
                {"n": c.n, "doc_id": c.doc_id, "quote": c.quote, "start": c.start, "end": c.end}
                for c in o.answer.citations
            ],
        }
        record["verdict"] = {
            "correct": v.correct,
            "correct_with_titles": v.correct_with_titles,
            "answered": v.answered,
            "citations": v.citations,
            "exact": v.exact,
            "supported": v.supported,
            "problems": list(v.problems),
        }
        record["ask_ms"] = round(o.ask_ms or 0.0, 2)
    return record


def risk_coverage(outcomes: Sequence[QueryOutcome]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, risk) for every confidence threshold at or above the one the run
    answered with: coverage = answered / all questions; risk = answers without a gold answer in
    their text (any answer to an unanswerable question) / answers. Refused questions stay refused
    (what they would have said is not known), so the curve starts at the run's operating point."""
    judged = [o for o in outcomes if o.answer is not None and o.verdict is not None]
    scored = sorted(
        (o.answer.confidence, bool(o.verdict.correct))
        for o in judged
        if o.answer is not None and o.verdict is not None and o.answer.answerable
        and o.answer.confidence is not None
    )
    points: list[tuple[float, float, float]] = []
    wrong = 0
    for kept, (threshold, right) in enumerate(reversed(scored), start=1):
        wrong += not right
        points.append((threshold, kept / len(judged), wrong / kept))
    points.reverse()
    return points


def write_risk_coverage(run: EvalRun, path: Path) -> bool:
    """Risk–coverage curve of each answer system whose answers carry a confidence; False when
    none does (nothing written)."""
    curves = {
        r.system.name: risk_coverage(r.outcomes) for r in run.results if r.answers
    }
    curves = {name: points for name, points in curves.items() if points}
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        ax.plot([p[1] for p in points], [p[2] for p in points], lw=1.5, label=name)
        ax.scatter([points[0][1]], [points[0][2]], zorder=3)
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("risk (share of answers without gold)")
    ax.set_title(f"{run.eval_set.name}: risk–coverage above the refusal threshold")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_chart(run: EvalRun, path: Path) -> None:
    """Grouped bar chart of the main metrics per system (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        (k, label)
        for k, label in CHART_METRICS
        if any(r.metrics.get(k) is not None for r in run.results)
    ]
    n = len(run.results)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(metrics) + 2), 4.0))
    for i, r in enumerate(run.results):
        xs = [m + (i - (n - 1) / 2) * width for m in range(len(metrics))]
        # metrics a system was not scored on (answers of a retrieval-only system) get no bar
        ys = [r.metrics.get(k) for k, _ in metrics]
        bars = ax.bar(xs, [math.nan if y is None else y for y in ys], width, label=r.system.name)
        labels = ["" if y is None else f"{y:.2f}" for y in ys]
        ax.bar_label(bars, labels=labels, fontsize=7, padding=1)
    ax.set_xticks(range(len(metrics)), [label for _, label in metrics])
    ax.set_ylim(0, 1.18)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title(f"{run.eval_set.name}: {run.eval_set.counts['queries']} queries")
    ax.legend(loc="upper center", ncol=max(n, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(run: EvalRun, out_dir: Path) -> dict[str, Path]:
    """Write report.md, metrics.json, chart.png, runs/<system>.trec and per_question.jsonl."""
    out_dir = Path(out_dir)
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    paths = {
        "report": out_dir / "report.md",
        "metrics": out_dir / "metrics.json",
        "chart": out_dir / "chart.png",
        "per_question": out_dir / "per_question.jsonl",
    }
    paths["report"].write_text(markdown_report(run), encoding="utf-8")
    paths["metrics"].write_text(
        json.dumps(metrics_document(run), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    with paths["per_question"].open("w", encoding="utf-8") as f:
        for result in run.results:
            for o in result.outcomes:
                f.write(json.dumps(_question_record(run, result, o), ensure_ascii=False) + "\n")
    for result in run.results:
        trec = out_dir / "runs" / f"{result.system.name}.trec"
        trec.write_text("\n".join(_trec_lines(run, result)) + "\n", encoding="utf-8")
        paths[f"trec_{result.system.name}"] = trec
    write_chart(run, paths["chart"])
    if write_risk_coverage(run, out_dir / "risk_coverage.png"):
        paths["risk_coverage"] = out_dir / "risk_coverage.png"
    log.info("wrote %s", out_dir)
    return paths
