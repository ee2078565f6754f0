"""The knowledge base on ``ZHIWEN_BACKEND=milvus``: the index lives in Milvus, the API node keeps
nothing on disk, and any number of nodes serve and write the same index.

Reads: :class:`~indexer.milvus.MilvusView` holds the visible reports in memory and a searcher
whose BM25 and vector searches go to Milvus. A watcher polls the store's ``live`` rows every
``WATCH_INTERVAL_S`` and swaps in a new engine when another node changed a report (fetching only
that report). Writes: :class:`~indexer.milvus_index.MilvusWriter` (stage, switch, sweep), then
the view is refreshed at once, so the writing node answers from its change when it returns.

When Milvus does not answer, the node says so instead of failing obscurely: ``/readyz`` and every
``/v1/*`` route answer 503 naming the engine (``unavailable``), and the watcher keeps trying;
the first poll that reaches Milvus again clears it, without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.errors import BackendUnavailable
from indexer.journal import WriterBusy
from service.answering.engine import QAEngine, engine_for
from service.kb import EngineHolder, faq_matcher, limit_threads, llm_endpoint, upload_limits

if TYPE_CHECKING:
    from indexer.milvus import MilvusView
    from indexer.milvus_index import MilvusWriter
    from indexer.milvus_store import MilvusConnection
    from indexer.readers.base import Limits
    from indexer.update import Change, UpdateResult
    from zhiwen.settings import Settings

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 2.0


class MilvusKnowledgeBase(EngineHolder):
    """The engine over a Milvus view, the writer into the store, and the engine's availability."""

    corpus_dir: Path | None = None  # original files are not kept: Milvus is no blob store

    def __init__(self, conn: MilvusConnection, view: MilvusView, writer: MilvusWriter, engine: QAEngine, *,
                 limits: Limits, writes_enabled: bool = False, lock_timeout: float = 5.0,
                 on_publish: Callable[[QAEngine], None] | None = None) -> None:
        self.conn = conn
        self.view = view
        self.writer = writer
        self._engine = engine
        self.limits = limits
        self.writes_enabled = writes_enabled
        self.lock_timeout = lock_timeout  # how long a write waits for this node's other write
        self._on_publish = on_publish
        self._write_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.unavailable = ""  # why Milvus cannot be used now ("" when it can)
        self.last_change: dict[str, Any] | None = None

    def mark_unavailable(self, exc: BaseException) -> None:
        if not self.unavailable:
            log.error("%s", exc)
        self.unavailable = str(exc)

    # -- reads --------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Serve what the store shows now; True when the engine changed. Marks the engine
        unavailable (and raises nothing) when Milvus does not answer, and clears that once it does."""
        with self._refresh_lock:
            try:
                searcher = self.view.refresh()
            except BackendUnavailable as exc:
                self.mark_unavailable(exc)
                return False
            if self.unavailable:
                log.warning("Milvus at %s answers again", self.conn.config.uri)
                self.unavailable = ""
            if searcher is None:
                return False
            self._engine = self._engine.with_searcher(searcher)
            if self._on_publish is not None:
                self._on_publish(self._engine)
            return True

    def start_watching(self, interval: float = WATCH_INTERVAL_S) -> None:
        def watch() -> None:
            while not self._stop.wait(interval):
                try:
                    if self.refresh():
                        log.info("picked up a change another node made: %d reports", len(self.current.reports))
                except Exception:  # a watcher must survive anything one poll runs into
                    log.exception("index watcher failed; retrying")

        self._watcher = threading.Thread(target=watch, name="zhiwen-milvus-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self.conn.close()

    # -- writes -------------------------------------------------------------------------------
    def apply(self, changes: Sequence[Change]) -> UpdateResult:
        """Write ``changes`` into Milvus and serve them. One writer per node (other nodes write
        concurrently: per report, the later write wins; see :mod:`indexer.milvus_store`)."""
        import dataclasses

        if not self._write_lock.acquire(timeout=self.lock_timeout):
            raise WriterBusy("another write to the index is in progress; retry in a few seconds")
        try:
            previous = self.version
            try:
                result = self.writer.apply(changes)
            except BackendUnavailable as exc:
                self.mark_unavailable(exc)
                raise
            self.refresh()
            self.last_change = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": dict(result.files),
                                "version": self.version}
            log.info("index %s -> %s: %s (+%d chunks, %.1fs)", previous, self.version,
                     ", ".join(f"{n} {a}" for n, a in result.files.items()), result.chunks_added, result.seconds)
            return dataclasses.replace(result, version=self.version, previous_version=previous,
                                       reports=len(self.current.reports), chunks=len(self.current.chunks),
                                       searcher=self.current)
        finally:
            self._write_lock.release()

    # -- status -------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        searcher = self.current
        meta = searcher.meta
        return {
            "version": self.version,
            "previous_version": None,
            "model": meta.get("model"),
            "dim": meta.get("dim"),
            "format_version": meta.get("store_format"),
            "reports": len(searcher.reports),
            "chunks": len(searcher.chunks),
            "sources": len(meta.get("sources") or {}),
            "skipped": {},
            "updated_at": None,
            "last_change": self.last_change,
            "pending_changes": 0,
            "writes_enabled": self.writes_enabled,
            "uploads": self.upload_limits(),
            "backend": "milvus",
        }

    def upload_limits(self) -> dict[str, Any]:
        return upload_limits(self.limits)


def open_milvus_knowledge_base(settings: Settings,
                               on_publish: Callable[[QAEngine], None] | None = None) -> MilvusKnowledgeBase:
    """Start-up on the Milvus backend: connect, load the model, read the visible reports. Raises
    ``BackendUnavailable`` (Milvus does not answer) or ``IndexLoadError`` (no index there, or
    one built with another model) with a message fit for /readyz."""
    from embeddings import load_embedder
    from indexer.milvus import MilvusView
    from indexer.milvus_index import MilvusWriter
    from indexer.milvus_store import MilvusConnection, MilvusStore

    conn = MilvusConnection(settings.milvus_config())
    try:
        store = MilvusStore(conn)
        store.meta()  # no index there: say so before the model loads
        limit_threads(settings.inference_threads)
        embedder = load_embedder(settings.model, cache_path=settings.cache_path)
        embedder.warm_up()
        view = MilvusView(store, embedder)
        searcher = view.refresh()
        assert searcher is not None
        writer = MilvusWriter.open(store, embedder, settings.reader_limits())
    except BaseException:
        conn.close()
        raise
    engine = engine_for(embedder, searcher, settings.composer, llm_endpoint(settings),
                        faq_matcher(settings, embedder))
    kb = MilvusKnowledgeBase(conn, view, writer, engine, limits=settings.reader_limits(),
                             writes_enabled=bool(settings.api_keys), lock_timeout=settings.write_lock_timeout_s,
                             on_publish=on_publish)
    kb.start_watching()
    return kb
