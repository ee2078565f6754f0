"""Every tuned number of answering: which sentences the extractive composer quotes and when it
refuses (:class:`AnswerConfig`), and when an LLM sentence counts as supported
(:class:`ValidationConfig`), added to retrieval's (``indexer.retrieval.scoring``) in one
:class:`ScoringConfig`; ``DEFAULT`` is what the service runs. How each number was chosen: see
``indexer.retrieval.scoring``.

``zhiwen eval --system name=section.field:value`` (or a field name alone, when it is unique)
overrides any field of it for one system: ``--system w5=fusion.dense_weight:0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.retrieval.scoring import RetrievalConfig


@dataclass(frozen=True)
class AnswerConfig:
    """Which sentences the extractive composer quotes, and when it refuses."""

    # Without an answerability model (``service.answering.answerability``, which decides refusals
    # when present): refuse when none of the best ``refusal_window`` sentences covers this share of
    # the question's non-anchor focus terms. Also the least coverage a typed sentence needs to be
    # preferred. Dev-fitted (the first version): the midpoint between the dev set's highest
    # unanswerable (0.21) and lowest answered (0.46).
    min_coverage: float = 0.38
    # Sentences whose best coverage is the model's ``coverage`` feature. Hand-set.
    refusal_window: int = 3
    # At most this many quoted sentences, all from the best sentence's report (hand-set) ...
    max_sentences: int = 3
    # ... each scoring at least this share of the best one's score (TRIAL+dev) ...
    keep_ratio: float = 0.85
    # ... or this share when it follows the best sentence directly, which often completes it
    # (TRIAL+dev);
    next_sentence_ratio: float = 0.6
    # "directly": starting at most this many characters after the best sentence ends (hand-set).
    next_sentence_gap: int = 3
    # Weight of sentence meaning (cosine) in choosing sentences, adapted to keyword confidence
    # with ``confidence_tau`` like the fusion's dense weight. TRIAL+dev.
    semantic_weight: float = 0.3
    confidence_tau: float = 0.4


@dataclass(frozen=True)
class ValidationConfig:
    """When an LLM answer sentence counts as supported by the passage it cites. Hand-set on the
    scripted LLM replies of tests/answering (no LLM runs here to fit them on)."""

    # Share of the sentence's key terms (bigrams, Latin words, numbers) found in the passages
    # it cites: a fluent paraphrase keeps well over half, an invented claim shares few.
    min_coverage: float = 0.5
    # A sentence with fewer key terms says nothing checkable (「我是猫。」) and is unsupported.
    min_key_terms: int = 2
    # With several markers, a passage covering less than this share of the sentence's key terms
    # and none of its numbers is not one of its sources (common words such as 街道 alone).
    min_marker_coverage: float = 0.2


@dataclass(frozen=True)
class ScoringConfig(RetrievalConfig):
    """Retrieval's numbers and answering's: the whole configuration one system runs with."""

    answer: AnswerConfig = field(default_factory=AnswerConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)


DEFAULT = ScoringConfig()


def field_names() -> list[str]:
    """Every overridable field as ``section.field``."""
    return ScoringConfig.field_names()
