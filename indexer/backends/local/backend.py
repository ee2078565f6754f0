"""The local backend: a corpus folder of report files and an index folder of snapshots beside it,
written by :class:`~indexer.backends.local.writer.LiveIndex` (journal, writer lock, atomic swap)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.backends.base import BackendConfig, BackendKind, RepairReport, SyncReport
from indexer.errors import WriterBusy
from indexer.ingest.readers.base import Limits

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.backends.local.writer import LiveIndex
    from indexer.changes import Change, UpdateResult
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)

# On start, pending journal entries wait this long for a CLI writer to finish.
STARTUP_LOCK_TIMEOUT_S = 30.0


class LocalBackend:
    """The index folder ``config.index_dir`` over the report files of ``config.corpus_dir``."""

    kind: BackendKind = "local"

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.corpus_dir: Path | None = Path(config.corpus_dir)
        self.index_dir = Path(config.index_dir)
        self.where = str(self.index_dir)
        self.limits: Limits = config.limits
        self.lock_timeout = config.lock_timeout
        self._bad_snapshot: Path | None = None

    @classmethod
    def connect(cls, config: BackendConfig, *, require_index: bool = True) -> LocalBackend:
        """Name a truncated or corrupted index file now, before the model loads."""
        from indexer.backends.local.snapshots import verify_checksums
        from indexer.backends.local.store import read_meta
        from indexer.errors import IndexLoadError

        if require_index:
            try:
                read_meta(config.index_dir)
            except IndexLoadError:
                verify_checksums(config.index_dir)  # names the broken file when that is the cause
                raise
            verify_checksums(config.index_dir)
        return cls(config)

    def writer(self, embedder: Embedder, *, pause: bool = True) -> LiveIndex:
        from indexer.backends.local.writer import LiveIndex

        c = self.config
        return LiveIndex(corpus_dir=Path(c.corpus_dir), index_dir=self.index_dir, embedder=embedder,
                         max_chars=c.max_chars, overlap=c.overlap, user_words=c.user_words,
                         vector_index=c.vector_index, pause=c.pause if pause else None,
                         lock_timeout=c.lock_timeout, limits=c.limits, sentence_vectors=c.sentence_vectors)

    def load(self, embedder: Embedder, *, recover: bool = True) -> Searcher:
        from indexer.backends.local.store import load_index
        from indexer.errors import UpdateError

        searcher = load_index(self.index_dir, embedder, vector_search=self.config.vector_index)
        if not recover:
            return searcher
        try:
            # without the test pause hook: it stops writes, not the recovery from a killed one
            result = self.writer(embedder, pause=False).replay(base=searcher, lock_timeout=STARTUP_LOCK_TIMEOUT_S)
        except WriterBusy as exc:
            log.warning("not replaying the journal now (%s); the writer holding the lock will", exc)
        except UpdateError as exc:
            log.error("interrupted changes could not be rolled forward: %s", exc)
        else:
            if result is not None and result.searcher is not None:
                log.warning("rolled forward %d interrupted change(s): index %s -> %s",
                            len(result.replayed), result.previous_version, result.version)
                searcher = result.searcher
        self._warn_on_drift(searcher.meta)
        return searcher

    def apply(self, changes: Sequence[Change], current: Searcher | None, embedder: Embedder,
              lock_timeout: float) -> UpdateResult:
        return self.writer(embedder).apply(changes, base=current, lock_timeout=lock_timeout)

    def refresh(self, current: Searcher, embedder: Embedder) -> Searcher | None:
        """The snapshot the index link points at when it is not ``current`` (another process
        wrote it). One that fails verification is not served: it is logged once."""
        from indexer.backends.local.snapshots import current_snapshot, verify_checksums
        from indexer.backends.local.store import load_index
        from indexer.errors import IndexLoadError

        live = current_snapshot(self.index_dir)
        if live is None or _serves(current, live) or live == self._bad_snapshot:
            return None
        try:
            verify_checksums(live)
            searcher = load_index(live, embedder, vector_search=self.config.vector_index)
        except IndexLoadError as exc:
            self._bad_snapshot = live
            log.error("not serving the new index snapshot %s: %s", live.name, exc)
            return None
        log.info("picked up index snapshot %s written by another process", live.name)
        return searcher

    def exists(self) -> bool:
        return self.index_dir.exists()

    def destroy(self) -> None:
        pass  # the index folder is inside the knowledge base's folder

    def stores_beside(self) -> list[str]:
        return []  # local indexes are folders: their knowledge bases are found as folders

    def sync(self, embedder: Embedder, *, force: bool = False, progress: bool = False) -> SyncReport:
        """Under the writer lock, settling the journal (see :mod:`indexer.backends.local.writer`)."""
        s = self.writer(embedder, pause=False).rebuild(force=force, progress=progress)
        return SyncReport(reports=s.reports, chunks=s.chunks, sources=s.sources, embedded=s.embedded,
                          reused=s.reused, added=s.added, changed=s.changed, removed=s.removed,
                          skipped=dict(s.skipped), up_to_date=s.up_to_date, seconds=s.seconds)

    def up_to_date(self, model: str) -> bool:
        from indexer.backends.local.build import is_up_to_date
        from indexer.backends.local.store import read_meta
        from indexer.embed import DEFAULT_SENTENCE_VECTORS, recorded_scheme
        from indexer.errors import IndexLoadError
        from indexer.params import build_params

        c = self.config
        scheme = c.sentence_vectors
        if scheme is None:
            try:
                scheme = recorded_scheme(read_meta(self.index_dir))
            except IndexLoadError:
                scheme = DEFAULT_SENTENCE_VECTORS
        params = build_params(model, c.max_chars, c.overlap, c.user_words, scheme)
        return is_up_to_date(Path(c.corpus_dir), self.index_dir, params, c.vector_index)

    def repair(self, embedder: Embedder, *, progress: bool = False) -> RepairReport:
        return self.writer(embedder, pause=False).repair(progress=progress)

    def pending(self) -> int:
        from indexer.backends.local.journal import Journal, journal_path

        try:
            return len(Journal(journal_path(self.index_dir)).pending())
        except OSError:
            return -1

    def info(self, current: Searcher) -> dict[str, Any]:
        meta = current.meta
        return {"previous_version": meta.get("previous_snapshot"), "format_version": meta.get("format_version"),
                "skipped": dict(meta.get("skipped") or {}), "updated_at": meta.get("created_at"),
                "last_change": meta.get("last_change"), "pending_changes": self.pending()}

    def close(self) -> None:
        pass

    def _warn_on_drift(self, meta: dict[str, Any]) -> None:
        """Say so on start when the corpus folder is not what the index was built from (a wrong
        ZHIWEN_CORPUS_DIR, or files changed without `zhiwen index`): writes would then mix the two."""
        from indexer.ingest.corpus import scan_corpus

        corpus = Path(self.config.corpus_dir)
        if not corpus.is_dir():
            log.warning("corpus folder %s does not exist: write endpoints will answer 503 until it does", corpus)
            return
        found, indexed = scan_corpus(corpus), dict(meta.get("sources") or {})
        differ = sorted(n for n in set(found) | set(indexed) if found.get(n) != indexed.get(n))
        if differ:
            log.warning("the index is not up to date with the corpus folder %s: %d file(s) differ (%s); "
                        "run `zhiwen index` to update it", corpus, len(differ), ", ".join(differ[:5]))


def _serves(current: Searcher, snapshot: Path) -> bool:
    path = current.path
    return path is not None and Path(path).resolve() == snapshot


__all__ = ["STARTUP_LOCK_TIMEOUT_S", "LocalBackend"]
