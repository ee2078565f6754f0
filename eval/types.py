"""Backend-neutral values the evaluation passes around: what was retrieved, what was answered,
and how each was judged. In-process hits and HTTP responses are both turned into these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from service.answering.types import Citation


@dataclass(frozen=True)
class Retrieved:
    """One retrieved chunk at ``rank`` (1-based) in a system's result list."""

    rank: int
    doc_id: str
    chunk_id: str
    text: str
    title: str = ""
    score: float = 0.0


@dataclass(frozen=True)
class AnswerView:
    """What an answer is judged on: its text, whether it answered, and its citations."""

    text: str
    answerable: bool
    citations: tuple[Citation, ...] = ()
    confidence: float | None = None  # the answerability model's, when it judged the answer


@dataclass(frozen=True)
class Judgement:
    """A query's ranking as ranx sees it.

    ``ranking`` lists the ids to score in rank order (chunk ids for QA sets, with every passage
    that carries the gold evidence merged into one ``EVIDENCE_ID`` item; document ids for BEIR
    sets after max-passage collapse); ``qrels`` are the relevant ids with their grades.
    ``relevant`` flags each retrieved chunk; ``first_rank`` is the 1-based rank of the first
    relevant item in ``ranking`` (None when none was retrieved).
    """

    ranking: tuple[str, ...]
    qrels: Mapping[str, int]
    relevant: tuple[bool, ...]
    first_rank: int | None


@dataclass(frozen=True)
class AnswerVerdict:
    """How one answer was judged.

    ``answerable``: the gold says the corpus answers it; ``judgeable``: it has gold answers to
    compare with; ``answered``: the system did not refuse; ``correct``: answered and a gold answer
    occurs in the answer text; ``correct_with_titles``: … or in a cited report's title (the
    lenient figure, reported beside the strict one, never gated on). Citation counts: all citations, those
    whose quote equals the report text at [start:end] (``exact``), and those that are exact and,
    for QA sets, come from the gold report (``supported``).
    """

    answerable: bool
    judgeable: bool
    answered: bool
    correct: bool
    citations: int = 0
    exact: int = 0
    supported: int = 0
    problems: tuple[str, ...] = field(default=())
    correct_with_titles: bool = False
