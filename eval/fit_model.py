"""Fitting answerability on rows (``eval.fit_data``): the model, its operating point, and
cross-validation grouped by article.

* **Fit.** Standardised logistic regression (scikit-learn) on the rows a rule did not refuse,
  each *source* weighted equally (``sample_weight``: a source's rows share one unit of weight),
  so 5,000 leave-out rows do not drown 1,000 removed-sentence ones.
* **Operating point.** Among the thresholds at which the CMRC leave-out questions are refused at
  least ``target`` on *every* seed (each seed one sample of left-out articles; refusal at one
  threshold varies ±0.05 between them), the one maximising the mean over sources of the
  equal-mix accuracy: the mean of the share of must-refuse questions refused and the share of the
  others answered with a gold answer (``eval.mix.mix_metrics`` on an equal mix). Ties: the lowest.
* **Cross-validation** (``cross_validate``): folds by article (a CMRC passage with all its seeds
  and sources; a squad2-zh article), each fold's model and threshold chosen on the other folds,
  so the out-of-fold figures compare feature sets honestly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from eval.fit_data import Row

Array = npt.NDArray[np.float64]
LEAVE_OUT = "cmrc-leave-out"
# logistic regression's inverse regularisation strength; scikit-learn's default, kept from the
# first fit (the features are few and standardised; not tuned)
C = 1.0


def source_weights(rows: Sequence[Row]) -> Array:
    """Per row, 1 / (rows of its source) × (rows / sources): every source weighs the same and the
    weights average 1."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.source] = counts.get(r.source, 0) + 1
    scale = len(rows) / len(counts) if counts else 1.0
    return np.array([scale / counts[r.source] for r in rows], dtype=float)


def fit_model(rows: Sequence[Row], features: Sequence[str], fitted: Mapping[str, Any]) -> Any:
    """The logistic regression on the rows with features, as an ``AnswerabilityModel`` whose
    threshold is still 0.5 (``choose_threshold`` sets it)."""
    from sklearn.linear_model import LogisticRegression

    from service.answering.answerability import AnswerabilityModel

    scored = [r for r in rows if r.features is not None]
    if not scored or len({r.right for r in scored}) < 2:
        raise ValueError("fitting needs both right and wrong answers; use more questions")
    missing = sorted({f for r in scored for f in features if f not in (r.features or {})})
    if missing:
        raise ValueError(f"rows lack features {', '.join(missing)}: collect them again with this code")
    x = np.array([[(r.features or {})[f] for f in features] for r in scored], dtype=float)
    y = np.array([r.right for r in scored], dtype=int)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    lr = LogisticRegression(C=C, max_iter=2000).fit((x - mean) / scale, y, sample_weight=source_weights(scored))
    return AnswerabilityModel(
        tuple(features), tuple(mean.tolist()), tuple(scale.tolist()), tuple(lr.coef_[0].tolist()),
        float(lr.intercept_[0]), 0.5, dict(fitted),
    )


def probabilities(model: Any, rows: Sequence[Row]) -> Array:
    """The model's probability per row; NaN where a rule refuses (no features)."""
    return np.array([model.probability(r.features) if r.features is not None else math.nan for r in rows])


def _share(count: float, total: int) -> float:
    return count / total if total else math.nan


def figures(rows: Sequence[Row], answered: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """Per source (and ``seed_refused``: the leave-out refusal of each seed) at one decision per
    row: ``refused`` (of must-refuse questions), ``right`` and ``answered`` (of the others),
    ``mix_accuracy`` (mean of refused and right), counts; ``mean_mix_accuracy`` over sources."""
    out: dict[str, Any] = {"sources": {}}
    for source in sorted({r.source for r in rows}):
        neg = [i for i, r in enumerate(rows) if r.source == source and r.left_out]
        pos = [i for i, r in enumerate(rows) if r.source == source and not r.left_out]
        refused = _share(sum(not answered[i] for i in neg), len(neg))
        right = _share(sum(bool(answered[i]) and rows[i].right for i in pos), len(pos))
        shares = [s for s in (refused, right) if not math.isnan(s)]
        out["sources"][source] = {
            "refused": refused,
            "right": right,
            "answered": _share(sum(bool(answered[i]) for i in pos), len(pos)),
            "mix_accuracy": sum(shares) / len(shares) if shares else math.nan,
            "must_refuse": len(neg),
            "answerable": len(pos),
        }
    accs = [s["mix_accuracy"] for s in out["sources"].values() if not math.isnan(s["mix_accuracy"])]
    out["mean_mix_accuracy"] = sum(accs) / len(accs) if accs else math.nan
    seeds: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        if r.source == LEAVE_OUT and r.left_out:
            seeds.setdefault(r.seed, []).append(i)
    out["seed_refused"] = {s: _share(sum(not answered[i] for i in ix), len(ix)) for s, ix in sorted(seeds.items())}
    out["worst_seed_refused"] = min(out["seed_refused"].values(), default=math.nan)
    return out


def _answered_counts(p: Array, mask: npt.NDArray[np.bool_], thresholds: Array) -> Array:
    """For each threshold, how many rows of ``mask`` are answered (probability ≥ threshold)."""
    values = np.sort(p[mask & ~np.isnan(p)])
    return (len(values) - np.searchsorted(values, thresholds, side="left")).astype(float)


def choose_threshold(rows: Sequence[Row], p: Array, target: float) -> float:
    """The operating point (module docstring): among thresholds whose CMRC leave-out refusal is
    ≥ ``target`` on every seed, the one with the highest mean equal-mix accuracy over sources (the
    lowest of equals); 1.0 when none meets the target. Without leave-out rows, no constraint."""
    thresholds = np.unique(np.concatenate([[0.0], p[~np.isnan(p)], [1.0]]))
    source = np.array([r.source for r in rows])
    refuse = np.array([r.left_out for r in rows], dtype=bool)
    right = np.array([r.right for r in rows], dtype=bool)
    seed = np.array([r.seed for r in rows])
    feasible = np.ones(len(thresholds), dtype=bool)
    for s in np.unique(seed[(source == LEAVE_OUT) & refuse]):
        mask = (source == LEAVE_OUT) & refuse & (seed == s)
        refused = 1.0 - _answered_counts(p, mask, thresholds) / mask.sum()
        feasible &= refused >= target - 1e-12
    accuracies = []
    for name in np.unique(source):
        neg, pos = (source == name) & refuse, (source == name) & ~refuse
        shares = []
        if neg.any():
            shares.append(1.0 - _answered_counts(p, neg, thresholds) / neg.sum())
        if pos.any():
            shares.append(_answered_counts(p, pos & right, thresholds) / pos.sum())
        accuracies.append(np.mean(shares, axis=0))
    objective = np.mean(accuracies, axis=0)
    if not feasible.any():
        return 1.0
    best = int(np.argmax(np.where(feasible, objective, -np.inf)))
    return float(thresholds[best])


def answered_at(p: Array, threshold: float) -> npt.NDArray[np.bool_]:
    return np.nan_to_num(p, nan=-1.0) >= threshold


def fit(rows: Sequence[Row], features: Sequence[str], target: float, fitted: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The fitted model with its threshold, and its figures on ``rows`` at that threshold."""
    draft = fit_model(rows, features, fitted)
    p = probabilities(draft, rows)
    threshold = choose_threshold(rows, p, target)
    found = {"threshold": round(threshold, 4)} | figures(rows, answered_at(p, threshold))
    model = dataclasses.replace(draft, threshold=threshold, fitted=dict(fitted) | {"operating_point": rounded(found)})
    return model, found


def folds(rows: Sequence[Row], n_splits: int) -> list[npt.NDArray[np.int64]]:
    """Row indices of each held-out fold, whole articles per fold (scikit-learn's GroupKFold:
    deterministic, balanced by size)."""
    from sklearn.model_selection import GroupKFold

    groups = [r.article for r in rows]
    n = min(n_splits, len(set(groups)))
    if n < 2:
        raise ValueError("cross-validation needs rows of at least two articles")
    return [test for _, test in GroupKFold(n_splits=n).split(np.zeros(len(rows)), groups=groups)]


def cross_validate(rows: Sequence[Row], features: Sequence[str], target: float, n_splits: int = 5) -> dict[str, Any]:
    """Out-of-fold figures: each held-out fold decided by the model and threshold fitted and
    chosen on the other folds; ``thresholds`` lists the folds' thresholds."""
    answered = np.zeros(len(rows), dtype=bool)
    thresholds = []
    for test in folds(rows, n_splits):
        held = set(test.tolist())
        train = [r for i, r in enumerate(rows) if i not in held]
        model = fit_model(train, features, {})
        threshold = choose_threshold(train, probabilities(model, train), target)
        thresholds.append(round(threshold, 4))
        test_rows = [rows[i] for i in test]
        answered[test] = answered_at(probabilities(model, test_rows), threshold)
    return {"thresholds": thresholds} | figures(rows, answered)


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with every float rounded (for JSON and printing)."""
    if isinstance(value, float):
        return value if math.isnan(value) else round(value, digits)
    if isinstance(value, Mapping):
        return {str(k): rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def describe(found: Mapping[str, Any]) -> str:
    """Per-source figures as text lines."""
    lines = [f"  {'source':<16} {'refused':>8} {'right':>7} {'answered':>9} {'mix acc':>8} {'refuse n':>9} {'answer n':>9}"]
    for name, s in found["sources"].items():
        lines.append(f"  {name:<16} {s['refused']:>8.3f} {s['right']:>7.3f} {s['answered']:>9.3f} "
                     f"{s['mix_accuracy']:>8.3f} {s['must_refuse']:>9d} {s['answerable']:>9d}")
    lines.append(f"  mean equal-mix accuracy over sources: {found['mean_mix_accuracy']:.4f}")
    seeds = ", ".join(f"{k}: {v:.3f}" for k, v in found["seed_refused"].items())
    lines.append(f"  leave-out refused by seed: {seeds or '-'} (worst {found['worst_seed_refused']:.3f})")
    return "\n".join(lines)
