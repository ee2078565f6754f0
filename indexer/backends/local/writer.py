"""The index writer: crash-safe changes to a corpus folder and its index, one writer at a time.

:class:`LiveIndex` is used by the HTTP service and by ``zhiwen add/remove/index``: under the
writer lock (:mod:`indexer.backends.local.journal`) it journals a change, stores the file durably, updates the
index (:func:`indexer.backends.local.update.apply_update`) and marks the change done. A crash at any point
leaves the old snapshot live and the change re-runnable: the next writer, the service on start
or ``zhiwen index --repair`` rolls pending journal entries forward. A change that *fails* (an
exception, not a crash) is rolled back: the previous file content is restored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.backends.base import RepairReport
from indexer.backends.local.journal import (
    Journal,
    JournalEntry,
    journal_path,
    writer_lock,
)
from indexer.backends.local.snapshots import (
    CHECKSUMS,
    cleanup,
    current_snapshot,
    prune,
    publish,
    snapshot_folders,
    snapshots_dir,
    verify_checksums,
    write_checksums,
)
from indexer.backends.local.update import apply_update
from indexer.changes import Change, Delete, Holding, Put, UpdateResult, plan_changes, prepare
from indexer.durable import remove_file_durably, remove_path, write_file_durably
from indexer.errors import CorpusUnavailable, IndexLoadError, InvalidDocument, WriterBusy
from indexer.faults import Pause
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.ingest.corpus import file_digest, parse_file
from indexer.ingest.readers.base import Limits
from indexer.params import snapshot_version
from indexer.types import Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.backends.local.build import BuildStats
    from indexer.ingest.readers import Extracted
    from indexer.retrieval.dense import VectorIndexParams
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)

__all__ = ["LiveIndex"]


@dataclass
class LiveIndex:
    """Crash-safe writes to a corpus folder and its index (one writer at a time)."""

    corpus_dir: Path
    index_dir: Path
    embedder: Embedder
    max_chars: int = DEFAULT_MAX_CHARS
    overlap: int = DEFAULT_OVERLAP
    user_words: Sequence[str] = ()
    vector_index: VectorIndexParams | None = None  # None: VectorIndexParams()
    pause: Pause | None = None
    lock_timeout: float = 5.0
    limits: Limits = field(default_factory=Limits)  # what one file may cost to read
    # sentence-vector scheme of a build (indexer.embed); None: the one the
    # index records (the default for a new index); changes always keep the recorded one
    sentence_vectors: str | None = None

    def __post_init__(self) -> None:
        self.corpus_dir = Path(self.corpus_dir)
        self.index_dir = Path(self.index_dir)

    @property
    def journal(self) -> Journal:
        return Journal(journal_path(self.index_dir))

    def _pause(self, stage: str) -> None:
        if self.pause is not None:
            self.pause(stage)

    def _update(self, names: Iterable[str], base: Searcher | None, **kw: Any) -> UpdateResult:
        return apply_update(
            self.corpus_dir, self.index_dir, self.embedder, names, base=base,
            max_chars=self.max_chars, overlap=self.overlap, user_words=self.user_words,
            vector_index=self.vector_index, pause=self.pause, limits=self.limits, **kw,
        )

    # -- changes --------------------------------------------------------------------------------
    def apply(self, changes: Sequence[Change], *, base: Searcher | None = None,
              lock_timeout: float | None = None) -> UpdateResult:
        """Store and index ``changes`` as one snapshot. Raises an :class:`UpdateError` (nothing
        stored), :class:`WriterBusy`, or ``IndexLoadError`` when the index is unusable."""
        from indexer.backends.local.store import load_index

        if not changes:
            raise InvalidDocument("no changes given")
        if not self.corpus_dir.is_dir():
            raise CorpusUnavailable(
                f"corpus folder {self.corpus_dir} does not exist; point ZHIWEN_CORPUS_DIR (or "
                "--corpus) at the folder the index was built from"
            )
        payloads = prepare(changes, self.limits)

        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            cleanup(self.index_dir, self.corpus_dir)
            live = current_snapshot(self.index_dir)
            if live is None:
                base = None  # no index yet: store the files, then build over the whole corpus
            elif base is None or base.path is None or Path(base.path).resolve() != live:
                verify_checksums(self.index_dir)
                base = load_index(self.index_dir, self.embedder, vector_search=self.vector_index)
            replay_ids, replay_names = self._roll_forward()
            plan, parsed = self._plan(changes, payloads, base, replay_names)
            entry = self.journal.begin(
                "put" if all(isinstance(c, Put) for c in changes) else "delete",
                {name: (hashlib.sha256(new).hexdigest() if new is not None else None)
                 for name, (new, _old) in plan.items()},
                doc_id=",".join(c.doc_id for c in changes)[:300],
                previous={name: (hashlib.sha256(old).hexdigest() if old is not None else None)
                          for name, (_data, old) in plan.items()},
            )
            try:
                for name, (content, _old) in plan.items():
                    if content is None:
                        remove_file_durably(self.corpus_dir / name)
                    else:
                        write_file_durably(self.corpus_dir / name, content)
                self._pause("after_store")
                if base is None:
                    result = self._first_build(plan)
                else:
                    result = self._update(
                        [*plan, *replay_names], base, parsed=parsed,
                        note={"doc_ids": [c.doc_id for c in changes],
                              "kind": "delete" if isinstance(changes[0], Delete) else "put"},
                    )
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise  # the process is going down: leave the entry for roll-forward
                self._roll_back(plan)
                self.journal.done([entry.op_id], "aborted")
                raise
            self.journal.done([entry.op_id, *replay_ids], result.version)
            self.journal.compact()
        return replace(result, replayed=tuple(replay_ids))

    def _first_build(self, plan: Mapping[str, tuple[bytes | None, bytes | None]]) -> UpdateResult:
        from indexer.backends.local.store import load_index

        stats = self._build(force=False, progress=False)
        searcher = load_index(self.index_dir, self.embedder, vector_search=self.vector_index)
        files = {n: ("deleted" if data is None else "created") for n, (data, _old) in plan.items()}
        return UpdateResult(snapshot_version(searcher.meta), "", True, files,
                            reports_added=tuple(sorted(searcher.reports)), chunks_added=stats.chunks,
                            embedded=stats.embedded, reports=stats.reports, chunks=stats.chunks,
                            skipped=dict(stats.skipped), seconds=stats.seconds, searcher=searcher)

    def _plan(self, changes: Sequence[Change], payloads: Mapping[str, tuple[bytes, Extracted]],
              base: Searcher | None, replay_names: set[str]
              ) -> tuple[dict[str, tuple[bytes | None, bytes | None]], dict[str, tuple[str, list[Report]]]]:
        """name -> (new bytes or None to delete, old bytes or None) and the parsed new reports;
        raises an :class:`UpdateError` when a change cannot be made (:mod:`indexer.changes`)."""
        parsed = {c.name: parse_file(c.name, payloads[c.name][1].text, payloads[c.name][1])
                  for c in changes if isinstance(c, Put)}
        owners = {r.doc_id: str(r.meta.get("source", "")) for r in base.reports.values()} if base else {}
        plan = plan_changes(changes, parsed, self._holding(owners), settled=replay_names)
        out: dict[str, tuple[bytes | None, bytes | None]] = {}
        for name in plan.writes:
            path = self.corpus_dir / name
            out[name] = (payloads[name][0], path.read_bytes() if path.is_file() else None)
        for name in plan.removes:
            out[name] = (None, (self.corpus_dir / name).read_bytes())
        return out, {n: (hashlib.sha256(payloads[n][0]).hexdigest(), list(r)) for n, r in plan.writes.items()}

    def _holding(self, owners: Mapping[str, str]) -> Holding:
        """The report files of the corpus folder (top level, and those the index says reports
        came from) and the index's report owners."""
        from indexer.ingest.readers import SUFFIXES

        top = {p.name for p in self.corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES}
        kept = {n for n in set(owners.values()) if n and (self.corpus_dir / n).is_file()}
        return Holding(frozenset(top | kept), owners)

    def _roll_back(self, plan: Mapping[str, tuple[bytes | None, bytes | None]]) -> None:
        for name, (_data, old) in plan.items():
            path = self.corpus_dir / name
            try:
                if old is None:
                    remove_file_durably(path)
                else:
                    write_file_durably(path, old)
            except OSError:
                log.exception("could not restore %s after a failed update", path)
        log.warning("update failed; restored %s", ", ".join(plan))

    def _roll_forward(self) -> tuple[list[str], set[str]]:
        """Finish the file operations of journal entries a crashed writer left pending; return
        their ids and the files whose index entries must be brought up to date."""
        pending = self.journal.pending()
        names: set[str] = set()
        for entry in pending:
            names |= _roll_forward_files(self.corpus_dir, entry)
        if pending:
            log.warning("rolling forward %d interrupted change(s): %s", len(pending),
                        ", ".join(sorted(names)))
        return [e.op_id for e in pending], names

    def replay(self, *, base: Searcher | None = None, lock_timeout: float | None = None) -> UpdateResult | None:
        """Roll forward the changes crashed writers left in the journal (None when there are
        none). The service calls this on start, before it reports ready."""
        if not self.journal.pending():
            try:  # tidy up if nobody is writing; never wait for that
                with writer_lock(self.index_dir, 0.0):
                    cleanup(self.index_dir, self.corpus_dir)
                    prune(self.index_dir)
            except WriterBusy:
                pass
            return None
        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            cleanup(self.index_dir, self.corpus_dir)
            ids, names = self._roll_forward()
            if not ids:
                return None
            result = self._update(names, base, note={"kind": "replay", "doc_ids": []})
            self.journal.done(ids, result.version)
            self.journal.compact()
            prune(self.index_dir)  # a writer killed after its swap never pruned
        return replace(result, replayed=tuple(ids))

    # -- bulk -----------------------------------------------------------------------------------
    def rebuild(self, *, force: bool = False, progress: bool = False,
                lock_timeout: float | None = None) -> BuildStats:
        """``zhiwen index``: the incremental bulk build, under the writer lock, settling the
        journal (a full build over the corpus subsumes every pending entry)."""
        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            cleanup(self.index_dir, self.corpus_dir)
            ids, _names = self._roll_forward()
            if not force and current_snapshot(self.index_dir) is not None:
                try:
                    verify_checksums(self.index_dir)
                except IndexLoadError as exc:
                    log.warning("current index fails verification (%s); rebuilding it", exc)
                    force = True
            stats = self._build(force=force, progress=progress)
            if ids:
                self.journal.done(ids, "rebuild")
                self.journal.compact()
        return stats

    def _build(self, *, force: bool, progress: bool) -> BuildStats:
        """The incremental build over the corpus folder (under the writer lock), sealed."""
        from indexer.backends.local.build import build_index

        stats = build_index(
            self.corpus_dir, self.index_dir, self.embedder, max_chars=self.max_chars,
            overlap=self.overlap, user_words=self.user_words, force=force,
            progress=progress, vector_index=self.vector_index, limits=self.limits,
            sentence_vectors=self.sentence_vectors,
        )
        self._seal()
        return stats

    def _seal(self) -> None:
        """Give the live snapshot its checksums if a plain build wrote it without."""
        live = current_snapshot(self.index_dir)
        if live is not None and not (live / CHECKSUMS).exists():
            write_checksums(live)

    def repair(self, *, progress: bool = False, lock_timeout: float | None = None) -> RepairReport:
        """``zhiwen index --repair``: drop leftovers of crashed writers, replay or discard the
        journal, fall back to the newest snapshot that verifies (or rebuild from the corpus when
        none does) and bring it up to date with the corpus."""
        from indexer.backends.local.store import load_index

        actions: list[str] = []
        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            removed = cleanup(self.index_dir, self.corpus_dir)
            if removed:
                actions.append(f"removed {len(removed)} leftover(s) of interrupted writes: {', '.join(removed)}")
            ids, names = self._roll_forward()
            if ids:
                actions.append(f"rolled forward {len(ids)} interrupted change(s) to {', '.join(sorted(names))}")
            live = current_snapshot(self.index_dir)
            problem = self._check(live)
            force = False
            if problem:
                actions.append(f"current index fails verification: {problem}")
                fallback = None
                for candidate in reversed(snapshot_folders(self.index_dir, but=live)):
                    reason = self._check(candidate)
                    if reason is None:
                        fallback = candidate
                        break
                    actions.append(f"snapshot {candidate.name} fails verification too: {reason}")
                if live is not None and live.parent == snapshots_dir(self.index_dir).resolve():
                    remove_path(live)
                    actions.append(f"removed broken snapshot {live.name}")
                if fallback is not None:
                    publish(self.index_dir, fallback)
                    actions.append(f"fell back to snapshot {fallback.name}")
                else:
                    force = True
                    actions.append("no snapshot verifies: rebuilding from the corpus")
            stats = self._build(force=force, progress=progress)
            if not stats.up_to_date:
                actions.append(
                    f"brought the index up to date with the corpus ({stats.embedded} chunks embedded, "
                    f"{stats.reused} reused)"
                )
            if ids:
                self.journal.done(ids, "repair")
            self.journal.compact()
            verify_checksums(self.index_dir)
            searcher = load_index(self.index_dir, self.embedder, vector_search=self.vector_index)
            prune(self.index_dir)
        if not actions:
            actions.append("nothing to repair: the index verifies and matches the corpus")
        return RepairReport(tuple(actions), snapshot_version(searcher.meta), len(searcher.reports),
                            len(searcher.chunks), force)

    def _check(self, snapshot: Path | None) -> str | None:
        """Why ``snapshot`` cannot be served, or None when it verifies."""
        from indexer.backends.local.store import load_index

        if snapshot is None or not snapshot.exists():
            return f"index directory {self.index_dir} does not exist"
        try:
            verify_checksums(snapshot)
            load_index(snapshot, self.embedder, vector_search=self.vector_index)
        except IndexLoadError as exc:
            return str(exc)
        return None

    # -- status ---------------------------------------------------------------------------------
    def pending(self) -> list[JournalEntry]:
        return self.journal.pending()


def _roll_forward_files(corpus_dir: Path, entry: JournalEntry) -> set[str]:
    """Finish the file side of a journal entry: a delete whose file is still there (with the
    content it had when the delete began) is done now; a put whose file write completed is
    kept, one that did not leaves the old file (its temp file is removed by ``cleanup``)."""
    names = set()
    for name, digest in entry.files.items():
        if not isinstance(name, str) or name.startswith("/") or ".." in Path(name).parts:
            log.warning("journal entry %s: ignored unsafe file name %r", entry.op_id, name)
            continue
        path = Path(corpus_dir) / name
        if digest is None and path.is_file():
            before = entry.previous.get(name)
            if before is None or file_digest(path) == before:
                remove_file_durably(path)
        names.add(name)
    return names
