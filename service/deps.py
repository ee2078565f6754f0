"""What routes depend on: the loaded engine (embedder + index + composers) and the settings,
provided through ``Annotated[..., Depends()]`` aliases.

``QAEngine`` is also what ``zhiwen ask`` uses in-process, so the CLI and the API answer alike.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from service.errors import ApiError, field_error
from service.metrics import Metrics
from service.settings import Settings

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.search import Searcher
    from indexer.types import Hit, Report
    from service.answering.types import Answer, Composer
    from service.kb import KnowledgeBase  # zhiwen-kb

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"


class ComposerUnavailable(RuntimeError):
    """The requested composer cannot be built (e.g. no LLM endpoint configured)."""


def make_composer(
    settings: Settings, name: str | None = None, searcher: Searcher | None = None
) -> Composer:
    """Build the composer ``name`` (default: ``settings.composer``).

    Given the ``searcher``, the extractive composer shares its tokenizer (user words) and term
    statistics. The LLM composer falls back to the extractive one by itself when its endpoint
    fails, with a warning in the answer.
    """
    from service.answering.extractive import ExtractiveComposer

    wanted = name or settings.composer
    extractive: Composer = (
        ExtractiveComposer.for_index(searcher) if searcher is not None else ExtractiveComposer()
    )
    if wanted == EXTRACTIVE:
        return extractive
    if wanted != "llm":
        raise ComposerUnavailable(f"unknown composer {wanted!r}")
    if not (settings.llm_base_url and settings.llm_model):
        raise ComposerUnavailable("no LLM configured: set ZHIWEN_LLM_BASE_URL and ZHIWEN_LLM_MODEL")
    from service.answering.llm import make_llm_composer

    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return make_llm_composer(
        settings.llm_base_url,
        settings.llm_model,
        api_key,
        settings.llm_timeout_s,
        fallback=extractive,
    )


@dataclass
class QAEngine:
    """The loaded pieces that answer queries; read-only once built, so safe across threads."""

    settings: Settings
    embedder: Embedder
    searcher: Searcher
    composers: dict[str, Composer]
    # composer name -> why it is not in ``composers``
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def reports(self) -> Mapping[str, Report]:
        return self.searcher.reports

    def with_searcher(self, searcher: Searcher) -> QAEngine:
        """This engine over another index snapshot. Composers are rebuilt so the extractive one
        scores with the new snapshot's tokenizer and term statistics, and the old snapshot is
        not kept alive by them."""
        composers = {name: make_composer(self.settings, name, searcher) for name in self.composers}
        return dataclasses.replace(self, searcher=searcher, composers=composers)

    def search(self, query: str, top_k: int) -> list[Hit]:
        return self.searcher.search(query.strip(), top_k=top_k, mode="hybrid")

    def ask(self, question: str, top_k: int, composer: str | None = None) -> Answer:
        """Retrieve ``top_k`` passages and compose a cited answer; an unavailable or failing
        LLM composer falls back to the extractive one with a warning in the answer."""
        question = question.strip()
        wanted = composer or self.settings.composer
        hits = self.search(question, top_k)
        warnings: list[str] = []
        chosen = self.composers.get(wanted)
        if chosen is None:
            reason = self.unavailable.get(wanted, "unknown composer")
            warnings.append(f"composer '{wanted}' unavailable ({reason}); used '{EXTRACTIVE}'")
            log.warning("composer %s unavailable (%s); falling back to extractive", wanted, reason)
            chosen = self.composers[EXTRACTIVE]
        try:
            answer = chosen.compose(question, hits, self.reports)
        except Exception:
            if chosen.name == EXTRACTIVE:
                raise
            log.exception("composer %s failed; falling back to extractive", chosen.name)
            warnings.append(f"composer '{chosen.name}' failed; used '{EXTRACTIVE}'")
            answer = self.composers[EXTRACTIVE].compose(question, hits, self.reports)
        self._check_citations(answer)
        if warnings:
            answer = dataclasses.replace(answer, warnings=(*warnings, *answer.warnings))
        return answer

    def _check_citations(self, answer: Answer) -> None:
        for c in answer.citations:
            report = self.reports.get(c.doc_id)
            if report is None or report.text[c.start : c.end] != c.quote:
                log.error(
                    "citation [%d] of %s does not match its span %d:%d",
                    c.n,
                    c.doc_id,
                    c.start,
                    c.end,
                )


def limit_threads(n: int) -> None:
    """Threads per query for torch and FAISS. One query is too small to split across cores, and
    under concurrent requests extra threads only contend: on 2 busy cores FAISS went from 48 ms
    to 0.5 ms and a query encode from 1.46 s to 82 ms with one thread (docs/benchmarks.md).
    Indexing (``zhiwen index``) is not affected: it never calls this."""
    import faiss
    import torch

    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)


def load_engine(settings: Settings) -> QAEngine:
    """Load the embedder (warmed up), the index and the composers. Slow: seconds.

    Raises ``IndexLoadError`` / ``ModelNotFoundError`` with a message fit for /readyz.
    """
    from embeddings import load_embedder
    from indexer.store import load_index, read_meta

    read_meta(settings.index_dir)  # a missing or unreadable index fails before the model loads
    limit_threads(settings.inference_threads)
    embedder = load_embedder(settings.model, cache_path=settings.cache_path)
    embedder.warm_up()
    searcher = load_index(settings.index_dir, embedder)
    composers: dict[str, Composer] = {EXTRACTIVE: make_composer(settings, EXTRACTIVE, searcher)}
    unavailable: dict[str, str] = {}
    try:
        composers["llm"] = make_composer(settings, "llm", searcher)
    except Exception as exc:  # an optional backend: never fatal, reported per request
        unavailable["llm"] = str(exc) or type(exc).__name__
        if settings.llm_configured or settings.composer == "llm":
            log.warning("LLM composer unavailable: %s", unavailable["llm"])
    return QAEngine(settings, embedder, searcher, composers, unavailable)


@dataclass
class AppState:
    """Per-app state: ``engine`` is None until loaded, and ``reason`` says why."""

    settings: Settings
    metrics: Metrics
    engine: QAEngine | None = None
    reason: str = "index is loading"
    loading: bool = True
    # zhiwen-kb: the live knowledge base (service/kb.py); it swaps ``engine`` after each change
    kb: KnowledgeBase | None = None

    @property
    def not_ready_code(self) -> str:
        """``loading`` (retry soon) or ``index_unavailable`` (loading failed: see the reason)."""
        return "loading" if self.loading else "index_unavailable"


# -- dependencies -----------------------------------------------------------------------------


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.zhiwen
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_app_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def require_engine(state: StateDep) -> QAEngine:
    if state.engine is None:
        raise ApiError(503, state.not_ready_code, state.reason, headers={"Retry-After": "5"})
    return state.engine


EngineDep = Annotated[QAEngine, Depends(require_engine)]


def enforce_limits(
    settings: Settings, field_name: str, text: str, top_k: int | None, default_top_k: int
) -> int:
    """Check the limits that come from settings (text length, top_k) and return the top_k to use.

    The static ones (type, non-blank, top_k >= 1) are checked by the request model already.
    """
    if len(text) > settings.max_question_chars:
        raise field_error(
            field_name,
            "string_too_long",
            f"String should have at most {settings.max_question_chars} characters",
        )
    if top_k is not None and top_k > settings.max_top_k:
        raise field_error(
            "top_k",
            "less_than_equal",
            f"Input should be less than or equal to {settings.max_top_k}",
        )
    return top_k if top_k is not None else default_top_k
