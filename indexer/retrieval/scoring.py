"""Every tuned number of retrieval, in one typed, frozen configuration that answering extends with
its own (``service.answering.config``).

Retrieval (``indexer.retrieval.search``) and sentence evidence (``indexer.retrieval.evidence``)
read their numbers from here and nowhere else; answer selection and refusal and the LLM answer
checks read theirs from ``service.answering.config``. Each field says how it was chosen and on what data:
"TRIAL" is the CMRC 2018 TRIAL split; "TRIAL+dev" marks numbers the first version chose on TRIAL and
the 25 dev questions together (README "Why this fusion"), which are due to be refitted on TRIAL
alone; "hand-set" numbers were never tuned. CMRC DEV is never used to choose anything.

``zhiwen eval --system name=section.field:value`` (or a field name alone, when it is unique)
overrides any field for one system: ``--system w5=fusion.dense_weight:0.5``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

Fusion = Literal["weighted", "rrf"]


@dataclass(frozen=True)
class FusionConfig:
    """How BM25 and dense candidates become one ranking (README "Why this fusion")."""

    # "weighted": max-normalised BM25 and min-max cosine, convexly combined; "rrf" for comparison.
    method: Fusion = "weighted"
    # Dense share when keyword evidence is solid. TRIAL+dev.
    dense_weight: float = 0.4
    # Keyword confidence (top BM25 / sum of query-term IDFs) below which the dense share rises
    # linearly towards 1. TRIAL+dev.
    confidence_tau: float = 0.4
    # Candidates taken from each retriever before fusion. Hand-set (well past top_k ≤ 50).
    candidates: int = 100
    # RRF's constant, from Cormack, Clarke and Büttcher (2009); used only by method="rrf".
    rrf_k: int = 60


@dataclass(frozen=True)
class RerankConfig:
    """Answer-aware reranking of the fused top hits by their best sentence's evidence."""

    enabled: bool = True
    # Share of the fused score in the final one (the rest is evidence). TRIAL+dev.
    alpha: float = 0.3
    # How many fused hits are reordered. Hand-set.
    depth: int = 20
    # Weight of the query-sentence cosine in evidence, before the keyword-confidence adaptation.
    # TRIAL+dev.
    semantic_weight: float = 0.3


@dataclass(frozen=True)
class EvidenceConfig:
    """How one sentence is scored as evidence for a question (``indexer.retrieval.evidence``). All
    TRIAL+dev, set by hand and checked on retrieval and answer figures; the two shares sum to 1
    and the bonuses are added on top."""

    # Share of IDF-weighted focus-term coverage in a sentence's score.
    coverage_weight: float = 0.55
    # Share of question-bigram overlap (credits partial and paraphrased wording).
    overlap_weight: float = 0.45
    # Bigrams supplied by the report's title/places count at this discount.
    context_credit: float = 0.8
    # Bonus when the sentence carries the asked type: a number for 多少, a person for 谁.
    type_bonus: float = 0.15
    # ... a quoted name for 叫什么/什么品牌.
    name_bonus: float = 0.10
    # ... a place name for 哪个街道.
    place_bonus: float = 0.05
    # The asked noun (哪个平台 → 平台) appears with a name or number right before it / at all.
    slot_filled_bonus: float = 0.12
    slot_noun_bonus: float = 0.04
    # Retrieval prior: prior / (1 + rank) for a sentence of the hit at ``rank``.
    rank_prior: float = 0.06
    # A sentence no longer than this share of the question only restates it (a heading) ...
    restated_length: float = 0.8
    # ... and its score is multiplied by this.
    restated_factor: float = 0.85
    # Photo captions score at this share, so running text wins when both say the same.
    caption_weight: float = 0.75


@dataclass(frozen=True)
class RetrievalConfig:
    """Retrieval's numbers; answering extends it with its own
    (``service.answering.config.ScoringConfig``), and ``DEFAULT`` there is what the service runs."""

    fusion: FusionConfig = field(default_factory=FusionConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Self:
        """A copy with ``{"section.field": value}`` (or a unique bare ``field``) replaced.
        Unknown names and values of the wrong type raise ``ValueError`` naming them."""
        sections: dict[str, dict[str, Any]] = {}
        for name, value in overrides.items():
            section, key = _locate(name, self.field_names())
            sections.setdefault(section, {})[key] = _coerce(name, getattr(getattr(self, section), key), value)
        changed = {
            section: dataclasses.replace(getattr(self, section), **values)
            for section, values in sections.items()
        }
        return dataclasses.replace(self, **changed)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        """Every overridable field as ``section.field``."""
        default = cls()
        return [f"{section.name}.{f.name}" for section in dataclasses.fields(cls)
                for f in dataclasses.fields(getattr(default, section.name))]


DEFAULT = RetrievalConfig()


def _locate(name: str, names: list[str]) -> tuple[str, str]:
    if name in names:
        section, _, key = name.partition(".")
        return section, key
    matches = [n for n in names if n.endswith("." + name)]
    if len(matches) == 1:
        section, _, key = matches[0].partition(".")
        return section, key
    if matches:
        raise ValueError(f"scoring field {name!r} is ambiguous: say one of {', '.join(matches)}")
    raise ValueError(f"unknown scoring field {name!r}; fields are {', '.join(names)}")


def _coerce(name: str, current: Any, value: Any) -> Any:
    """``value`` as the type of the field's current value (bool, int, float or str)."""
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"true", "false"}:
            return str(value).lower() == "true"
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(current, str):
        return str(value)
    raise ValueError(f"scoring field {name!r} takes a {type(current).__name__}, not {value!r}")
