"""Answerability: how likely the answer the extractive composer would give is right.

One threshold on one score (the old refusal rule: "the best sentences cover 0.38 of the question")
was fitted to the 25 dev questions and does not carry over. Instead every candidate answer is
described by a few features that say *why* it might be wrong —

* the question's words are not there: ``coverage`` (focus terms of the best sentences),
  ``passage_terms`` and ``rarest_found`` (its rarest term, usually the thing it is about, in the
  passage or the report's title), ``passage_bigrams``;
* the match is weak overall: ``keyword_confidence`` (top BM25 over its bound), ``evidence`` (the
  best sentence's score), ``sentence_cosine`` and ``passage_cosine`` (meaning, from the index's
  vectors);
* the answer lacks what was asked: ``type_missing`` (a 多少 question answered without a new number);
* nothing stands out: ``cosine_margin`` (the answer passage's cosine over the median of the other
  reports' passages) and ``evidence_margin`` (its best sentence's score over the best sentence of
  any other report). Margins are relative to the other candidates, so unlike raw cosines they
  carry over between corpora whose passages score on different scales;
* the topic is there but the fact is not: the fact features of ``service.answering.fact_features``
  (question terms round the lead sentence rather than scattered over the passage, its rarest term
  in the lead sentence, quoted literals missing, an unmatched negation, the asked relation's key
  word);

and a logistic regression (:class:`AnswerabilityModel`, a handful of numbers in
``answerability.json`` beside this module) turns them into the probability that the answer text
holds the right answer. Logistic regression because the features are few, roughly monotone and
already on comparable scales, its output is a calibrated probability (the ``confidence`` of
``/v1/ask``), and its coefficients can be read and checked; it needs no library at run time.

It is fitted by ``zhiwen fit-answerability`` (``eval.fit``; the command is in the file's
``fitted.command``) on three sources weighted equally: CMRC 2018 TRIAL with whole articles left out
of the index, CMRC TRIAL with the answer sentences removed from some passages, and the squad2-zh
``fit`` articles; the refusal threshold keeps ≥ 0.9 of the left-out questions refused on every
seed and maximises the mean equal-mix accuracy over the sources. CMRC DEV, the dev questions and
the squad2-zh ``report`` articles are never used to fit or choose anything.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.answering.fact_features import FACT_FEATURES, rarest_found, term_share

__all__ = [
    "BASE_FEATURES", "COMPUTED_FEATURES", "FEATURES", "MODEL_PATH", "AnswerabilityModel", "ModelError", "load_model",
    "packaged_model", "rarest_found", "term_share",
]

MODEL_PATH = Path(__file__).with_name("answerability.json")
FORMAT_VERSION = 1

BASE_FEATURES: tuple[str, ...] = (
    "coverage",
    "passage_terms",
    "rarest_found",
    "passage_bigrams",
    "keyword_confidence",
    "evidence",
    "sentence_cosine",
    "passage_cosine",
    "type_missing",
    "cosine_margin",
    "evidence_margin",
)
# every feature ``service.answering.extractive`` computes: a model file may use any of them
COMPUTED_FEATURES: tuple[str, ...] = BASE_FEATURES + FACT_FEATURES + ("slot_missing",)
# what the packaged model is fitted on. The fact features raise the out-of-fold mean equal-mix
# accuracy over the fitting sources only from 0.694 to 0.704 (rows at 68f0993), and a model with them answers one of
# the two unanswerable dev questions (issue 31: 「…有多少名在编公务员」, the asked slot missing),
# so the packaged model keeps the topic features until the slot check (item 1) is there to refit
# with: `zhiwen fit-answerability --cv --features base|fact|slot` compares them.
FEATURES: tuple[str, ...] = BASE_FEATURES


class ModelError(ValueError):
    """The answerability file is missing, of another version, or does not match the features."""


@dataclass(frozen=True)
class AnswerabilityModel:
    """Standardised logistic regression: P(right) = σ(b + Σ wᵢ (xᵢ − μᵢ) / σᵢ)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    # answers below this probability are refused (chosen on TRIAL's risk–coverage curve)
    threshold: float
    # how it was fitted: data, command, figures on the fitting data
    fitted: Mapping[str, Any]

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ModelError("answerability model: features, mean, scale and coef differ in length")
        if any(s <= 0 for s in self.scale):
            raise ModelError("answerability model: every scale must be positive")
        if not 0.0 <= self.threshold <= 1.0:
            raise ModelError(f"answerability model: threshold {self.threshold} is not a probability")

    def probability(self, values: Mapping[str, float]) -> float:
        missing = [f for f in self.features if f not in values]
        if missing:
            raise ModelError(f"answerability model: features missing: {', '.join(missing)}")
        z = self.intercept + sum(
            w * (float(values[f]) - m) / s
            for f, m, s, w in zip(self.features, self.mean, self.scale, self.coef, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def answerable(self, probability: float) -> bool:
        return probability >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": "logistic_regression",
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "fitted": dict(self.fitted),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "answerability model") -> AnswerabilityModel:
        if data.get("format_version") != FORMAT_VERSION or data.get("kind") != "logistic_regression":
            raise ModelError(
                f"{source}: format {data.get('format_version')!r}/{data.get('kind')!r} is not "
                f"{FORMAT_VERSION}/logistic_regression; refit with `zhiwen eval fit-answerability`"
            )
        try:
            model = cls(
                features=tuple(str(f) for f in data["features"]),
                mean=tuple(float(x) for x in data["mean"]),
                scale=tuple(float(x) for x in data["scale"]),
                coef=tuple(float(x) for x in data["coef"]),
                intercept=float(data["intercept"]),
                threshold=float(data["threshold"]),
                fitted=dict(data.get("fitted") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: {exc}") from exc
        unknown = [f for f in model.features if f not in COMPUTED_FEATURES]
        if unknown:
            raise ModelError(
                f"{source}: fitted on features {', '.join(unknown)} this code does not compute (it "
                f"computes {', '.join(COMPUTED_FEATURES)}); refit with `zhiwen eval fit-answerability`"
            )
        return model

    def save(self, path: Path = MODEL_PATH) -> None:
        from indexer.durable import write_file_durably

        write_file_durably(path, (json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n").encode())


def load_model(path: Path = MODEL_PATH) -> AnswerabilityModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no answerability model; fit one with `zhiwen eval fit-answerability`") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: not a JSON object")
    return AnswerabilityModel.from_json(data, str(path))


@functools.cache
def packaged_model() -> AnswerabilityModel:
    """The model shipped beside this module, read once per process."""
    return load_model(MODEL_PATH)
