"""The answering engine: a loaded index snapshot plus its composers, and the one place that picks
a composer, falls back to the extractive one, and checks citations — for whole answers and for
streamed ones alike. No HTTP here: the API, ``zhiwen ask`` and ``zhiwen eval`` all call this.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from indexer.retrieval.timing import stage
from service.answering.content import has_content
from service.answering.followup import find_places, resolve_question
from service.answering.kinds import QuestionShape, for_report, question_shape
from service.answering.types import (
    FILTERED_OUT,
    NO_CONTENT,
    Answer,
    Citation,
    Composer,
    CuratedRef,
)

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.retrieval.search import Searcher
    from indexer.types import Hit, Report
    from service.answering.extractive import ExtractiveComposer
    from service.answering.faq import FaqMatcher

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
CURATED = "curated"  # the composer name of a curated answer (FAQ)
LLM = "llm"
COMPOSERS = (EXTRACTIVE, LLM)


class ComposerUnavailable(RuntimeError):
    """The requested composer cannot be built (e.g. no LLM endpoint configured)."""


@runtime_checkable
class StreamingComposer(Protocol):
    """A composer that can stream: text deltas, then the final validated ``Answer``."""

    name: str

    def stream(
        self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]
    ) -> Generator[str | Answer, None, None]: ...


@dataclass(frozen=True)
class LLMEndpoint:
    """An OpenAI-compatible endpoint the ``llm`` composer calls."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 30.0


def make_composer(
    name: str, searcher: Searcher | None = None, llm: LLMEndpoint | None = None
) -> Composer:
    """Build the composer ``name``. Given the ``searcher``, the extractive composer shares its
    tokenizer (user words) and term statistics; the LLM composer gets an extractive fallback."""
    from service.answering.extractive import ExtractiveComposer

    extractive: Composer = (
        ExtractiveComposer.for_index(searcher) if searcher is not None else ExtractiveComposer()
    )
    if name == EXTRACTIVE:
        return extractive
    if name != LLM:
        raise ComposerUnavailable(f"unknown composer {name!r}")
    if llm is None:
        raise ComposerUnavailable("no LLM configured: set ZHIWEN_LLM_BASE_URL and ZHIWEN_LLM_MODEL")
    from service.answering.llm import make_llm_composer

    return make_llm_composer(llm.base_url, llm.model, llm.api_key, llm.timeout_s, fallback=extractive)


def build_composers(
    searcher: Searcher, llm: LLMEndpoint | None, *, warn: bool = False
) -> tuple[dict[str, Composer], dict[str, str]]:
    """Every composer that can be built for ``searcher``, and why the others cannot."""
    composers: dict[str, Composer] = {EXTRACTIVE: make_composer(EXTRACTIVE, searcher)}
    unavailable: dict[str, str] = {}
    try:
        composers[LLM] = make_composer(LLM, searcher, llm)
    except Exception as exc:  # an optional backend: never fatal, reported per request
        unavailable[LLM] = str(exc) or type(exc).__name__
        if warn:
            log.warning("LLM composer unavailable: %s", unavailable[LLM])
    return composers, unavailable


@dataclass(frozen=True)
class QAEngine:
    """The loaded pieces that answer queries; immutable, so safe across threads. A live index
    change makes a new engine (``with_searcher``); a request keeps the one it started with."""

    embedder: Embedder
    searcher: Searcher
    composers: Mapping[str, Composer]
    default_composer: str = EXTRACTIVE
    # composer name -> why it is not in ``composers``
    unavailable: Mapping[str, str] = field(default_factory=dict)
    llm: LLMEndpoint | None = None
    faq: FaqMatcher | None = None  # curated answers, consulted before the reports

    @property
    def reports(self) -> Mapping[str, Report]:
        return self.searcher.reports

    def with_searcher(self, searcher: Searcher) -> QAEngine:
        """This engine over another index snapshot. Composers are rebuilt so the extractive one
        scores with the new snapshot's tokenizer and term statistics, and the old snapshot is
        not kept alive by them."""
        composers, unavailable = build_composers(searcher, self.llm)
        return dataclasses.replace(
            self, searcher=searcher, composers=composers, unavailable=unavailable
        )

    # -- retrieval ------------------------------------------------------------------------------
    def search(self, query: str, top_k: int, within: Collection[str] | None = None) -> list[Hit]:
        """Hybrid search; ``within``: only these reports (a metadata filter's selection)."""
        return self.searcher.search(query.strip(), top_k=top_k, mode="hybrid", within=within)

    def resolve(self, user_turns: Sequence[str]) -> str:
        """The self-contained question for the last of a conversation's user turns."""
        return resolve_question(user_turns, self.searcher.places)

    # -- composer choice --------------------------------------------------------------------------
    def composer_name(self, wanted: str | None = None) -> str:
        """The composer that will answer when ``wanted`` is asked for (extractive if it is not
        available)."""
        name = wanted or self.default_composer
        return name if name in self.composers else EXTRACTIVE

    def _select(self, wanted: str | None) -> tuple[Composer, list[str]]:
        name = wanted or self.default_composer
        chosen = self.composers.get(name)
        if chosen is not None:
            return chosen, []
        reason = self.unavailable.get(name, "unknown composer")
        log.warning("composer %s unavailable (%s); falling back to extractive", name, reason)
        return self.composers[EXTRACTIVE], [
            f"composer '{name}' unavailable ({reason}); used '{EXTRACTIVE}'"
        ]

    # -- answers ----------------------------------------------------------------------------------
    def ask(self, question: str, top_k: int, composer: str | None = None,
            within: Collection[str] | None = None) -> Answer:
        """Retrieve ``top_k`` passages (of the reports ``within``, if given) and compose a cited
        answer; an unavailable or failing LLM composer falls back to the extractive one with a
        warning in the answer. No passage (a filter selecting nothing): the answer is a refusal."""
        answer: Answer | None = None
        for item in self._answer(question, top_k, composer, stream=False, within=within):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self, question: str, top_k: int, composer: str | None = None, within: Collection[str] | None = None
    ) -> Generator[str | Answer, None, None]:
        """Text deltas as a streaming composer writes them, then the final checked ``Answer``.

        A composer that fails before any text falls back to the extractive one (with a warning);
        one that fails mid-text raises, since streamed text cannot be taken back."""
        return self._answer(question, top_k, composer, stream=True, within=within)

    def steps(
        self, question: str, top_k: int, composer: str | None = None, within: Collection[str] | None = None
    ) -> Generator[str | Answer, None, None]:
        """The answer ``ask`` gives, produced step by step: a streaming composer's deltas (for
        nobody to see), then the ``Answer``. Whoever drives it can stop between steps, and closing
        it stops the composer (an LLM's HTTP stream to the model is closed). A composer failing
        mid-text falls back as in ``ask``: nothing was shown yet."""
        return self._answer(question, top_k, composer, stream=True, shown=False, within=within)

    def _answer(
        self, question: str, top_k: int, composer: str | None, *, stream: bool, shown: bool = True,
        within: Collection[str] | None = None,
    ) -> Generator[str | Answer, None, None]:
        question = question.strip()
        if not has_content(question):
            yield Answer(NO_CONTENT, False, (), ())
            return
        places = tuple(find_places(question, self.searcher.places))
        if within is not None and not within:
            # the filters exclude every report: say so (and that dropping them would search all)
            yield Answer(FILTERED_OUT, False, (), (), question_places=places, filtered_out=True)
            return
        curated = None
        if self.faq is not None and within is None:
            with stage("curated"):
                curated = self.faq.match(question)
        if curated is not None:  # (a filtered question is for the reports the filter selects)
            c = curated.curated
            yield Answer(c.answer, True, (), (), composer=CURATED,
                         curated=CuratedRef(c.id, c.question, round(curated.similarity, 4), c.source),
                         question_places=places)
            return
        chosen, warnings = self._select(composer)
        from service.answering.extractive import ExtractiveComposer
        from service.answering.multi import by_report

        extractive = self.composers[EXTRACTIVE]
        if within is not None and isinstance(extractive, ExtractiveComposer):
            # a filtered question is judged by the best keyword match among the selected reports
            extractive = extractive.within(functools.partial(self.searcher.keyword_confidence, within=within))
            chosen = extractive if chosen.name == EXTRACTIVE else chosen
        shape = question_shape(question, self.searcher.places)
        answer: Answer | None = None
        multi: Answer | None = None  # a list or comparison, as the extractive composer gives it
        if shape.kind != "fact" and isinstance(extractive, ExtractiveComposer):
            with stage("compose"):
                multi = self._multi(question, shape, top_k, within, extractive)
            if chosen.name == EXTRACTIVE or not multi.answerable:
                answer = multi  # (an LLM is given nothing when no report states it)
        # the LLM composer gets the evidence of the reports that state it, report by report
        hits = list(multi.passages) if multi is not None else self.search(question, top_k, within)
        if answer is None and stream and isinstance(chosen, StreamingComposer) and chosen.name != EXTRACTIVE:
            streamed = False
            try:
                # closed at once when this generator is (the LLM's HTTP stream with it)
                with contextlib.closing(chosen.stream(question, hits, self.reports)) as items:
                    for item in items:
                        if isinstance(item, Answer):
                            answer = item
                        elif item:
                            streamed = True
                            yield item
                if answer is None:
                    raise RuntimeError(f"composer '{chosen.name}' ended without an answer")
            except Exception:
                if streamed and shown:
                    raise
                answer = None
                log.exception("composer %s failed; falling back to extractive", chosen.name)
        elif answer is None:
            try:
                with stage("compose"):
                    answer = chosen.compose(question, hits, self.reports)
            except Exception:
                if chosen.name == EXTRACTIVE:
                    raise
                log.exception("composer %s failed; falling back to extractive", chosen.name)
        if answer is None:
            warnings.append(f"composer '{chosen.name}' failed; used '{EXTRACTIVE}'")
            with stage("compose"):
                answer = multi or extractive.compose(question, hits, self.reports)
        elif multi is not None and answer is not multi:
            answer = by_report(answer, shape.kind, self.reports)
        self.check_citations(answer)
        answer = dataclasses.replace(self.with_sources(answer), question_places=places)
        if warnings:
            answer = dataclasses.replace(answer, warnings=(*warnings, *answer.warnings))
        yield answer

    def _multi(self, question: str, shape: QuestionShape, top_k: int, within: Collection[str] | None,
               extractive: ExtractiveComposer) -> Answer:
        """The extractive answer to a list or comparison question: each report's (or side's)
        own fact answer, decided as single answers are, never quoting a heading."""
        from service.answering.multi import DEFAULT, compose_comparison, compose_list
        from service.answering.things import NOTHING, make_thing

        # a list's reports quote only sentences holding the thing asked about (拆迁, see
        # service/answering/things.py); a comparison's sides, those stating the compared thing
        key = NOTHING if shape.kind == "comparison" else extractive.list_thing(for_report(question, shape, ""))
        strict = extractive.for_lists(key, dated=shape.kind == "comparison" and shape.asks_time)

        def judge(asked: str, hits: Sequence[Hit]) -> Answer:
            return strict.compose(asked, hits, self.reports)

        if shape.kind == "comparison":
            # a side is quoted where it states the compared thing: an amount of it (「34个社区」)
            # or, for 谁先, a year; else as a fact answer (the verdict then says it cannot
            # compare). A side that is no place (a named 党支部) only where the sentence names it.
            places = set(self.searcher.places)

            def judge_side(side: str, asked: str, hits: Sequence[Hit]) -> Answer:
                named = NOTHING if side in places else make_thing([side], [])
                stating = strict.for_lists(named, dated=shape.asks_time,
                                           amount_of="" if shape.asks_time else shape.compared)
                answer = stating.compose(asked, hits, self.reports)
                if answer.answerable:
                    return answer
                return strict.for_lists(named, dated=shape.asks_time).compose(asked, hits, self.reports)

            return compose_comparison(question, shape, self.reports, self.search, judge_side,
                                      top_k=DEFAULT.per_report, within=within)
        pool = self.search(question, max(DEFAULT.pool, top_k), within)
        in_scope = len(self.reports) if within is None else len(within)
        return compose_list(question, shape, pool, self.reports, judge, top_k=top_k, in_scope=in_scope,
                            search=self.search)

    def with_sources(self, answer: Answer) -> Answer:
        """The answer with each citation's page (reports from paged files: PDF) and OCR
        confidence (text read by OCR) set."""
        from indexer.ingest.readers import ocr_confidence, report_page

        def sourced(c: Citation) -> Citation:
            report = self.reports.get(c.doc_id)
            if report is None or report.meta.get("format") in (None, "txt"):
                return c
            return dataclasses.replace(c, page=report_page(report.meta, c.start),
                                       ocr_confidence=ocr_confidence(report.meta, c.start, c.end))

        return dataclasses.replace(answer, citations=tuple(sourced(c) for c in answer.citations))

    def check_citations(self, answer: Answer) -> None:
        """Log (loudly) a citation whose quote is not its report's span: a composer bug."""
        for c in answer.citations:
            report = self.reports.get(c.doc_id)
            if report is None or report.text[c.start : c.end] != c.quote:
                log.error(
                    "citation [%d] of %s does not match its span %d:%d", c.n, c.doc_id, c.start, c.end
                )


def engine_for(
    embedder: Embedder,
    searcher: Searcher,
    default_composer: str = EXTRACTIVE,
    llm: LLMEndpoint | None = None,
    faq: FaqMatcher | None = None,
) -> QAEngine:
    """An engine over a loaded searcher with every composer that can be built (and the curated
    answers ``faq``, if given)."""
    composers, unavailable = build_composers(
        searcher, llm, warn=llm is not None or default_composer == LLM
    )
    return QAEngine(embedder, searcher, composers, default_composer, unavailable, llm, faq)
