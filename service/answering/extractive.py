"""Extractive answers: quote the sentences of the retrieved passages that answer the question.

Sentences are scored by ``indexer.evidence`` (focus-term coverage, bigram overlap, answer type,
retrieval rank, meaning). Abstention: the question is refused ("资料中未找到…") when none of the
three best sentences covers ``min_coverage`` of the non-anchor focus terms — what the question asks
*about* is not in the passages even if its place is. The threshold is the midpoint between the dev
set's highest unanswerable and lowest correctly answered coverage (README "How answers are made").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from indexer.evidence import Candidate, QuestionInfo, analyse_question, score_candidates
from indexer.search import adaptive_weight
from indexer.tokenize import Tokenizer
from indexer.types import Hit, Report
from service.answering.types import NOT_FOUND, Answer, Citation

log = logging.getLogger(__name__)

_WS = re.compile(r"\s+")
# A sentence right after the best one often carries the answer to the setup the best one
# matches ("康直病死后康忠做了什么" → the next sentence); it may join at a lower score.
NEXT_SENTENCE_RATIO = 0.6
SEMANTIC_WEIGHT = 0.3
CONFIDENCE_TAU = 0.4


class ExtractiveComposer:
    """The default composer: one to three source sentences, each with its citation."""

    name = "extractive"

    @classmethod
    def for_index(cls, searcher: Any, **options: Any) -> ExtractiveComposer:
        """A composer that shares the index's tokenizer (user words) and term statistics."""
        keyword = searcher.keyword
        return cls(keyword.tokenizer, idf=keyword.idf, confidence=searcher.keyword_confidence, **options)

    def __init__(
        self,
        tokenizer: Tokenizer | None = None,
        *,
        idf: Callable[[str], float] | None = None,
        confidence: Callable[[str], float] | None = None,
        min_coverage: float = 0.38,
        max_sentences: int = 3,
        keep_ratio: float = 0.85,
        semantic_weight: float = SEMANTIC_WEIGHT,
    ) -> None:
        self.tokenizer = tokenizer or Tokenizer()
        self.idf = idf
        self.confidence = confidence
        self.min_coverage = min_coverage
        self.max_sentences = max_sentences
        self.keep_ratio = keep_ratio
        self.semantic_weight = semantic_weight

    def candidates(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> list[Candidate]:
        info = analyse_question(question, self.tokenizer, self.idf)
        weight = self.semantic_weight
        if self.confidence is not None:
            weight = adaptive_weight(weight, self.confidence(question), CONFIDENCE_TAU)
        return score_candidates(info, hits, reports, weight)

    def compose(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Answer:
        info = analyse_question(question, self.tokenizer, self.idf)
        ranked = self.candidates(question, hits, reports)
        # Answerable when any of the leading sentences covers what the question is about.
        if not ranked or max(c.coverage for c in ranked[:3]) < self.min_coverage:
            return not_found(hits)
        best = ranked[0]
        chosen = [best]
        # Further sentences only from the same report, close in score (or right after the best
        # one), and at most max_sentences in all.
        best_end = best.sentence.end
        for cand in ranked[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if cand.hit.chunk.doc_id != best.hit.chunk.doc_id:
                continue
            follows = 0 <= cand.sentence.start - best_end <= 3
            ratio = NEXT_SENTENCE_RATIO if follows else self.keep_ratio
            if cand.score >= best.score * ratio:
                chosen.append(cand)
        chosen.sort(key=lambda c: (c.hit.chunk.doc_id, c.sentence.start))
        citations: list[Citation] = []
        parts: list[str] = []
        for cand in chosen:
            report = reports.get(cand.hit.chunk.doc_id)
            if report is None:
                continue
            n = len(citations) + 1
            s = cand.sentence
            citations.append(Citation(n, report.doc_id, report.title, report.text[s.start : s.end], s.start, s.end))
            parts.append(_clean_sentence(s.text) + f"[{n}]")
        if not citations:
            return not_found(hits)
        prefix = _place_prefix(info, chosen[0], reports)
        return Answer(prefix + "".join(parts), True, tuple(citations), tuple(hits))


def _clean_sentence(text: str) -> str:
    text = _WS.sub("", text) if re.search(r"[\u4e00-\u9fff]", text) else text.strip()
    return text.lstrip("-▶•·") or text


def _place_prefix(info: QuestionInfo, cand: Candidate, reports: Mapping[str, Report]) -> str:
    """For "哪个街道…" questions whose sentence only says "街道", name the place from the report."""
    if info.wants != "place" or not info.place_kind:
        return ""
    if re.search(rf"[\u4e00-\u9fff]{{2,6}}{info.place_kind}", cand.sentence.text.replace("该" + info.place_kind, "")):
        return ""
    report = reports.get(cand.hit.chunk.doc_id)
    if report is None:
        return ""
    names = [str(p) for p in report.meta.get("places", []) if str(p).endswith(info.place_kind)]
    if not names:
        found = re.findall(rf"[\u4e00-\u9fff]{{2,4}}{info.place_kind}", report.title)
        names = found
    return f"{names[0]}：" if names else ""


def not_found(hits: Sequence[Hit]) -> Answer:
    text = f"{NOT_FOUND}能直接回答该问题的内容。以下是最接近的段落，供参考。"
    return Answer(text, False, (), tuple(hits))
