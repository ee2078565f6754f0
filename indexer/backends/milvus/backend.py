"""The Milvus backend: the index lives in Milvus collections (:mod:`indexer.backends.milvus.store`), the
node keeps nothing on disk, and any number of nodes serve and write the same index.

Reads: :class:`~indexer.backends.milvus.view.MilvusView` holds the visible reports in memory and a searcher whose
BM25 and vector searches go to Milvus; :meth:`MilvusBackend.refresh` polls the store's ``live``
rows and fetches only the reports another node changed. Writes:
:class:`~indexer.backends.milvus.writer.MilvusWriter` (stage, switch, sweep), then the view is refreshed at
once, so the writing node answers from its change when it returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.backends.base import BackendConfig, BackendKind, RepairReport, SyncReport
from indexer.ingest.readers.base import Limits

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.backends.milvus.connection import MilvusConnection
    from indexer.backends.milvus.store import MilvusStore
    from indexer.backends.milvus.view import MilvusView
    from indexer.backends.milvus.writer import MilvusWriter
    from indexer.changes import Change, UpdateResult
    from indexer.retrieval.search import Searcher


class MilvusBackend:
    """The collections ``<prefix>_*`` of the Milvus at ``config.milvus``."""

    kind: BackendKind = "milvus"
    corpus_dir: Path | None = None  # original files are not kept: Milvus is no blob store

    def __init__(self, config: BackendConfig, conn: MilvusConnection, store: MilvusStore) -> None:
        self.config = config
        self.conn = conn
        self.store = store
        self.where = store.where
        self.limits: Limits = config.limits
        self.lock_timeout = config.lock_timeout
        self._view: MilvusView | None = None
        self._writer: MilvusWriter | None = None

    @classmethod
    def connect(cls, config: BackendConfig, *, require_index: bool = True) -> MilvusBackend:
        """Connect; with ``require_index``, an index must be there (``IndexLoadError`` before
        the model loads), and ``BackendUnavailable`` when Milvus does not answer."""
        from indexer.backends.milvus.connection import MilvusConnection
        from indexer.backends.milvus.store import MilvusStore

        if config.milvus is None:
            raise ValueError("the Milvus backend needs a Milvus to use (ZHIWEN_MILVUS_URI)")
        conn = MilvusConnection(config.milvus)
        try:
            store = MilvusStore(conn)
            if require_index:
                store.meta()
        except BaseException:
            conn.close()
            raise
        return cls(config, conn, store)

    def _writer_for(self, embedder: Embedder) -> MilvusWriter:
        from indexer.backends.milvus.writer import MilvusWriter

        if self._writer is None or self._writer.embedder is not embedder:
            self._writer = MilvusWriter.open(self.store, embedder, self.limits, self.config.pause)
        return self._writer

    def _view_for(self, embedder: Embedder) -> MilvusView:
        from indexer.backends.milvus.view import MilvusView

        if self._view is None or self._view.embedder is not embedder:
            self._view = MilvusView(self.store, embedder)
        return self._view

    def load(self, embedder: Embedder, *, recover: bool = True) -> Searcher:
        searcher = _visible(self._view_for(embedder))
        self._writer_for(embedder)  # a store built with another model fails now, not at the first write
        return searcher

    def apply(self, changes: Sequence[Change], current: Searcher | None, embedder: Embedder,
              lock_timeout: float) -> UpdateResult:
        """One writer per node (other nodes write concurrently: per report, the later write
        wins; see :mod:`indexer.backends.milvus.store`)."""
        from indexer.params import snapshot_version

        # a searcher being served means the store exists (no two Milvus calls per write to ask)
        result = (self._writer_for(embedder).apply(changes) if current is not None or self.exists()
                  else self._create(changes, embedder))
        searcher = _visible(self._view_for(embedder))
        return dataclasses.replace(
            result, version=snapshot_version(searcher.meta),
            previous_version=snapshot_version(current.meta) if current is not None else "",
            reports=len(searcher.reports), chunks=len(searcher.chunks), searcher=searcher)

    def _create(self, changes: Sequence[Change], embedder: Embedder) -> UpdateResult:
        """A new store holding the reports of ``changes`` (a knowledge base's first write): the
        uploads are checked as any change's are, then built as ``zhiwen index`` builds a folder
        (the tokenizer's dictionary derived from them)."""
        import tempfile

        from indexer.backends.milvus.writer import index_folder
        from indexer.changes import Delete, UpdateResult, prepare
        from indexer.errors import DocumentNotFound

        for change in changes:
            if isinstance(change, Delete):
                raise DocumentNotFound(f"unknown document: {change.doc_id}")
        payloads = prepare(changes, self.limits)
        c = self.config
        with tempfile.TemporaryDirectory(prefix="zhiwen-kb-") as tmp:
            for name, (data, _extracted) in payloads.items():
                (Path(tmp) / name).write_bytes(data)
            done = index_folder(self.store, Path(tmp), embedder, max_chars=c.max_chars, overlap=c.overlap,
                                user_words=c.user_words, limits=self.limits, rebuild=True)
        self._writer = self._view = None  # (the store was created: read its settings afresh)
        added = tuple(sorted(_visible(self._view_for(embedder)).reports))
        return UpdateResult(version="", previous_version="", changed=True, reports_added=added,
                            files={n: "created" for n in payloads}, chunks_added=done.chunks,
                            embedded=done.chunks, seconds=done.seconds)

    def refresh(self, current: Searcher, embedder: Embedder) -> Searcher | None:
        return self._view_for(embedder).refresh()

    def exists(self) -> bool:
        from indexer.errors import IndexLoadError

        if not self.store.exists():
            return False
        try:
            self.store.meta()
        except IndexLoadError:
            return False
        return True

    def destroy(self) -> None:
        self.store.drop()

    def stores_beside(self) -> list[str]:
        return self.store.prefixes()

    def sync(self, embedder: Embedder, *, force: bool = False, progress: bool = False) -> SyncReport:
        """Incremental, and sweeps what crashed writers left; ``force`` creates the store again
        (a new tokenizer dictionary from the folder, every report embedded again)."""
        from indexer.backends.milvus.writer import index_folder

        c = self.config
        done = index_folder(self.store, Path(c.corpus_dir), embedder, max_chars=c.max_chars, overlap=c.overlap,
                            user_words=c.user_words, limits=self.limits, rebuild=force, progress=progress)
        self._writer = self._view = None
        changed = bool(done.added or done.replaced or done.removed or done.created)
        files = len({e.source for e in self.store.live().values() if e.source})
        return SyncReport(reports=done.reports, chunks=done.chunks, sources=files, embedded=done.chunks,
                          added=done.added, changed=done.replaced, removed=done.removed,
                          skipped=dict(done.skipped), up_to_date=not changed, seconds=done.seconds,
                          notes=(f"{'created' if done.created else 'updated'} {self.where}",
                                 f"{done.swept} abandoned versions swept"))

    def up_to_date(self, model: str) -> bool:
        from indexer.embed import recorded_scheme
        from indexer.ingest.corpus import scan_corpus
        from indexer.params import build_params, recorded_params

        if not self.exists():
            return False
        meta = self.store.meta()
        c = self.config
        params = build_params(model, c.max_chars, c.overlap, c.user_words, recorded_scheme(meta))
        sources = {e.source: e.digest for e in self.store.live().values() if e.source}
        return recorded_params(meta) == params and sources == scan_corpus(Path(c.corpus_dir))

    def repair(self, embedder: Embedder, *, progress: bool = False) -> RepairReport:
        """A write is staged, switched and swept, so nothing is left half-visible: repairing is
        sweeping the rows crashed writers abandoned and syncing with the folder."""
        from indexer.params import snapshot_version

        done = self.sync(embedder, progress=progress)
        searcher = self.load(embedder)
        actions = [*done.notes[1:]]
        if not done.up_to_date:
            actions.append(f"brought the index up to date with the corpus (+{len(done.added)} "
                           f"~{len(done.changed)} -{len(done.removed)} files)")
        return RepairReport(tuple(actions), snapshot_version(searcher.meta), len(searcher.reports),
                            len(searcher.chunks))

    def pending(self) -> int:
        return 0  # a write is staged, switched and swept: nothing is left to roll forward

    def info(self, current: Searcher) -> dict[str, Any]:
        return {"previous_version": None, "format_version": current.meta.get("store_format"),
                "skipped": {}, "updated_at": None, "last_change": None, "pending_changes": 0}

    def close(self) -> None:
        self.conn.close()


def _visible(view: MilvusView) -> Searcher:
    """The searcher over what the store shows now (the one served when nothing changed)."""
    searcher = view.refresh() or view.searcher
    assert searcher is not None  # (a refresh of a new view always builds one)
    return searcher


__all__ = ["MilvusBackend"]
