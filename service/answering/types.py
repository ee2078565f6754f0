"""Answer types and the composer interface shared by the extractive and LLM composers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from indexer.types import Hit, Report

NOT_FOUND = "资料中未找到"
# The reply to a question that names nothing to look for (「？」, 「什么？」, emoji only).
NO_CONTENT = "请输入一个具体的问题：说明要查的人、事、地点或数字，我再从资料中查找。"


@dataclass(frozen=True)
class Citation:
    """One cited span: ``reports[doc_id].text[start:end] == quote``."""

    n: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    supported: bool = True
    page: int | None = None  # 1-based page of ``start`` in a paged original (PDF), else None
    ocr_confidence: float | None = None  # the quote was read by OCR: the recogniser's score


@dataclass(frozen=True)
class CuratedRef:
    """The curated answer (FAQ) an answer is: which one, how close the question was to it."""

    id: str
    question: str
    similarity: float
    source: str = ""  # the report it comes from (doc_id), if staff named one


# What an answer is: one fact; one cited part per report that states the asked thing (a question
# about several reports: 哪些街道…); both sides of a comparison; or a refusal (nothing answers it).
AnswerKind = Literal["fact", "list", "comparison", "refusal"]
# The reply when the request's filters leave no report to answer from.
FILTERED_OUT = "所选筛选条件下没有任何报告，无法从中查找。去掉筛选后可在全部报告中查找。"


@dataclass(frozen=True)
class Group:
    """One report's part of a list or comparison answer: the report, the places it is about, and
    the ``n`` of the answer's citations that quote it."""

    doc_id: str
    title: str
    places: tuple[str, ...]
    citations: tuple[int, ...]


@dataclass(frozen=True)
class Answer:
    """A composed answer. Each sentence of ``text`` ends with one or more ``[n]`` markers that
    refer to ``citations``; ``passages`` are the retrieved hits it was composed from."""

    text: str
    answerable: bool
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    composer: str = "extractive"
    warnings: tuple[str, ...] = ()
    # P(the answer text holds the right answer), from the fitted answerability model; None when
    # no model judged it (LLM answers, questions without content)
    confidence: float | None = None
    curated: CuratedRef | None = None  # a curated answer (FAQ), composer "curated"
    # "fact", "list" or "comparison"; a refusal is any answer that is not ``answerable``
    kind: Literal["fact", "list", "comparison"] = "fact"
    groups: tuple[Group, ...] = ()  # list and comparison answers: one per report quoted
    # places the (resolved) question names: shown as the chat's automatic chips, never a filter
    question_places: tuple[str, ...] = ()
    filtered_out: bool = False  # the request's filters selected no report at all

    @property
    def answer_kind(self) -> AnswerKind:
        return self.kind if self.answerable else "refusal"


class Composer(Protocol):
    """Turns a question and its retrieved passages into a cited answer."""

    name: str

    def compose(
        self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]
    ) -> Answer: ...
