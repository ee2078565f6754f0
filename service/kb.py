"""The live knowledge base: the engine (index snapshot + composers) the service answers from, and the
one writer that changes it while queries keep being answered. Also where the service's settings
become an engine (``load_engine``): the composition root for the answering package.

Readers never wait. ``KnowledgeBase.engine`` is an immutable ``QAEngine`` over a loaded
``Searcher``; a change (``apply``) stores the report file durably, writes a new snapshot beside the
live one (only the changed report is embedded), loads and verifies it, swaps the on-disk link, and
then replaces the reference with an engine over the new searcher. A request took its engine when it
started, so it finishes on the snapshot it began with.

One writer at a time: a thread lock in this process and the index's file lock across processes
(``zhiwen add``/``remove``/``index`` take it too). A second writer waits briefly, then gets
:class:`~indexer.journal.WriterBusy` (HTTP 409). Snapshots written by another process are picked
up by a watcher thread within ``WATCH_INTERVAL_S``.

On start (:func:`open_knowledge_base`): a file of the index that is truncated or corrupted is named
before the model loads; then the index is loaded and verified; then changes a crashed writer left
in the journal are rolled forward — all before /readyz says ready.

Fault injection for the crash tests: ``ZHIWEN_FAULT_PAUSE_AT=stage[,stage]`` pauses the writer at
those stages (``after_store``, ``after_snapshot_write``, ``before_swap``, ``after_swap``); with
``ZHIWEN_FAULT_PAUSE_MARKER=<file>`` it writes the stage there and resumes when the file is
deleted (``Settings.fault_pause_at``). Never set in production.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embeddings.progress import report as report_progress
from indexer.journal import WriterBusy
from service.answering.engine import LLMEndpoint, QAEngine, engine_for

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.faults import Pause
    from indexer.readers.base import Limits
    from indexer.search import Searcher
    from indexer.update import Change, UpdateResult
    from indexer.writer import LiveIndex
    from service.answering.faq import FaqMatcher
    from zhiwen.settings import Settings

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 2.0
# On start, pending journal entries wait this long for a CLI writer to finish.
STARTUP_LOCK_TIMEOUT_S = 30.0


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


def load_model(settings: Settings) -> Embedder:
    """The embedding model every knowledge base shares, loaded and warmed up. Slow: seconds."""
    from embeddings import load_embedder

    limit_threads(settings.inference_threads)
    embedder = load_embedder(settings.model, cache_path=settings.cache_path)
    embedder.warm_up()
    return embedder


def load_engine(settings: Settings, embedder: Embedder | None = None) -> QAEngine:
    """Load the embedder (warmed up), the index and the composers. Slow: seconds.

    Raises ``IndexLoadError`` / ``ModelNotFoundError`` with a message fit for /readyz.
    """
    from indexer.store import load_index, read_meta

    read_meta(settings.index_dir)  # a missing or unreadable index fails before the model loads
    if embedder is None:  # (another knowledge base's, when given: one model for all)
        embedder = load_model(settings)
    searcher = load_index(settings.index_dir, embedder, vector_search=settings.vector_index_params())
    return engine_for(embedder, searcher, settings.composer, llm_endpoint(settings),
                      faq_matcher(settings, embedder))


def make_live_index(settings: Settings, embedder: Any, pause: Pause | None = None) -> LiveIndex:
    """The writer over ``settings.corpus_dir`` / ``settings.index_dir`` with the build settings."""
    from indexer.tokenize import read_user_words
    from indexer.writer import LiveIndex

    words: list[str] = []
    if settings.user_words_path:
        words = read_user_words(Path(settings.user_words_path).read_text(encoding="utf-8"))
    return LiveIndex(
        corpus_dir=Path(settings.corpus_dir),
        index_dir=Path(settings.index_dir),
        embedder=embedder,
        max_chars=settings.chunk_max_chars,
        overlap=settings.chunk_overlap,
        user_words=words,
        vector_index=settings.vector_index_params(),
        pause=pause,
        lock_timeout=settings.write_lock_timeout_s,
        limits=settings.reader_limits(),
    )


def upload_limits(limits: Limits) -> dict[str, Any]:
    """What GET /v1/index says an upload may be (the chat page's upload box reads it)."""
    from indexer.readers import SUFFIXES

    return {"formats": sorted(SUFFIXES), "max_text_bytes": limits.max_text_bytes,
            "max_file_bytes": limits.max_file_bytes, "max_pdf_pages": limits.max_pages,
            "max_image_pixels": limits.max_pixels, "ocr": limits.ocr}


class EngineHolder:
    """The engine new requests take, swapped whole when the index changes (both backends)."""

    _engine: QAEngine

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
        from indexer.snapshots import snapshot_version

        return snapshot_version(self.current.meta)

    @contextlib.contextmanager
    def curating(self) -> Iterator[None]:
        """Around a change of the curated answers; a base that is never deleted needs no guard."""
        yield


class KnowledgeBaseGone(Exception):
    """A write to a knowledge base that is being deleted (409) or was deleted (404)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class KnowledgeBase(EngineHolder):
    """Holds the current engine for readers and applies changes, one writer at a time.

    Reads never wait for a write: they take :attr:`engine` (one reference) while a write builds
    the next snapshot beside it and swaps it in at the end."""

    unavailable = ""  # the local index is on this machine: it does not go away (cf. MilvusKnowledgeBase)
    name = "default"  # (KnowledgeBases names the others)

    def __init__(
        self,
        live: LiveIndex,
        engine: QAEngine,
        *,
        writes_enabled: bool = False,
        on_publish: Callable[[QAEngine], None] | None = None,
    ) -> None:
        self.live = live
        self._engine = engine
        self.writes_enabled = writes_enabled
        self._on_publish = on_publish
        self._write_lock = threading.Lock()
        self._curate_lock = threading.Lock()  # curated-answer (FAQ) changes: a delete waits for them too
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._bad_snapshot: Path | None = None
        self.last_change: dict[str, Any] | None = None
        self._gone = ""  # "deleting" / "deleted": writes are refused (see retire)

    @property
    def corpus_dir(self) -> Path | None:
        """Where the original report files are."""
        return self.live.corpus_dir

    # -- writes ---------------------------------------------------------------------------------
    def apply(self, changes: Sequence[Change]) -> UpdateResult:
        """Store and index ``changes``; readers switch to the new snapshot when it is live.

        Raises ``UpdateError`` subclasses (nothing stored), ``WriterBusy`` when another writer
        holds the index for longer than the lock timeout, ``IndexLoadError`` if the index on
        disk became unusable."""
        timeout = self.live.lock_timeout
        start = time.monotonic()
        self._check_not_gone()
        if not self._write_lock.acquire(timeout=timeout):
            raise WriterBusy("another write to the index is in progress; retry in a few seconds")
        try:
            self._check_not_gone()  # (a delete may have begun while this write waited)
            remaining = max(0.0, timeout - (time.monotonic() - start))
            result = self.live.apply(changes, base=self.current, lock_timeout=remaining)
            if result.searcher is not None:
                report_progress("publish")
                self._publish(result.searcher)
            if result.changed:
                self.last_change = {
                    "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "files": dict(result.files),
                    "version": result.version,
                }
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
        if not self._curate_lock.acquire(timeout=self.live.lock_timeout):
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
        in flight to finish, then stop for good (no writes, no snapshot watcher). Raises
        ``WriterBusy`` when the write in flight outlasts ``timeout`` (writes are taken again)."""
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

    # -- snapshots written by other processes ---------------------------------------------------
    def refresh(self) -> bool:
        """Load the snapshot the index link points at if it is not the one served (another
        process wrote it); True when it was swapped in. A snapshot that fails verification is
        not served: the old one stays, and the problem is logged once."""
        from indexer.snapshots import current_snapshot, verify_checksums
        from indexer.store import IndexLoadError, load_index

        live = current_snapshot(self.live.index_dir)
        if live is None or self._serves(live) or live == self._bad_snapshot:
            return False
        if not self._write_lock.acquire(blocking=False):
            return False  # our own write is swapping it in
        try:
            live = current_snapshot(self.live.index_dir)
            if live is None or self._serves(live):
                return False
            try:
                verify_checksums(live)
                searcher = load_index(live, self.live.embedder, vector_search=self.live.vector_index)
            except IndexLoadError as exc:
                self._bad_snapshot = live
                log.error("not serving the new index snapshot %s: %s", live.name, exc)
                return False
            self._publish(searcher)
            log.info("picked up index snapshot %s written by another process", live.name)
            return True
        finally:
            self._write_lock.release()

    def _serves(self, snapshot: Path) -> bool:
        path = self.current.path
        return path is not None and Path(path).resolve() == snapshot

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

    # -- status ---------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What GET /v1/index shows."""
        searcher = self.current
        meta = searcher.meta
        try:
            pending = len(self.live.pending())
        except OSError:
            pending = -1
        return {
            "version": self.version,
            "previous_version": meta.get("previous_snapshot"),
            "model": meta.get("model"),
            "dim": meta.get("dim"),
            "format_version": meta.get("format_version"),
            "reports": len(searcher.reports),
            "chunks": len(searcher.chunks),
            "sources": len(meta.get("sources") or {}),
            "skipped": dict(meta.get("skipped") or {}),
            "updated_at": meta.get("created_at"),
            "last_change": meta.get("last_change"),
            "pending_changes": pending,
            "writes_enabled": self.writes_enabled,
            "uploads": self.upload_limits(),
        }

    def upload_limits(self) -> dict[str, Any]:
        return upload_limits(self.live.limits)


def open_knowledge_base(
    settings: Settings, on_publish: Callable[[QAEngine], None] | None = None, embedder: Embedder | None = None
) -> KnowledgeBase:
    """Start-up: verify and load the index, roll forward interrupted changes, start watching for
    snapshots other processes write. Slow (loads the model); raises ``IndexLoadError`` /
    ``ModelNotFoundError`` with a message fit for /readyz. ``on_publish`` is called with each
    engine that replaces the live one. (On ``ZHIWEN_BACKEND=milvus`` the service opens a
    :class:`~service.milvus_kb.MilvusKnowledgeBase` instead, with the same interface.)"""
    from indexer.errors import UpdateError
    from indexer.snapshots import verify_checksums

    # a truncated or corrupted file is named before the model loads (and before it misleads)
    verify_checksums(settings.index_dir)
    engine = load_engine(settings, embedder)
    _seed(settings)
    from indexer.faults import fault_pause

    pause = fault_pause(settings.fault_pause_at, settings.fault_pause_marker)
    live = make_live_index(settings, engine.embedder, pause)
    kb = KnowledgeBase(live, engine, writes_enabled=bool(settings.api_keys), on_publish=on_publish)
    try:
        # (without the test pause hook: it stops writes, not the recovery from a killed one)
        result = dataclasses.replace(live, pause=None).replay(
            base=engine.searcher, lock_timeout=STARTUP_LOCK_TIMEOUT_S
        )
    except WriterBusy as exc:
        log.warning("not replaying the journal now (%s); the writer holding the lock will", exc)
    except UpdateError as exc:
        log.error("interrupted changes could not be rolled forward: %s", exc)
    else:
        if result is not None and result.searcher is not None:
            log.warning("rolled forward %d interrupted change(s): index %s -> %s",
                        len(result.replayed), result.previous_version, result.version)
            kb._publish(result.searcher)
    _warn_on_drift(live, kb.current.meta)
    kb.start_watching()
    return kb


def _seed(settings: Settings) -> None:
    """Create the corpus folder from the seed folder on first start (``indexer.corpus``)."""
    from indexer.corpus import SeedError, seed_corpus

    try:
        seed_corpus(settings.corpus_dir, settings.seed_dir)
    except SeedError as exc:
        log.error("%s", exc)


def _warn_on_drift(live: LiveIndex, meta: dict[str, Any]) -> None:
    """Say so on start when the corpus folder is not what the index was built from (a wrong
    ZHIWEN_CORPUS_DIR, or files changed without `zhiwen index`): writes would then mix the two."""
    from indexer.corpus import scan_corpus

    if not live.corpus_dir.is_dir():
        log.warning("corpus folder %s does not exist: write endpoints will answer 503 until it does",
                    live.corpus_dir)
        return
    found, indexed = scan_corpus(live.corpus_dir), dict(meta.get("sources") or {})
    differ = sorted(n for n in set(found) | set(indexed) if found.get(n) != indexed.get(n))
    if differ:
        log.warning(
            "the index is not up to date with the corpus folder %s: %d file(s) differ (%s); "
            "run `zhiwen index` to update it", live.corpus_dir, len(differ), ", ".join(differ[:5]),
        )
