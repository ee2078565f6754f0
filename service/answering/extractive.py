"""Extractive answers: quote the sentences of the retrieved passages that answer the question.

Sentences are scored by ``indexer.retrieval.evidence`` (focus-term coverage, bigram overlap, answer type,
retrieval rank, meaning) with the numbers of ``service.answering.config``. A question is refused
("资料中未找到…")

* by rule, when no sentence is about the things it names (places, quoted names, Latin-script terms
  must be in the sentence, its passage, or its report's title and places:
  ``service.answering.checks``);
* by the fitted answerability model (``service.answering.answerability``), when the answer it would
  give is unlikely to be right: the words it asks about are missing from the passage, the match is
  weak, or the asked kind of answer is absent. Its probability is the answer's ``confidence``.
  Without a model the old single rule applies: none of the leading sentences covers
  ``answer.min_coverage`` of the question's non-anchor focus terms.

Among the leading sentences, one that carries the kind of answer asked for (a new number for 多少,
a person for 谁, a date for 何时, a quoted name for 叫什么, a place for 哪个街道) is quoted before a
better-scoring one that does not (a preference, not a refusal).

The asked slot (``service.answering.slots``: 多少名党员 wants a count of persons in the clause about
党员, 哪一年 a year) also trims and refuses: a sentence that joins the lead must fill it, and a
question whose *confident* slot (or 多少/几 count) no sentence of the refusal window fills is
refused, saying what was not found (「资料中未找到星海街道党员的人数。」), whatever the answerability model says: the passages
are on topic, the fact is not there.

What an answer shows is what its citations quote (see :func:`shown`).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from indexer.ingest.cleaning import pos_tags
from indexer.retrieval.evidence import Candidate, QuestionInfo, analyse_question, score_candidates
from indexer.retrieval.search import adaptive_weight
from indexer.text.tokenize import Tokenizer
from indexer.text.zh import bigrams, norm
from indexer.types import Hit, Report
from service.answering.amounts import fills_count, head_noun
from service.answering.answerability import (
    AnswerabilityModel,
    packaged_model,
    rarest_found,
    term_share,
)
from service.answering.checks import (
    entities_match,
    expected_type,
    is_heading,
    noun_phrases,
    question_entities,
    type_present,
)
from service.answering.config import DEFAULT, ScoringConfig
from service.answering.fact_features import fact_features
from service.answering.quoting import place_line, shown, trim_marks
from service.answering.slots import (
    asks_count,
    counted_thing,
    parse_slot,
    slot_filled,
    unfilled,
)
from service.answering.things import NOTHING, Thing, exact_amount, list_thing, rows_stating
from service.answering.types import NOT_FOUND, Answer, Citation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assessment:
    """What :meth:`ExtractiveComposer.assess` found: the answer it would give (``None``: nothing
    to quote) and its answerability features."""

    answer: Answer | None
    features: Mapping[str, float]
    # what a confident slot asked that no sentence of the refusal window holds (None: nothing
    # missing; "" when the question names no subject to say it of)
    missing: str | None = None
    # a list row whose lead sentence states exactly what was asked: a known place of the asked
    # level (「提到了哪些社区」), an amount of the asked thing in the asked unit (「34个社区」 for
    # 多少个社区), or a comparison side's amount of the compared thing (or, of when, a year); the
    # check decides, as the place line of 哪个街道 answers does
    stated: bool = False


class ExtractiveComposer:
    """The default composer: one to three source sentences, each with its citation."""

    name = "extractive"

    @classmethod
    def for_index(
        cls,
        searcher: Any,
        scoring: ScoringConfig = DEFAULT,
        answerability: AnswerabilityModel | Literal["packaged"] | None = "packaged",
    ) -> ExtractiveComposer:
        """A composer that shares the index's tokenizer (user words) and term statistics, judged
        by the packaged answerability model (or ``answerability``; ``None``: the coverage rule)."""
        keyword = searcher.keyword
        return cls(
            keyword.tokenizer,
            idf=keyword.idf,
            doc_freq=keyword.doc_freq,
            confidence=searcher.keyword_confidence,
            scoring=scoring,
            known_places=searcher.places,
            answerability=packaged_model() if answerability == "packaged" else answerability,
        )

    def __init__(
        self,
        tokenizer: Tokenizer | None = None,
        *,
        idf: Callable[[str], float] | None = None,
        doc_freq: Callable[[str], int] | None = None,
        confidence: Callable[[str], float] | None = None,
        scoring: ScoringConfig = DEFAULT,
        known_places: Iterable[str] = (),
        answerability: AnswerabilityModel | None = None,
    ) -> None:
        self.tokenizer = tokenizer or Tokenizer()
        self.idf = idf
        self.doc_freq = doc_freq  # passages holding a term (0: the reports never use it)
        self.confidence = confidence
        self.scoring = scoring
        self.known_places: frozenset[str] = frozenset(known_places)
        # without a model, the coverage threshold ``answer.min_coverage`` decides refusals
        self.answerability = answerability
        self.quote_headings = True  # False: headings and bylines are never quoted (list answers)
        self.required = NOTHING  # what every quoted sentence must hold (a list's thing: 拆迁)
        self.dated = False  # True: only sentences stating a year are quoted (谁先… comparisons)
        # True: only sentences filling the asked slot are quoted, confident or not (a list's rows:
        # 「各街道的书记分别是谁」 lists a report only with a sentence naming a person)
        self.filled_only = False
        self.amount_of = ""  # a noun every quoted sentence must state an amount of (a comparison's)

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

    def within(self, confidence: Callable[[str], float]) -> ExtractiveComposer:
        """This composer, judging keyword confidence with ``confidence`` (the best match among
        the reports a filter selects, not the whole index's)."""
        narrowed = copy.copy(self)
        narrowed.confidence = confidence
        return narrowed

    def list_thing(self, question: str) -> Thing:
        """What the list question ``question`` (asked of one report) asks about, as the words a
        quoted sentence must hold (``service.answering.things``: a quoted name whole, else the
        rarest term of its noun phrases with the about-as-rare terms of that phrase; a noun the
        reports never use makes it a thing nothing states)."""
        info = analyse_question(question, self.tokenizer, self.idf)
        tags = pos_tags(question)
        verbs = frozenset(word for word, flag in tags if flag == "v")
        attributes = frozenset(word for word, flag in tags if flag in ("a", "an", "b"))
        kind = info.place_kind if info.wants == "place" else ""
        return list_thing(question, info.terms, info.weights, noun_phrases(question), verbs, self.doc_freq,
                          place_kind=kind, known_places=self.known_places, attributes=attributes)

    def for_lists(
        self, required: Thing = NOTHING, *, dated: bool = False, amount_of: str = ""
    ) -> ExtractiveComposer:
        """This composer as a list judges each report: never quoting a heading, subtitle or byline
        (「——…工作纪实」), and only sentences that hold the thing ``required`` (if any), fill the
        asked slot (a person for 谁, a number for 多少) and, when ``dated``, state a year (a
        comparison of when compares dates, not 「今年以来」) and, given ``amount_of`` (a comparison's
        compared thing: 下辖的社区), state an amount of it (「34个社区」)."""
        strict = copy.copy(self)
        strict.amount_of = head_noun(amount_of) if amount_of else ""
        strict.quote_headings = False
        strict.required = required
        strict.dated = dated
        strict.filled_only = True
        return strict

    def compose(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Answer:
        assessment = self.assess(question, hits, reports)
        answer = assessment.answer
        if answer is None:
            return not_found(hits)
        if assessment.missing is not None:
            # on topic, but the asked fact is not there: say which, whatever the model says (its
            # confidence 0: the answer it would give does not hold what was asked)
            refusal = not_found(hits, assessment.missing)
            return refusal if self.answerability is None else dataclasses.replace(refusal, confidence=0.0)
        if self.answerability is None:
            # no fitted model: the single coverage threshold of the first version
            if assessment.features["coverage"] < self.scoring.answer.min_coverage:
                return not_found(hits)
            return answer
        confidence = self.answerability.probability(assessment.features)
        if not self.answerability.answerable(confidence) and not assessment.stated:
            return dataclasses.replace(not_found(hits), confidence=confidence)
        return dataclasses.replace(answer, confidence=confidence)

    def assess(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Assessment:
        """The answer this composer would give if it answered, with the features that say how
        likely it is right (``service.answering.answerability``); no answer when no passage is
        about the things the question names."""
        cfg = self.scoring.answer
        info = analyse_question(question, self.tokenizer, self.idf)
        kind = expected_type(question)
        slot = parse_slot(question)
        entities = question_entities(question, self.known_places)
        # Only passages about the things the question names can answer it (a sentence is part of
        # its passage, so one check per passage covers its sentences).
        about = {
            h.chunk.chunk_id for h in hits
            if entities_match(entities, h.chunk.clean_text, reports.get(h.chunk.doc_id))
        }
        ranked = [c for c in self.candidates(question, hits, reports, info) if c.hit.chunk.chunk_id in about]
        if not self.quote_headings:
            ranked = [c for c in ranked if not _heading(c, reports)]
        if self.required or self.dated or self.amount_of or self.filled_only:
            ranked = rows_stating(ranked, question, self.required, slot if self.filled_only else None,
                                  dated=self.dated, amount_of=self.amount_of)
        window = ranked[: cfg.refusal_window]
        if not window:
            return Assessment(None, {})
        coverage = max(c.coverage for c in window)
        # A how-question restates the problem, so the sentence that matches it best usually
        # states the problem; what was done follows it.
        follow = kind == "method"
        counted = counted_thing(question) if slot is not None and asks_count(slot, question) else None

        def fills(c: Candidate) -> bool:  # a 多少/几 answer states an amount of what it counts
            if slot is not None and counted is not None:
                return fills_count(slot, question, counted, c.sentence.text)
            return slot is None or slot_filled(slot, c.sentence.text, question)

        lead = ranked[0]
        chosen = self._choose(lead, ranked, follow=follow, fills=fills)
        place = place_line(info, chosen[0], reports)
        quoted = " ".join(c.sentence.text for c in chosen)
        # For 哪个街道 questions the report's own line naming the place supplies the place.
        # Otherwise a leading sentence that carries the asked type (and fills the asked slot) is
        # preferred. A preference, not a refusal: as a hard rule the type detectors (dates such
        # as 崇宁五年, names after 又称, foreign persons) refused 4 % of answerable CMRC 2018 DEV
        # questions; only a confident slot refuses (below).
        typed_ok = place is not None or type_present(kind, quoted, question)
        slot_ok = any(fills(c) for c in chosen)
        if not (typed_ok and slot_ok):
            typed = next(
                (
                    c for c in window
                    if c.coverage >= cfg.min_coverage and fills(c)
                    and type_present(kind, c.sentence.text, question)
                ),
                None,
            )
            if typed is not None:
                lead = typed
                chosen = self._choose(typed, ranked, follow=follow, fills=fills)
                place = place_line(info, chosen[0], reports)
                typed_ok = slot_ok = True
        missing = unfilled(slot, question, [fills(c) for c in window])
        features = self._features(question, info, lead, coverage, typed_ok, ranked, reports)
        features["slot_missing"] = 0.0 if slot_ok else 1.0
        spans: list[tuple[Report, int, int]] = []
        if place is not None:
            spans.append(place)
        for cand in chosen:
            report = reports.get(cand.hit.chunk.doc_id)
            if report is not None:
                start, end = trim_marks(report.text, cand.sentence.start, cand.sentence.end)
                if end > start:
                    spans.append((report, start, end))
        if not spans:
            return Assessment(None, features, missing)
        citations: list[Citation] = []
        parts: list[str] = []
        for report, start, end in spans:
            n = len(citations) + 1
            quote = report.text[start:end]
            citations.append(Citation(n, report.doc_id, report.title, quote, start, end))
            parts.append(shown(quote) + f"[{n}]")
        stated = bool(self.required.places or self.amount_of or self.dated) or (
            self.filled_only and slot is not None and slot.confident and exact_amount(slot, lead.sentence.text)
        )
        answer = Answer("".join(parts), True, tuple(citations), tuple(hits))
        return Assessment(answer, features, missing, stated=stated)

    def _features(
        self,
        question: str,
        info: QuestionInfo,
        lead: Candidate,
        coverage: float,
        typed_ok: bool,
        ranked: Sequence[Candidate],
        reports: Mapping[str, Report],
    ) -> dict[str, float]:
        """The answerability features (``answerability.FEATURES``, and the candidates of
        ``fact_features.FACT_FEATURES`` a fit may choose from) of an answer led by ``lead``
        (the caller adds ``slot_missing``, which a fit may choose too).
        Margins are taken over the ``ranked`` sentences of the other reports that are about what
        the question names: a report about another place is no competitor (with none left, the
        cosine margin is 0 and the evidence margin the lead's whole score)."""
        hit = lead.hit
        report = reports.get(hit.chunk.doc_id)
        places = " ".join(str(p) for p in (report.meta.get("places") or [])) if report else ""
        passage = norm(" ".join([hit.chunk.clean_text, report.title if report else "", places]))
        shared = info.bigrams & bigrams(passage)
        try:
            at = hit.chunk.sentences.index(lead.sentence)
        except ValueError:
            at = -1
        dense = float(hit.scores.get("dense", 0.0))
        sentence_cosine = float(hit.sentence_scores[at]) if 0 <= at < len(hit.sentence_scores) else dense
        rest = [c for c in ranked if c.hit.chunk.doc_id != hit.chunk.doc_id]
        others = sorted(float(c.hit.scores.get("dense", 0.0)) for c in rest)
        other_best = max((c.score for c in rest), default=0.0)
        sentences = [norm(s.text) for s in hit.chunk.sentences]
        facts = fact_features(question, info.terms, info.weights, info.bigrams, sentences, at, passage)
        return facts | {
            "cosine_margin": dense - (others[len(others) // 2] if others else dense),
            "evidence_margin": lead.score - other_best,
            "coverage": coverage,
            "passage_terms": term_share(info.terms, info.weights, passage),
            "rarest_found": rarest_found(info.terms, info.weights, passage),
            "passage_bigrams": len(shared) / len(info.bigrams) if info.bigrams else 1.0,
            "keyword_confidence": min(self.confidence(question), 2.0) if self.confidence is not None else 0.0,
            "evidence": lead.score,
            "sentence_cosine": sentence_cosine,
            "passage_cosine": dense,
            "type_missing": 0.0 if typed_ok else 1.0,
        }

    def _choose(
        self,
        best: Candidate,
        ranked: Sequence[Candidate],
        *,
        follow: bool = False,
        fills: Callable[[Candidate], bool] = lambda c: True,
    ) -> list[Candidate]:
        """``best`` and the sentences that join it: only from the same report, close in score
        (or right after it), filling the asked slot (``fills``), at most ``max_sentences`` in
        all; in source order. With ``follow`` the sentence right after ``best`` joins whatever
        its score."""
        cfg = self.scoring.answer
        chosen = [best]
        best_end = best.sentence.end
        if follow:
            after = next(
                (
                    c for c in ranked
                    if c.hit.chunk.doc_id == best.hit.chunk.doc_id
                    and 0 <= c.sentence.start - best_end <= cfg.next_sentence_gap and fills(c)
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
            if cand.hit.chunk.doc_id != best.hit.chunk.doc_id or not fills(cand):
                continue
            # a sentence right after the best one often carries the answer to the setup the
            # best one matches ("康直病死后康忠做了什么" → the next sentence): it may join lower
            follows = 0 <= cand.sentence.start - best_end <= cfg.next_sentence_gap
            ratio = cfg.next_sentence_ratio if follows else cfg.keep_ratio
            if cand.score >= best.score * ratio:
                chosen.append(cand)
        chosen.sort(key=lambda c: (c.hit.chunk.doc_id, c.sentence.start))
        return chosen


def _heading(cand: Candidate, reports: Mapping[str, Report]) -> bool:
    report = reports.get(cand.hit.chunk.doc_id)
    return report is not None and is_heading(report.text, cand.sentence.start, cand.sentence.end)


def not_found(hits: Sequence[Hit], missing: str = "") -> Answer:
    """A refusal that still lists the closest passages; ``missing`` says what was not found
    (「星海街道党员的人数」), else it says no passage answers the question."""
    what = missing or "能直接回答该问题的内容"
    text = f"{NOT_FOUND}{what}。以下是最接近的段落，供参考。"
    return Answer(text, False, (), tuple(hits))
