"""The prompt an LLM answers from: the hits numbered as passages, rendered through the templates
in ``prompts/`` (system prompt, then the delimited passages and the question)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from indexer.types import Hit, Report
from prompts import render_prompt
from service.answering.types import NOT_FOUND
from service.answering.validate import Passage, passage_fields

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptPassage:
    """A passage as the user prompt shows it: number, report title, date, places and text."""

    n: int
    title: str
    date: str
    places: str
    text: str


def numbered_passages(hits: Sequence[Hit], reports: Mapping[str, Report]) -> list[Passage]:
    """Number the hits 1..k for the prompt, skipping any whose report is unknown."""
    passages: list[Passage] = []
    for hit in hits:
        report = reports.get(hit.chunk.doc_id)
        if report is None:
            logger.warning(
                "no report %r for chunk %s; left out of the prompt",
                hit.chunk.doc_id,
                hit.chunk.chunk_id,
            )
            continue
        passages.append(Passage(len(passages) + 1, hit.chunk, report))
    return passages


def prompt_passages(passages: Sequence[Passage]) -> list[PromptPassage]:
    """What the user template renders for each passage."""
    result: list[PromptPassage] = []
    for p in passages:
        title, date, places = passage_fields(p.chunk, p.report)
        result.append(PromptPassage(p.n, title, date, places, p.chunk.clean_text))
    return result


def build_messages(question: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    """The chat messages for ``question`` over ``passages``: the system prompt, then the user
    prompt holding the delimited passages and the question."""
    system = render_prompt("system.zh", not_found=NOT_FOUND)
    user = render_prompt(
        "user.zh", question=question, passages=prompt_passages(passages), not_found=NOT_FOUND
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
