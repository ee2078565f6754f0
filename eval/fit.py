"""`zhiwen fit-answerability`: fit the answerability model on questions that must be refused.

zhiwen fit-answerability --beir ../shared/benchmarks/cmrc2018 --split TRIAL --leave-out 0.15 --seeds 0 \
    --removed 0.15 --removed-seed 0 --squad2 ../shared/benchmarks/squad2-zh

Rows come from up to three sources (``eval.fit_data``): CMRC TRIAL with ``--leave-out`` of its
articles left out of the index, per seed (off-topic: the article is missing); CMRC TRIAL with the
answer sentences removed from ``--removed`` of its passages (on topic: the fact is missing); and
the squad2-zh questions of the ``fit`` articles (``--squad2``; the ``report`` articles are never
read). Every question is searched and assessed by the extractive composer as the service would;
its features are labelled 1 when the answer it would give holds a gold answer. The logistic
regression weighs each source equally; the threshold is, among those refusing ``--target-refusal``
of the leave-out questions on every seed, the one with the best mean equal-mix accuracy over the
sources (``eval.fit_model``). The model goes to ``service/answering/answerability.json``; a
risk–coverage plot and a summary to ``--report``. ``--cv`` prints out-of-fold figures instead
(folds by article), to compare ``--features`` sets.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from eval.fit_data import Row
from indexer.embed import SENTENCE_SCHEMES

log = logging.getLogger(__name__)

COMMAND = "zhiwen fit-answerability"
__all__ = ["COMMAND", "Row", "feature_set", "fit_command", "register", "run", "scoring_overrides"]


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
    p.add_argument("--removed", type=float, default=None, metavar="SHARE",
                   help="also: this share of TRIAL passages with their answer sentences removed (0.15)")
    p.add_argument("--removed-seed", type=int, default=0, help="which passages --removed changes (0)")
    p.add_argument("--squad2", type=Path, default=None, metavar="DIR",
                   help="also: squad2-zh questions of its fit articles (eval.mix), whole corpus indexed")
    p.add_argument("--features", default=None,
                   help="features to fit: comma-separated names, or base (today's), fact (base + fact "
                   "features), slot (fact + slot_missing); default: answerability.FEATURES")
    p.add_argument("--cv", action="store_true",
                   help="print 5-fold out-of-fold figures (folds by article); writes no model")
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
        help="override a field of service.answering.config.ScoringConfig while collecting (repeatable; for "
        "sweeps: the packaged model must be fitted with the defaults)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def scoring_overrides(items: Sequence[str]) -> Any:
    """The default scoring configuration with ``field=value`` overrides (``ValueError`` names a
    bad one)."""
    from service.answering.config import DEFAULT

    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--scoring {item!r}: give FIELD=VALUE")
        pairs[name.strip()] = value.strip()
    return DEFAULT.with_overrides(pairs)




def feature_set(spec: str | None) -> tuple[str, ...]:
    """The features named by ``--features`` (see its help)."""
    from service.answering.answerability import BASE_FEATURES, FEATURES
    from service.answering.fact_features import FACT_FEATURES

    presets = {
        "base": BASE_FEATURES,
        "fact": BASE_FEATURES + FACT_FEATURES,
        "slot": BASE_FEATURES + FACT_FEATURES + ("slot_missing",),
    }
    if spec is None:
        return FEATURES
    if spec in presets:
        return presets[spec]
    names = tuple(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    if not names:
        raise ValueError("--features: give names or base / fact / slot")
    return names


def fit_command(args: argparse.Namespace, seeds: Sequence[int]) -> str:
    """The command that collects the same rows and fits the same model (fixed seeds)."""
    parts = [COMMAND, f"--beir {args.beir}", f"--split {args.split}", f"--leave-out {args.leave_out:g}",
             f"--seeds {','.join(map(str, seeds))}"]
    if args.removed is not None:
        parts.append(f"--removed {args.removed:g} --removed-seed {args.removed_seed}")
    if args.squad2 is not None:
        parts.append(f"--squad2 {args.squad2}")
    if args.features is not None:
        parts.append(f"--features {args.features}")
    parts.append(f"--target-refusal {args.target_refusal:g}")
    if args.limit is not None:
        parts.append(f"--limit {args.limit}")
    parts += [f"--scoring {item}" for item in args.scoring]
    return " ".join(parts)


def risk_coverage_plot(rows: Sequence[Row], p: Any, threshold: float, path: Path) -> None:
    """Coverage against risk over every threshold (all rows pooled), the chosen one marked."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    right = np.array([r.right for r in rows], dtype=bool)
    scores = np.nan_to_num(p, nan=-1.0)
    order = np.argsort(-scores)
    answered = np.cumsum(scores[order] >= 0)
    wrong = np.cumsum((scores[order] >= 0) & ~right[order])
    keep = answered > 0
    coverage = answered[keep] / len(rows)
    risk = wrong[keep] / answered[keep]
    here = scores >= threshold
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(coverage, risk, lw=1.5, label="answers kept vs wrong share")
    if here.any():
        ax.scatter([here.mean()], [(here & ~right).sum() / here.sum()], color="red", zorder=3,
                   label=f"threshold {threshold:.3f}")
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("risk (share of answers without gold)")
    ax.set_title("Answerability risk–coverage (fitting data, all sources)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _rows(args: argparse.Namespace, seeds: Sequence[int], progress: bool) -> list[Row]:
    from eval.fit_data import Collect, collect, read_rows

    if args.from_rows is not None:
        rows = read_rows(args.from_rows)
        sources = {r.source for r in rows}
        if (args.squad2 is None and "squad2-fit" in sources) or (args.removed is None and "cmrc-removed" in sources):
            raise ValueError(f"{args.from_rows} holds sources {sorted(sources)}: give the options that "
                             "collected them (--removed, --squad2), so the recorded command refits it")
        return rows
    cfg = Collect(
        beir=args.beir, split=args.split, leave_out=args.leave_out, seeds=tuple(seeds), removed=args.removed,
        removed_seed=args.removed_seed, squad2=args.squad2, top_k=args.top_k, limit=args.limit,
        model=args.model or "m3e-small", cache_dir=args.cache_dir, sentence_vectors=args.sentence_vectors,
        scoring=scoring_overrides(args.scoring), progress=progress,
    )
    rows = collect(cfg)
    if args.rows is not None:
        from eval.fit_data import write_rows

        write_rows(rows, args.rows)
        log.info("wrote %d rows to %s", len(rows), args.rows)
    return rows


def run(args: argparse.Namespace) -> int:
    from eval.fit_model import cross_validate, describe, fit, probabilities, rounded
    from service.answering.answerability import FEATURES, MODEL_PATH

    if args.split.upper().startswith("DEV"):
        sys.stderr.write("error: --split DEV is the held-out report split; fit on TRIAL\n")
        return 2
    try:
        if args.scoring:
            scoring_overrides(args.scoring)
        seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
        if not seeds:
            raise ValueError("--seeds: give at least one seed")
        features = feature_set(args.features)
        out = args.out or MODEL_PATH
        if not args.cv and out == MODEL_PATH and set(features) != set(FEATURES):
            raise ValueError("the packaged model must use answerability.FEATURES; give --out for another set")
        progress = not args.quiet and sys.stderr.isatty()
        rows = _rows(args, seeds, progress)
        if args.from_rows is not None:
            seeds = sorted({r.seed for r in rows if r.source == "cmrc-leave-out"}) or seeds
        if args.cv:
            found = cross_validate(rows, features, args.target_refusal)
            sys.stdout.write(
                f"{len(features)} features: {', '.join(features)}\n"
                f"out-of-fold ({len(found['thresholds'])} folds by article; thresholds "
                f"{', '.join(map(str, found['thresholds']))}):\n{describe(found)}\n"
            )
            return 0
        fitted = {
            "command": fit_command(args, seeds),
            "data": ", ".join(sorted({r.source for r in rows})),
            "questions": len(rows),
            "by_source": {
                s: {"rows": sum(r.source == s for r in rows), "must_refuse": sum(r.left_out for r in rows if r.source == s)}
                for s in sorted({r.source for r in rows})
            },
            "left_out_questions": sum(r.left_out for r in rows),
            "rule_refused": sum(r.features is None for r in rows),
            "right_answers": sum(r.right for r in rows),
            "fitted_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        model, found = fit(rows, features, args.target_refusal, fitted)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    model.save(out)
    report = args.report or Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-fit-answerability"
    report.mkdir(parents=True, exist_ok=True)
    risk_coverage_plot(rows, probabilities(model, rows), model.threshold, report / "risk_coverage.png")
    (report / "model.json").write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (report / "figures.json").write_text(json.dumps(rounded(found), indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(
        f"wrote {out}\n"
        + "".join(f"  {f}: coef {c:+.3f}\n" for f, c in zip(model.features, model.coef, strict=True))
        + f"threshold {model.threshold:.4f}; on the fitting data:\n{describe(found)}\n"
        + f"plot: {report / 'risk_coverage.png'}\n"
    )
    return 0
