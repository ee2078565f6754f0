"""Outputs of an equal-mix answerability run (``eval.mix``): a markdown section, ``answerability.json``
(figures, selection, every point of the threshold sweep) and ``answerability_sweep.png``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.mix import ARTICLE_SPLIT_SEED, MixSelection, Scored, at_threshold, sweep
from eval.report import fmt, markdown_table

log = logging.getLogger(__name__)

# Thresholds at which the report prints the sweep (every point is in answerability.json).
REPORT_THRESHOLDS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("refused_unanswerable", "Refused unanswerable"),
    ("gold_in_answer", "Gold in answer"),
    ("mix_accuracy", "Equal-mix accuracy"),
    ("coverage", "Coverage"),
    ("risk", "Risk"),
)


@dataclass(frozen=True)
class MixResult:
    """An equal-mix run's figures: at the service's own decisions (``operating``, from the answers
    as given), and swept over the threshold (``curve``; None without an answerability model)."""

    selection: MixSelection
    system: str
    threshold: float | None  # the answerability model's threshold (the service's operating point)
    model: str
    operating: Mapping[str, float | None]
    scored: Sequence[Scored] | None

    @property
    def curve(self) -> list[dict[str, float | None]] | None:
        return sweep(self.scored) if self.scored is not None else None

    def best(self) -> dict[str, float | None] | None:
        """The sweep point of highest equal-mix accuracy: read off the same questions, so an
        in-sample figure — a threshold to fit on ``fit``, never to report on its own data."""
        curve = self.curve
        if not curve:
            return None
        return max(curve, key=lambda p: (p["mix_accuracy"] or 0.0, -(p["threshold"] or 0.0)))

    def document(self) -> dict[str, Any]:
        swept = None
        if self.scored is not None and self.threshold is not None:
            swept = at_threshold(self.scored, self.threshold)
        return {
            "selection": self.selection.describe(),
            "system": self.system,
            "model": self.model,
            "threshold": self.threshold,
            "operating_point": dict(self.operating),
            "operating_point_from_sweep": swept,
            "best_in_sample": self.best(),
            "curve": self.curve,
        }


def markdown_section(result: MixResult) -> str:
    sel = result.selection
    kept, avail = sel.kept, sel.available
    where = f"the `{sel.half}` articles" if sel.half else "all articles"
    lines = [
        f"## Answerability on an equal mix ({where})",
        "",
        f"{kept['answerable']} answerable + {kept['unanswerable']} unanswerable questions of {where} "
        f"({len(sel.articles)} articles; {avail['answerable']} answerable and "
        f"{avail['unanswerable']} unanswerable available; split seed {ARTICLE_SPLIT_SEED}, mix seed "
        f"{sel.seed}" + (f", at most {sel.per_class} per class" if sel.per_class else "") + "). "
        f"System {result.system}; answerability model {result.model}"
        + (f", threshold {result.threshold:.3f}." if result.threshold is not None else "."),
        "",
    ]
    rows = [[f"as served (threshold {fmt(result.threshold)})",
             *(fmt(result.operating.get(k)) for k, _ in COLUMNS)]]
    if result.scored is not None:
        for t in REPORT_THRESHOLDS:
            point = at_threshold(result.scored, t)
            rows.append([f"threshold {t:.1f}", *(fmt(point.get(k)) for k, _ in COLUMNS)])
        best = result.best()
        if best is not None:
            rows.append([f"best on this curve (in-sample), threshold {fmt(best['threshold'])}",
                         *(fmt(best.get(k)) for k, _ in COLUMNS)])
    lines.append(markdown_table(["Operating point", *(label for _, label in COLUMNS)], rows))
    lines += [
        "",
        "Refused unanswerable: share of the unanswerable questions refused. Gold in answer: share "
        "of the answerable questions answered with a gold span in the answer text (NFKC, "
        "whitespace removed). Equal-mix accuracy: their mean. Coverage: questions answered; risk: "
        "answers without a gold span. The sweep re-decides every answer at each threshold (a "
        "refusal the threshold made is asked again with the threshold at 0); refusals without a "
        "candidate sentence stay refused.",
        "",
    ]
    return "\n".join(lines)



def write_plot(result: MixResult, path: Path) -> bool:
    """Risk–coverage (left) and the two class figures against the threshold (right)."""
    curve = result.curve
    if not curve:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot([p["coverage"] for p in curve], [p["risk"] for p in curve], lw=1.5)
    op = result.operating
    left.scatter([op["coverage"]], [op["risk"]], color="C3", zorder=3, label="as served")
    left.set_xlabel("coverage (share of questions answered)")
    left.set_ylabel("risk (share of answers without gold)")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.grid(alpha=0.3)
    left.legend(loc="lower right", fontsize=8)
    ts = [p["threshold"] for p in curve]
    for key, label in (("refused_unanswerable", "refused unanswerable"),
                       ("gold_in_answer", "gold in answer"), ("mix_accuracy", "equal-mix accuracy")):
        right.plot(ts, [p[key] for p in curve], lw=1.3, label=label)
    if result.threshold is not None:
        right.axvline(result.threshold, color="C3", ls="--", lw=1, label="served threshold")
    right.set_xlabel("answerability threshold")
    right.set_ylim(0, 1)
    right.grid(alpha=0.3)
    right.legend(loc="lower left", fontsize=7)
    half = result.selection.half or "all"
    fig.suptitle(f"equal mix, {half} articles: {sum(result.selection.kept.values())} questions", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_mix_outputs(result: MixResult, out_dir: Path) -> dict[str, Path]:
    """``answerability.json``, ``answerability_sweep.png`` and the section appended to report.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"answerability": out_dir / "answerability.json"}
    doc = result.document()
    swept, op = doc["operating_point_from_sweep"], doc["operating_point"]
    if swept is not None and any(swept[k] != op[k] for k in op):
        log.warning("the sweep at the served threshold (%s) differs from the answers as served (%s)",
                    swept, op)
    paths["answerability"].write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    plot = out_dir / "answerability_sweep.png"
    if write_plot(result, plot):
        paths["plot"] = plot
    with (out_dir / "report.md").open("a", encoding="utf-8") as f:
        f.write("\n" + markdown_section(result))
    return paths
