"""Extractive answers: quote the sentences of the retrieved passages that answer the question.

Sentences are scored by ``indexer.evidence`` (focus-term coverage, bigram overlap, answer type,
retrieval rank, meaning) with the numbers of ``indexer.scoring``. A question is refused
("资料中未找到…") when

* no sentence is about the things it names (places, quoted names, Latin-script terms must be in
  the sentence, its passage, or its report's title and places: ``service.answering.checks``);
* none of the leading sentences covers ``answer.min_coverage`` of its non-anchor focus terms —
  what it asks *about* is not in the passages even if its place is;
* (not a refusal) a leading sentence that carries the kind of answer it asks for (a new number for
  多少, a person for 谁, a date for 何时, a quoted name for 叫什么, a place for 哪个街道) is quoted
  before a better-scoring one that does not.

What an answer shows is what its citations quote (see :func:`shown`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from indexer.cleaning import clean_span
from indexer.evidence import Candidate, QuestionInfo, analyse_question, score_candidates
from indexer.scoring import DEFAULT, ScoringConfig
from indexer.search import adaptive_weight
from indexer.tokenize import Tokenizer
from indexer.types import Hit, Report
from service.answering.checks import entities_match, expected_type, question_entities, type_present
from service.answering.types import NOT_FOUND, Answer, Citation

log = logging.getLogger(__name__)



class ExtractiveComposer:
    """The default composer: one to three source sentences, each with its citation."""

    name = "extractive"

    @classmethod
    def for_index(cls, searcher: Any, scoring: ScoringConfig = DEFAULT) -> ExtractiveComposer:
        """A composer that shares the index's tokenizer (user words) and term statistics."""
        keyword = searcher.keyword
        return cls(
            keyword.tokenizer,
            idf=keyword.idf,
            confidence=searcher.keyword_confidence,
            scoring=scoring,
            known_places=searcher.places,
        )

    def __init__(
        self,
        tokenizer: Tokenizer | None = None,
        *,
        idf: Callable[[str], float] | None = None,
        confidence: Callable[[str], float] | None = None,
        scoring: ScoringConfig = DEFAULT,
        known_places: Iterable[str] = (),
    ) -> None:
        self.tokenizer = tokenizer or Tokenizer()
        self.idf = idf
        self.confidence = confidence
        self.scoring = scoring
        self.known_places: frozenset[str] = frozenset(known_places)

    def candidates(
        self,
        question: str,
        hits: Sequence[Hit],
        reports: Mapping[str, Report],
        info: QuestionInfo | None = None,
    ) -> list[Candidate]:
        info = info or analyse_question(question, self.tokenizer, self.idf)
        cfg = self.scoring.answer
        weight = cfg.semantic_weight
        if self.confidence is not None:
            weight = adaptive_weight(weight, self.confidence(question), cfg.confidence_tau)
        return score_candidates(info, hits, reports, weight, self.scoring.evidence)

    def compose(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Answer:
        cfg = self.scoring.answer
        info = analyse_question(question, self.tokenizer, self.idf)
        kind = expected_type(question)
        entities = question_entities(question, self.known_places)
        # Only passages about the things the question names can answer it (a sentence is part of
        # its passage, so one check per passage covers its sentences).
        about = {
            h.chunk.chunk_id for h in hits
            if entities_match(entities, h.chunk.clean_text, reports.get(h.chunk.doc_id))
        }
        ranked = [c for c in self.candidates(question, hits, reports, info) if c.hit.chunk.chunk_id in about]
        window = ranked[: cfg.refusal_window]
        # Answerable when a leading sentence covers what the question is about ...
        if not window or max(c.coverage for c in window) < cfg.min_coverage:
            return not_found(hits)
        # ... and the quoted sentences carry the kind of answer it asks for.
        # A how-question restates the problem, so the sentence that matches it best usually
        # states the problem; what was done follows it.
        follow = kind == "method"
        chosen = self._choose(ranked[0], ranked, follow=follow)
        place = _place_line(info, chosen[0], reports)
        quoted = " ".join(c.sentence.text for c in chosen)
        # For 哪个街道 questions the report's own line naming the place supplies the place.
        # Otherwise a leading sentence that carries the asked type is preferred. A preference,
        # not a refusal: as a hard rule the type detectors (dates such as 崇宁五年, names after
        # 又称, foreign persons) refused 4 % of answerable CMRC 2018 DEV questions.
        if place is None and not type_present(kind, quoted, question):
            typed = next(
                (
                    c for c in window
                    if c.coverage >= cfg.min_coverage and type_present(kind, c.sentence.text, question)
                ),
                None,
            )
            if typed is not None:
                chosen = self._choose(typed, ranked, follow=follow)
                place = _place_line(info, chosen[0], reports)
        spans: list[tuple[Report, int, int]] = []
        if place is not None:
            spans.append(place)
        for cand in chosen:
            report = reports.get(cand.hit.chunk.doc_id)
            if report is not None:
                start, end = _trim_marks(report.text, cand.sentence.start, cand.sentence.end)
                if end > start:
                    spans.append((report, start, end))
        if not spans:
            return not_found(hits)
        citations: list[Citation] = []
        parts: list[str] = []
        for report, start, end in spans:
            n = len(citations) + 1
            quote = report.text[start:end]
            citations.append(Citation(n, report.doc_id, report.title, quote, start, end))
            parts.append(shown(quote) + f"[{n}]")
        return Answer("".join(parts), True, tuple(citations), tuple(hits))

    def _choose(self, best: Candidate, ranked: Sequence[Candidate], *, follow: bool = False) -> list[Candidate]:
        """``best`` and the sentences that join it: only from the same report, close in score
        (or right after it), at most ``max_sentences`` in all; in source order. With ``follow``
        the sentence right after ``best`` joins whatever its score."""
        cfg = self.scoring.answer
        chosen = [best]
        best_end = best.sentence.end
        if follow:
            after = next(
                (
                    c for c in ranked
                    if c.hit.chunk.doc_id == best.hit.chunk.doc_id
                    and 0 <= c.sentence.start - best_end <= cfg.next_sentence_gap
                ),
                None,
            )
            if after is not None and cfg.max_sentences > 1:
                chosen.append(after)
        for cand in ranked:
            if cand in chosen:
                continue
            if len(chosen) >= cfg.max_sentences:
                break
            if cand.hit.chunk.doc_id != best.hit.chunk.doc_id:
                continue
            # a sentence right after the best one often carries the answer to the setup the
            # best one matches ("康直病死后康忠做了什么" → the next sentence): it may join lower
            follows = 0 <= cand.sentence.start - best_end <= cfg.next_sentence_gap
            ratio = cfg.next_sentence_ratio if follows else cfg.keep_ratio
            if cand.score >= best.score * ratio:
                chosen.append(cand)
        chosen.sort(key=lambda c: (c.hit.chunk.doc_id, c.sentence.start))
        return chosen


def shown(quote: str) -> str:
    """How a quoted span reads in an answer: the report's own words, with only the layout
    (line breaks and the indentation around them) taken out: the same cleaned reading that
    retrieval and the highlight use. Spaces inside a line stay (「时代先锋 幸福九水」)."""
    return clean_span(quote)


_LEAD_MARKS = "-▶•·●◆■□☆★※>"


def _trim_marks(text: str, start: int, end: int) -> tuple[int, int]:
    """Move a span's start past list and caption marks (「▶ 」「- 」), so the citation holds
    exactly the words the answer shows."""
    while start < end and (text[start] in _LEAD_MARKS or text[start].isspace()):
        start += 1
    return start, end


def _place_line(
    info: QuestionInfo, cand: Candidate, reports: Mapping[str, Report]
) -> tuple[Report, int, int] | None:
    """For 「哪个街道…」 questions whose sentence only says 「街道」: the line of the report that
    first names the place (usually its title line), cited like any other sentence, so the
    answer names the place in the report's own words instead of adding words of its own."""
    if info.wants != "place" or not info.place_kind:
        return None
    if re.search(rf"[\u4e00-\u9fff]{{2,6}}{info.place_kind}", cand.sentence.text.replace("该" + info.place_kind, "")):
        return None
    report = reports.get(cand.hit.chunk.doc_id)
    if report is None:
        return None
    names = [str(p) for p in report.meta.get("places", []) if str(p).endswith(info.place_kind)]
    names += re.findall(rf"[\u4e00-\u9fff]{{2,4}}{info.place_kind}", report.title)
    for name in names:
        at = report.text.find(name)
        if at < 0 or at >= cand.sentence.start:
            continue
        line_start = report.text.rfind("\n", 0, at) + 1
        line_end = report.text.find("\n", at)
        line_end = len(report.text) if line_end < 0 else line_end
        start, end = _trim_marks(report.text, line_start, line_end)
        while end > start and report.text[end - 1].isspace():
            end -= 1
        if end > start:
            return report, start, end
    return None


def not_found(hits: Sequence[Hit]) -> Answer:
    text = f"{NOT_FOUND}能直接回答该问题的内容。以下是最接近的段落，供参考。"
    return Answer(text, False, (), tuple(hits))
