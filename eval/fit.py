"""`zhiwen fit-answerability`: fit the answerability model on CMRC 2018 TRIAL with left-out articles.

zhiwen fit-answerability --beir ../shared/benchmarks/cmrc2018 --split TRIAL --leave-out 0.15 --seeds 0,1,2,3,4

For each seed, ``--leave-out`` of the articles are removed from the index (``eval.leaveout``), so
the questions about them are real unanswerable questions. Every question is searched and assessed
by the extractive composer as the service would (``ExtractiveComposer.assess``); its features are
labelled 1 when the answer it would give holds a gold answer in its text, else 0 (left-out
questions are always 0). A standardised logistic regression (scikit-learn) is fitted on them and
the refusal threshold is read off the risk–coverage curve: the lowest threshold at which
``--target-refusal`` of the left-out questions are refused on every seed's sample. The model is written to
``service/answering/answerability.json``; a risk–coverage plot and a summary go to ``--report``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from indexer.sentence_vectors import SENTENCE_SCHEMES

log = logging.getLogger(__name__)

COMMAND = "zhiwen fit-answerability"


@dataclass(frozen=True)
class Row:
    """One assessed question: its features (None when a rule already refuses it) and label."""

    qid: str
    seed: int
    features: dict[str, float] | None
    right: bool  # the answer it would give holds a gold answer
    left_out: bool  # its article was removed: it must be refused


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fit-answerability",
        help="refit the answerability model (when to refuse) on a BEIR benchmark's TRIAL split",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
    )
    p.add_argument("--beir", type=Path, required=True, metavar="DIR", help="BEIR benchmark with answers")
    p.add_argument("--split", default="TRIAL", help="query id prefix to fit on (TRIAL); never DEV")
    p.add_argument("--leave-out", type=float, default=0.15, metavar="SHARE", help="articles removed (0.15)")
    p.add_argument("--seeds", default="0,1,2,3,4", help="leave-out seeds, comma-separated (0,1,2,3,4)")
    p.add_argument(
        "--target-refusal",
        type=float,
        default=0.9,
        help="share of left-out questions the threshold must refuse on the fitting data (0.9)",
    )
    p.add_argument("--top-k", type=int, default=5, help="passages per answer, as the service (5)")
    p.add_argument("--limit", type=int, default=None, help="fit on the first N questions only")
    p.add_argument("--model", default=None, help="embedding model (default: m3e-small)")
    p.add_argument("--cache-dir", type=Path, default=Path("var/eval-cache"), help="BEIR index cache")
    p.add_argument("--sentence-vectors", choices=SENTENCE_SCHEMES, default=None,
                   help="vector scheme of the indexes fitted on (default: the indexer's)")
    p.add_argument("--out", type=Path, default=None, help="model file (default: the packaged one)")
    p.add_argument("--report", type=Path, default=None, help="plot + summary dir (results/<time>-fit)")
    p.add_argument("--rows", type=Path, default=None, help="also write each question's features (JSONL)")
    p.add_argument(
        "--from-rows",
        type=Path,
        default=None,
        help="refit from features a previous run wrote with --rows (same code), without searching",
    )
    p.add_argument(
        "--scoring",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field of indexer.scoring.ScoringConfig while collecting (repeatable; for "
        "sweeps: the packaged model must be fitted with the defaults)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def collect(args: argparse.Namespace, seeds: Sequence[int], progress: bool) -> list[Row]:
    """Assess every question of the split on each seed's leave-out index."""
    from tqdm import tqdm

    from eval.cli import open_searcher
    from eval.data import contains_any, load_beir, load_beir_corpus
    from eval.leaveout import apply
    from service.answering.content import has_content
    from service.answering.extractive import ExtractiveComposer

    base = load_beir(args.beir, split=args.split, limit=args.limit)
    if not base.has_answers:
        raise ValueError(f"{args.beir}: no answers.jsonl; answerability needs gold answers")
    corpus = load_beir_corpus(args.beir)
    rows: list[Row] = []
    for seed in seeds:
        eval_set, chosen = apply(base, corpus, args.leave_out, seed)
        searcher = open_searcher(eval_set, args.model or "m3e-small", args.cache_dir, exclude=chosen.passages,
                                 progress=progress, sentence_vectors=args.sentence_vectors)
        composer = ExtractiveComposer.for_index(searcher, scoring_overrides(args.scoring), answerability=None)
        queries = [q for q in eval_set.queries if has_content(q.text)]
        for q in tqdm(queries, desc=f"seed {seed}", unit="q", file=sys.stderr, disable=not progress):
            hits = searcher.search(q.text, top_k=args.top_k)
            assessment = composer.assess(q.text, hits, searcher.reports)
            answer = assessment.answer
            right = q.answerable and answer is not None and contains_any(answer.text, q.answers)
            features = dict(assessment.features) if answer is not None else None
            rows.append(Row(q.qid, seed, features, right, not q.answerable))
        log.info("seed %d: %d questions, %d about left-out articles", seed, len(queries), chosen.questions)
    return rows


def scoring_overrides(items: Sequence[str]) -> Any:
    """The default scoring configuration with ``field=value`` overrides (``ValueError`` names a
    bad one)."""
    from indexer.scoring import DEFAULT

    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--scoring {item!r}: give FIELD=VALUE")
        pairs[name.strip()] = value.strip()
    return DEFAULT.with_overrides(pairs)


def fit(rows: Sequence[Row], target_refusal: float, fitted: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The fitted model and its operating-point figures on ``rows``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from service.answering.answerability import FEATURES, AnswerabilityModel

    scored = [r for r in rows if r.features is not None]
    if not scored or len({r.right for r in scored}) < 2:
        raise ValueError("fitting needs both right and wrong answers; use more questions")
    x = np.array([[r.features[f] for f in FEATURES] for r in scored if r.features is not None], dtype=float)
    y = np.array([r.right for r in scored], dtype=int)
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    lr = LogisticRegression(C=1.0, max_iter=1000).fit((x - scaler.mean_) / scale, y)
    draft = AnswerabilityModel(
        FEATURES, tuple(scaler.mean_.tolist()), tuple(scale.tolist()), tuple(lr.coef_[0].tolist()),
        float(lr.intercept_[0]), 0.5, fitted,
    )
    probs = probabilities(draft, rows)
    threshold, figures = operating_point(rows, probs, target_refusal)
    model = dataclasses.replace(draft, threshold=threshold, fitted=fitted | {"operating_point": figures})
    return model, figures


def probabilities(model: Any, rows: Sequence[Row]) -> dict[int, float]:
    """The model's probability for each row a rule did not already refuse, by ``id(row)``."""
    return {id(r): model.probability(r.features) for r in rows if r.features is not None}


def outcomes(rows: Sequence[Row], probs: dict[int, float], threshold: float) -> dict[str, float]:
    """Refusal of left-out questions, answered and right shares of the others, at ``threshold``."""
    left = [r for r in rows if r.left_out]
    kept = [r for r in rows if not r.left_out]

    def answered(r: Row) -> bool:
        return r.features is not None and probs[id(r)] >= threshold

    n_answered = sum(answered(r) for r in rows)
    wrong = sum(answered(r) and not r.right for r in rows)
    return {
        "threshold": round(threshold, 4),
        "left_out_refused": sum(not answered(r) for r in left) / len(left) if left else float("nan"),
        "others_answered": sum(answered(r) for r in kept) / len(kept) if kept else float("nan"),
        "others_right": sum(answered(r) and r.right for r in kept) / len(kept) if kept else float("nan"),
        "coverage": n_answered / len(rows),
        "risk": wrong / n_answered if n_answered else 0.0,
    }


def operating_point(rows: Sequence[Row], probs: dict[int, float], target: float) -> tuple[float, dict[str, float]]:
    """The lowest threshold that refuses at least ``target`` of the left-out questions *of every
    seed* (each seed is one sample of left-out articles; on TRIAL, refusal at one threshold varies
    by ±0.05 between samples, so a threshold met only on their pooled average misses the target
    on one sample in two), and its figures on all rows."""
    if not any(r.left_out for r in rows):
        raise ValueError("no left-out question: give --leave-out")
    samples = [[r for r in rows if r.seed == seed] for seed in sorted({r.seed for r in rows})]
    samples = [s for s in samples if any(r.left_out for r in s)]
    for t in sorted({0.0, *probs.values()}):
        if all(outcomes(s, probs, t)["left_out_refused"] >= target for s in samples):
            return t, outcomes(rows, probs, t) | {"worst_sample_refused": min(
                outcomes(s, probs, t)["left_out_refused"] for s in samples
            )}
    return 1.0, outcomes(rows, probs, 1.0)


def risk_coverage_plot(rows: Sequence[Row], probs: dict[int, float], threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [outcomes(rows, probs, t) for t in sorted({0.0, *probs.values()})]
    here = outcomes(rows, probs, threshold)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["coverage"] for p in points], [p["risk"] for p in points], lw=1.5, label="answers kept vs wrong share")
    ax.scatter([here["coverage"]], [here["risk"]], color="red", zorder=3, label=f"threshold {threshold:.3f}")
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("risk (share of answers without gold)")
    ax.set_title("Answerability risk–coverage (fitting data)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from service.answering.answerability import MODEL_PATH

    if args.split.upper().startswith("DEV"):
        sys.stderr.write("error: --split DEV is the held-out report split; fit on TRIAL\n")
        return 2
    try:
        if args.scoring:
            scoring_overrides(args.scoring)
        seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
        if not seeds:
            raise ValueError("--seeds: give at least one seed")
        progress = not args.quiet and sys.stderr.isatty()
        if args.from_rows is not None:
            rows = [Row(**json.loads(line)) for line in args.from_rows.read_text(encoding="utf-8").splitlines() if line]
            seeds = sorted({r.seed for r in rows})
        else:
            rows = collect(args, seeds, progress)
        fitted = {
            "command": f"{COMMAND} --beir {args.beir} --split {args.split} --leave-out {args.leave_out:g} "
            f"--seeds {','.join(map(str, seeds))} --target-refusal {args.target_refusal:g}"
            + "".join(f" --scoring {item}" for item in args.scoring),
            "data": f"{args.beir.name} {args.split}",
            "questions": len(rows),
            "left_out_questions": sum(r.left_out for r in rows),
            "rule_refused": sum(r.features is None for r in rows),
            "right_answers": sum(r.right for r in rows),
            # gold in the answer it would give, before any refusal, of the questions not left out
            "kept_right_unrefused": round(
                sum(r.right for r in rows if not r.left_out) / max(1, sum(not r.left_out for r in rows)), 4
            ),
            "fitted_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        if args.rows is not None:
            with args.rows.open("w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n")
        model, figures = fit(rows, args.target_refusal, fitted)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    out = args.out or MODEL_PATH
    model.save(out)
    report = args.report or Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-fit-answerability"
    report.mkdir(parents=True, exist_ok=True)
    probs = probabilities(model, rows)
    risk_coverage_plot(rows, probs, model.threshold, report / "risk_coverage.png")
    (report / "model.json").write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(
        f"wrote {out}\n"
        + "".join(f"  {f}: coef {c:+.3f}\n" for f, c in zip(model.features, model.coef, strict=True))
        + "".join(f"  {k}: {v:.3f}\n" for k, v in figures.items())
        + f"  kept_right_unrefused: {fitted['kept_right_unrefused']:.4f}\n"
        + f"plot: {report / 'risk_coverage.png'}\n"
    )
    return 0
