"""Answerability on an equal mix of answerable and unanswerable questions, split by article.

For a BEIR set whose queries mark some ``impossible`` (SQuAD 2.0 style: written against a passage
to sound answerable from it while it does not hold the answer):

* **Articles.** A question's article is the title of its passage (``passage``, else its gold
  passage); a passage without a title is its own article. This is the "document" of
  ``eval.leaveout``; in squad2-zh each title is one ``aNN`` article (18 titles, 18 ids).
* **The article split** is fixed: the sorted article keys, shuffled with
  ``ARTICLE_SPLIT_SEED``; the first half (rounded down) is ``fit``, the rest ``report``. Fitting
  (issue 31) may use ``fit`` only; figures are reported on ``report``. It does not depend on any
  option, so every run and every fit agree on it; questions of one passage never straddle it.
* **The equal mix**: within the chosen articles the larger class is sampled down (seeded, by
  ``--seed``) to the size of the smaller, or both to ``per_class``; file order is kept.
* **Figures** (``mix_metrics``): refused-unanswerable, gold-in-answer of the answerable, and
  their mean, the accuracy on the equal mix; plus the risk–coverage sweep of the answerability
  threshold (``sweep``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from eval.data import EvalDataError, EvalQuery, EvalSet, contains_any
from eval.runner import QueryOutcome
from eval.types import AnswerView
from indexer.types import Report

Half = Literal["fit", "report"]
HALVES: tuple[Half, ...] = ("fit", "report")
# Fixed once (issue 31) so that fitting and reporting always see the same halves; changing it
# would silently move reported articles into the fitting data.
ARTICLE_SPLIT_SEED = 31


def article_keys(reports: Iterable[Report]) -> dict[str, str]:
    """``{passage id: article key}``: the passage's title, or the passage itself without one."""
    return {r.doc_id: (r.title.strip() or r.doc_id) for r in reports}


def query_article(query: EvalQuery, articles: Mapping[str, str]) -> str:
    """The article ``query`` belongs to: that of its ``passage``, else of its gold passages (all
    in one article). EvalDataError when neither names a passage of the corpus."""
    passages = [query.passage] if query.passage else sorted(query.gold_docs)
    found = {articles[p] for p in passages if p in articles}
    if len(found) != 1:
        raise EvalDataError(
            f"question {query.qid}: cannot tell its article (passage {query.passage!r}, gold "
            f"{sorted(query.gold_docs)}); an impossible question needs a 'passage' of the corpus"
        )
    return found.pop()


def split_articles(keys: Iterable[str], seed: int = ARTICLE_SPLIT_SEED) -> dict[Half, frozenset[str]]:
    """The fixed split of article keys into ``fit`` (the first half, rounded down, of the sorted
    keys shuffled with ``seed``) and ``report`` (the rest)."""
    ordered = sorted(set(keys))
    random.Random(seed).shuffle(ordered)
    half = len(ordered) // 2
    return {"fit": frozenset(ordered[:half]), "report": frozenset(ordered[half:])}


def equal_mix(
    queries: Sequence[EvalQuery], seed: int, per_class: int | None = None
) -> tuple[EvalQuery, ...]:
    """As many answerable as unanswerable questions: each class sampled (``seed``) down to the
    smaller class's size, or to ``per_class`` if that is smaller; the kept ones in input order."""
    answerable = [q for q in queries if q.answerable]
    unanswerable = [q for q in queries if not q.answerable]
    n = min(len(answerable), len(unanswerable))
    if per_class is not None:
        n = min(n, per_class)
    rng = random.Random(seed)
    kept = {q.qid for q in rng.sample(answerable, n)} | {q.qid for q in rng.sample(unanswerable, n)}
    return tuple(q for q in queries if q.qid in kept)


@dataclass(frozen=True)
class MixSelection:
    """What ``select`` kept: the half, its articles and the class counts before and after."""

    half: Half | None
    articles: tuple[str, ...]
    seed: int
    per_class: int | None
    available: Mapping[str, int]  # answerable / unanswerable questions of the chosen articles
    kept: Mapping[str, int]

    def describe(self) -> dict[str, object]:
        return {
            "articles": self.half or "all",
            "article_split_seed": ARTICLE_SPLIT_SEED,
            "article_keys": list(self.articles),
            "mix_seed": self.seed,
            "per_class": self.per_class,
            "available": dict(self.available),
            "kept": dict(self.kept),
        }


def _counts(queries: Iterable[EvalQuery]) -> dict[str, int]:
    qs = list(queries)
    answerable = sum(q.answerable for q in qs)
    return {"answerable": answerable, "unanswerable": len(qs) - answerable}


def select(
    eval_set: EvalSet,
    reports: Sequence[Report],
    half: Half | None,
    *,
    seed: int,
    per_class: int | None = None,
) -> tuple[EvalSet, MixSelection]:
    """The set's questions of the ``half`` articles (all with None), as an equal mix."""
    articles = article_keys(reports)
    split = split_articles(articles.values())
    chosen = split[half] if half is not None else frozenset(articles.values())
    queries = [q for q in eval_set.queries if query_article(q, articles) in chosen]
    available = _counts(queries)
    if not available["answerable"] or not available["unanswerable"]:
        raise EvalDataError(
            f"{eval_set.source}: an equal mix needs answerable and unanswerable questions; the "
            f"chosen articles have {available['answerable']} and {available['unanswerable']}"
        )
    mixed = equal_mix(queries, seed, per_class)
    selection = MixSelection(half, tuple(sorted(chosen)), seed, per_class, available, _counts(mixed))
    return replace(eval_set, queries=mixed), selection


# -- figures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One question for the threshold sweep: whether it is answerable, the confidence of the
    answer the composer gives when no threshold refuses it (None: no answer at any threshold),
    and whether that answer's text holds a gold span (always False for an unanswerable one)."""

    answerable: bool
    confidence: float | None
    correct: bool

    def answered(self, threshold: float) -> bool:
        # as ``AnswerabilityModel.answerable``: an answer at or above the threshold is given
        return self.confidence is not None and self.confidence >= threshold


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def mix_metrics(answered: Sequence[tuple[bool, bool, bool]]) -> dict[str, float | None]:
    """Figures of one operating point from ``(answerable, answered, correct)`` per question:

    - ``refused_unanswerable``: unanswerable questions refused / unanswerable questions;
    - ``gold_in_answer``: answerable questions answered with a gold span in the answer text
      (``correct``) / answerable questions;
    - ``mix_accuracy``: the mean of the two — on an equal mix, the share of questions handled
      right (an unanswerable one refused, an answerable one answered with its gold);
    - ``coverage``: questions answered / questions; ``risk``: answers without a gold span (every
      answer to an unanswerable question) / answers.
    """
    unanswerable = [a for ok, a, _ in answered if not ok]
    answerable = [c and a for ok, a, c in answered if ok]
    given = [(ok, c) for ok, a, c in answered if a]
    refused = _share(sum(not a for a in unanswerable), len(unanswerable))
    gold = _share(sum(answerable), len(answerable))
    return {
        "refused_unanswerable": refused,
        "gold_in_answer": gold,
        "mix_accuracy": (refused + gold) / 2 if refused is not None and gold is not None else None,
        "coverage": _share(len(given), len(answered)),
        "risk": _share(sum(not (ok and c) for ok, c in given), len(given)),
    }


def at_threshold(scored: Sequence[Scored], threshold: float) -> dict[str, float | None]:
    """``mix_metrics`` with every answer below ``threshold`` refused."""
    return {"threshold": threshold} | mix_metrics(
        [(s.answerable, s.answered(threshold), s.correct) for s in scored]
    )


def sweep(scored: Sequence[Scored]) -> list[dict[str, float | None]]:
    """The risk–coverage curve: ``at_threshold`` at 0 and at every distinct confidence, so every
    operating point the threshold can reach is a point (coverage falls as the threshold rises)."""
    thresholds = sorted({0.0, *(s.confidence for s in scored if s.confidence is not None)})
    return [at_threshold(scored, t) for t in thresholds]


def scored_outcomes(
    outcomes: Sequence[QueryOutcome], reask: Callable[[str], AnswerView]
) -> list[Scored] | None:
    """The sweep's view of a run's answers. An answer given keeps its confidence and verdict; a
    refusal that carries a confidence (the threshold refused it) is asked again through
    ``reask`` — the same path with the threshold at 0 — to learn what it would have said; a
    refusal without one (no candidate sentence) is never answered. None when an answer given
    carries no confidence (no answerability model: there is no threshold to sweep)."""
    scored: list[Scored] = []
    for o in outcomes:
        if o.answer is None or o.verdict is None:
            continue
        q, answer = o.query, o.answer
        if answer.answerable:
            if answer.confidence is None:
                return None
            scored.append(Scored(q.answerable, answer.confidence, o.verdict.correct))
        elif answer.confidence is None:
            scored.append(Scored(q.answerable, None, False))
        else:
            opened = reask(q.text)
            correct = bool(q.answerable and opened.answerable and q.answers and contains_any(opened.text, q.answers))
            scored.append(Scored(q.answerable, opened.confidence if opened.answerable else None, correct))
    return scored


def operating_point(outcomes: Sequence[QueryOutcome]) -> dict[str, float | None]:
    """``mix_metrics`` of the answers as the run gave them (the service's own threshold)."""
    return mix_metrics([
        (o.query.answerable, o.verdict.answered, o.verdict.correct)
        for o in outcomes if o.verdict is not None
    ])
