"""The live knowledge base: the engine (index + composers) the service answers from, and the one
writer that changes it while queries keep being answered, over either backend
(:mod:`indexer.backends`: the local index folder or Milvus). Also where the service's settings
become an engine (``open_engine``): the composition root for the answering package.

Readers never wait. ``KnowledgeBase.engine`` is an immutable ``QAEngine`` over a loaded
``Searcher``; a change (``apply``) stores the report file durably, writes a new snapshot beside the
live one (only the changed report is embedded), loads and verifies it, swaps the on-disk link, and
then replaces the reference with an engine over the new searcher. A request took its engine when it
started, so it finishes on the snapshot it began with.

One writer at a time: a thread lock in this process and the backend's own rule across processes
(the local index's file lock, which ``zhiwen add``/``remove``/``index`` take too; on Milvus, per
report the later write wins). A second writer waits briefly, then gets
:class:`~indexer.errors.WriterBusy` (HTTP 409). Changes another process or node made are picked
up by a watcher thread within ``WATCH_INTERVAL_S``. When the backend does not answer (Milvus
down), ``unavailable`` says why: /readyz and every ``/v1/*`` route answer 503 naming it, and the
first poll that reaches it again clears it, without a restart.

On start (:func:`open_knowledge_base`): an index that is missing, truncated or corrupted is named
before the model loads; then the index is loaded and verified; then changes a crashed writer left
in the journal are rolled forward — all before /readyz says ready.

Fault injection for the crash tests: ``ZHIWEN_FAULT_PAUSE_AT=stage[,stage]`` pauses the writer at
those stages (``after_store``, ``after_snapshot_write``, ``before_swap``, ``after_swap``); with
``ZHIWEN_FAULT_PAUSE_MARKER=<file>`` it writes the stage there and resumes when the file is
deleted (``Settings.fault_pause_at``). Never set in production.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embeddings.progress import report as report_progress
from indexer.errors import BackendUnavailable, WriterBusy
from service.answering.engine import LLMEndpoint, QAEngine, engine_for

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.backends.base import Backend
    from indexer.changes import Change, UpdateResult
    from indexer.ingest.readers.base import Limits
    from indexer.retrieval.search import Searcher
    from service.answering.faq import FaqMatcher, TableLimits
    from zhiwen.settings import Settings

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 2.0


def llm_endpoint(settings: Settings) -> LLMEndpoint | None:
    """The configured OpenAI-compatible endpoint, or None."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return LLMEndpoint(settings.llm_base_url, settings.llm_model, key, settings.llm_timeout_s)


def limit_threads(n: int) -> None:
    """Threads per query for torch and FAISS. One query is too small to split across cores, and
    under concurrent requests extra threads only contend: on 2 busy cores FAISS went from 48 ms
    to 0.5 ms and a query encode from 1.46 s to 82 ms with one thread (docs/benchmarks.md).
    Indexing (``zhiwen index``) is not affected: it never calls this."""
    import faiss
    import torch

    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)


def faq_matcher(settings: Settings, embedder: Embedder) -> FaqMatcher:
    """The curated answers (``ZHIWEN_FAQ_DB``), embedded, with the fitted or configured threshold."""
    from service.answering.faq import FaqMatcher, FaqStore, packaged_threshold

    threshold = settings.faq_threshold if settings.faq_threshold is not None else packaged_threshold()
    return FaqMatcher(embedder, FaqStore(settings.faq_db), threshold)


def faq_import_limits(settings: Settings) -> TableLimits:
    """What one FAQ import file (CSV or XLSX) may cost to read."""
    from service.answering.faq import TableLimits

    return TableLimits(max_rows=settings.faq_import_max_rows, max_cells=settings.faq_import_max_cells,
                       max_unzipped_bytes=settings.faq_import_max_unzipped_bytes)


def load_model(settings: Settings) -> Embedder:
    """The embedding model every knowledge base shares, loaded and warmed up. Slow: seconds."""
    from embeddings import load_embedder

    limit_threads(settings.inference_threads)
    embedder = load_embedder(settings.model, cache_path=settings.cache_path)
    embedder.warm_up()
    return embedder


def connect_default(settings: Settings) -> Backend:
    """The configured backend, connected: a missing or unreadable index, or a Milvus that does not
    answer, fails here, before the model loads."""
    from indexer.backends import connect_backend
    from indexer.configure import backend_config

    return connect_backend(backend_config(settings))


def open_engine(settings: Settings, embedder: Embedder | None = None,
                backend: Backend | None = None, *, recover: bool = True) -> tuple[Backend, QAEngine]:
    """Connect the configured backend (a missing or unreadable index fails before the model
    loads), load the model (or share ``embedder``: one model for all knowledge bases), load the
    index (rolling forward interrupted changes) and the composers. Slow: seconds.

    ``backend``: the one :func:`connect_default` connected already; without ``recover`` (a
    reader: ``zhiwen ask``), interrupted changes are left for the next writer. Raises ``IndexLoadError`` /
    ``BackendUnavailable`` / ``ModelNotFoundError`` with a message fit for /readyz."""
    if backend is None:
        backend = connect_default(settings)
    try:
        if backend.corpus_dir is not None:
            _seed(backend.corpus_dir, settings.seed_dir)
        if embedder is None:
            embedder = load_model(settings)
        searcher = backend.load(embedder, recover=recover)
    except BaseException:
        backend.close()
        raise
    return backend, engine_for(embedder, searcher, settings.composer, llm_endpoint(settings),
                               faq_matcher(settings, embedder))


def upload_limits(limits: Limits) -> dict[str, Any]:
    """What GET /v1/index says an upload may be (the chat page's upload box reads it)."""
    from indexer.ingest.readers import SUFFIXES

    return {"formats": sorted(SUFFIXES), "max_text_bytes": limits.max_text_bytes,
            "max_file_bytes": limits.max_file_bytes, "max_pdf_pages": limits.max_pages,
            "max_image_pixels": limits.max_pixels, "ocr": limits.ocr}


class KnowledgeBaseGone(Exception):
    """A write to a knowledge base that is being deleted (409) or was deleted (404)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class KnowledgeBase:
    """Holds the current engine for readers and applies changes through its backend, one writer
    at a time.

    Reads never wait for a write: they take :attr:`engine` (one reference) while a write builds
    the next index beside it and swaps it in at the end."""

    name = "default"  # (KnowledgeBases names the others)

    def __init__(
        self,
        backend: Backend,
        engine: QAEngine,
        *,
        writes_enabled: bool = False,
        on_publish: Callable[[QAEngine], None] | None = None,
    ) -> None:
        self.backend = backend
        self._engine = engine
        self.writes_enabled = writes_enabled
        self._on_publish = on_publish
        self._write_lock = threading.Lock()
        self._curate_lock = threading.Lock()  # curated-answer (FAQ) changes: a delete waits for them too
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.unavailable = ""  # why the backend cannot be used now ("" when it can)
        self.last_change: dict[str, Any] | None = None
        self._gone = ""  # "deleting" / "deleted": writes are refused (see retire)

    # -- reads ----------------------------------------------------------------------------------
    @property
    def engine(self) -> QAEngine:
        """The live engine. Take it once per request: the reference may change between reads."""
        return self._engine

    @property
    def current(self) -> Searcher:
        """The live index's searcher."""
        return self._engine.searcher

    @property
    def version(self) -> str:
        from indexer.params import snapshot_version

        return snapshot_version(self.current.meta)

    @property
    def corpus_dir(self) -> Path | None:
        """Where the original report files are (None: the backend does not keep them)."""
        return self.backend.corpus_dir

    def mark_unavailable(self, exc: BaseException) -> None:
        if not self.unavailable:
            log.error("%s", exc)
        self.unavailable = str(exc)

    # -- writes ---------------------------------------------------------------------------------
    def apply(self, changes: Sequence[Change]) -> UpdateResult:
        """Store and index ``changes``; readers switch to the new index when it is live.

        Raises ``UpdateError`` subclasses (nothing stored), ``WriterBusy`` when another writer
        holds the index for longer than the lock timeout, ``IndexLoadError`` if the index on
        disk became unusable, ``BackendUnavailable`` when Milvus does not answer."""
        timeout = self.backend.lock_timeout
        start = time.monotonic()
        self._check_not_gone()
        if not self._write_lock.acquire(timeout=timeout):
            raise WriterBusy("another write to the index is in progress; retry in a few seconds")
        try:
            self._check_not_gone()  # (a delete may have begun while this write waited)
            remaining = max(0.0, timeout - (time.monotonic() - start))
            try:
                result = self.backend.apply(changes, self.current, self._engine.embedder, remaining)
            except BackendUnavailable as exc:
                self.mark_unavailable(exc)
                raise
            if result.searcher is not None:
                report_progress("publish")
                self._publish(result.searcher)
            if result.changed:
                self.last_change = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": dict(result.files),
                                    "version": result.version}
                log.info(
                    "index %s -> %s: %s (+%d/-%d chunks, %d embedded, %.1fs)",
                    result.previous_version, result.version,
                    ", ".join(f"{n} {a}" for n, a in result.files.items()),
                    result.chunks_added, result.chunks_removed, result.embedded, result.seconds,
                )
            return result
        finally:
            self._write_lock.release()

    @contextlib.contextmanager
    def curating(self) -> Iterator[None]:
        """Around a change of the curated answers (their SQLite file lives in this base's folder):
        refused like a write while the base is being deleted, and waited for by :meth:`retire`.
        Not the report write lock, so a FAQ change never waits behind a long upload."""
        self._check_not_gone()
        if not self._curate_lock.acquire(timeout=self.backend.lock_timeout):
            raise WriterBusy("another change of the curated answers is in progress; retry in a few seconds")
        try:
            self._check_not_gone()
            yield
        finally:
            self._curate_lock.release()

    def _check_not_gone(self) -> None:
        if self._gone == "deleting":
            raise KnowledgeBaseGone(f"knowledge base {self.name!r} is being deleted", 409)
        if self._gone == "deleted":
            raise KnowledgeBaseGone(f"knowledge base {self.name!r} was deleted", 404)

    def retire(self, timeout: float) -> None:
        """Before a delete: refuse new writes at once, wait up to ``timeout`` seconds for the one
        in flight to finish, then stop for good (no writes, no watcher). Raises ``WriterBusy``
        when the write in flight outlasts ``timeout`` (writes are taken again)."""
        self._gone = "deleting"
        if not self._write_lock.acquire(timeout=timeout):
            self._gone = ""
            raise WriterBusy(f"a write to knowledge base {self.name!r} is still in progress after "
                             f"{timeout:g} s; delete it again when the write has finished")
        try:
            if not self._curate_lock.acquire(timeout=timeout):
                self._gone = ""
                raise WriterBusy(f"a change of the curated answers of knowledge base {self.name!r} is "
                                 f"still in progress after {timeout:g} s; delete it again when it has finished")
            self._gone = "deleted"
            self._curate_lock.release()
        finally:
            self._write_lock.release()
        self.close()

    def _publish(self, searcher: Searcher) -> None:
        """Make an engine over ``searcher`` the one new requests use (one reference assignment)."""
        if searcher is self._engine.searcher:
            return
        self._engine = self._engine.with_searcher(searcher)
        if self._on_publish is not None:
            self._on_publish(self._engine)

    # -- changes made by other processes or nodes -----------------------------------------------
    def refresh(self) -> bool:
        """Serve the index the backend shows now when another process or node changed it; True
        when it was swapped in. Marks the base unavailable (and raises nothing) when the backend
        does not answer, and clears that once it does."""
        if not self._write_lock.acquire(blocking=False):
            return False  # our own write is swapping it in
        try:
            try:
                searcher = self.backend.refresh(self.current, self._engine.embedder)
            except BackendUnavailable as exc:
                self.mark_unavailable(exc)
                return False
            if self.unavailable:
                log.warning("%s answers again", self.backend.where)
                self.unavailable = ""
            if searcher is None:
                return False
            self._publish(searcher)
            return True
        finally:
            self._write_lock.release()

    def start_watching(self, interval: float = WATCH_INTERVAL_S) -> None:
        def watch() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:  # a watcher must survive anything one poll runs into
                    log.exception("index watcher failed; retrying")

        self._watcher = threading.Thread(target=watch, name="zhiwen-kb-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self.backend.close()

    # -- status ---------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What GET /v1/index shows."""
        searcher = self.current
        meta = searcher.meta
        where = self.backend.info(searcher)
        return {
            "version": self.version,
            "backend": self.backend.kind,
            "model": meta.get("model"),
            "dim": meta.get("dim"),
            "reports": len(searcher.reports),
            "chunks": len(searcher.chunks),
            "sources": len(meta.get("sources") or {}),
            **where,
            "last_change": where.get("last_change") or self.last_change,
            "writes_enabled": self.writes_enabled,
            "uploads": self.upload_limits(),
        }

    def upload_limits(self) -> dict[str, Any]:
        return upload_limits(self.backend.limits)


def open_knowledge_base(
    settings: Settings, on_publish: Callable[[QAEngine], None] | None = None, embedder: Embedder | None = None,
    backend: Backend | None = None,
) -> KnowledgeBase:
    """Start-up: connect the configured backend, load and verify its index, roll forward
    interrupted changes, start watching for changes other processes or nodes make. Slow (loads
    the model unless ``embedder`` is given); raises ``IndexLoadError`` / ``BackendUnavailable`` /
    ``ModelNotFoundError`` with a message fit for /readyz. ``on_publish`` is called with each
    engine that replaces the live one."""
    backend, engine = open_engine(settings, embedder, backend)
    kb = KnowledgeBase(backend, engine, writes_enabled=bool(settings.api_keys), on_publish=on_publish)
    kb.start_watching()
    return kb


def _seed(corpus_dir: Path, seed_dir: Path | None) -> None:
    """Create the corpus folder from the seed folder on first start (``indexer.ingest.corpus``)."""
    from indexer.ingest.corpus import SeedError, seed_corpus

    try:
        seed_corpus(corpus_dir, seed_dir)
    except SeedError as exc:
        log.error("%s", exc)
