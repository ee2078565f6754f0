"""Indexing into the Milvus store: a folder, incrementally (``zhiwen index --backend milvus``), and
live adds, replaces and deletes (the API on ``ZHIWEN_BACKEND=milvus``).

Both go through :class:`MilvusWriter`: read and parse a file as the local indexer does, chunk,
embed, tokenize with the store's tokenizer, then the store's stage → switch → sweep protocol
(:mod:`indexer.backends.milvus.store`), one report at a time. Nothing is kept on local disk: the original
file's bytes are not stored (Milvus is no blob store), only its reports.

The tokenizer's dictionary is fixed when the store is created (the corpus's derived words plus
``--user-words``), unlike the local backend, which derives it again for every snapshot and
re-tokenizes every chunk: in Milvus that would rewrite every row on every change. Reports added
later are tokenized with the same dictionary, so BM25 stays consistent; ``--rebuild`` derives it
anew from the folder.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.backends.milvus.rows import LiveEntry, Staged, new_generation, stage_rows
from indexer.backends.milvus.store import MilvusStore, next_seq
from indexer.changes import Change, Holding, Put, UpdateResult, plan_changes, prepare
from indexer.errors import IndexMismatch, NothingToIndex
from indexer.faults import Pause, no_pause

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.ingest.readers.base import Limits
    from indexer.text.tokenize import Tokenizer
    from indexer.types import Report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    """One report version ready to write: its rows and its live entry."""

    entry: LiveEntry
    chunks: int
    rows: Staged


@dataclass
class MilvusWriter:
    """Writes reports into a store with its settings (model, chunker, tokenizer)."""

    store: MilvusStore
    embedder: Embedder
    tokenizer: Tokenizer
    limits: Limits | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    pause: Pause = no_pause  # crash tests only (indexer.faults)

    @classmethod
    def open(cls, store: MilvusStore, embedder: Embedder, limits: Limits | None = None,
             pause: Pause | None = None) -> MilvusWriter:
        from indexer.text.tokenize import Tokenizer

        meta = store.meta()
        if meta.get("model") != embedder.name:
            raise IndexMismatch(f"{store.where} was built with model {meta.get('model')!r}, not "
                                f"{embedder.name!r}; configure that model or rebuild the store")
        return cls(store, embedder, Tokenizer(store.user_words()), limits, meta, pause or no_pause)

    def versions(self, reports: Sequence[Report], source: str, digest: str, seq: int) -> list[Version]:
        """Chunk, embed and tokenize ``reports`` (of one file) into rows under new generations."""
        from indexer.embed import chunk_reports, embed_chunks_and_sentences, recorded_scheme

        chunker = self.meta.get("chunker") or {}
        scheme = recorded_scheme(self.meta)
        out = []
        for report in reports:
            chunks = chunk_reports(self.embedder, [report], max_chars=int(chunker.get("max_chars", 300)),
                                   overlap=int(chunker.get("overlap", 100)))
            vectors, sentences = (embed_chunks_and_sentences(self.embedder, chunks, scheme) if chunks
                                  else (_empty(self.embedder.dim), _empty(self.embedder.dim)))
            tokens = self.tokenizer.tokenize_many(c.index_text for c in chunks)
            gen = new_generation()
            rows = stage_rows(gen, report, chunks, tokens, vectors, sentences)
            out.append(Version(LiveEntry(report.doc_id, gen, seq, source, digest), len(chunks), rows))
        return out

    def write(self, versions: Sequence[Version], remove: Sequence[str] = ()) -> tuple[int, int]:
        """Stage every version, switch them (and hide ``remove``), sweep the replaced rows;
        (generations replaced, reports hidden)."""
        before = self.store.live()
        for v in versions:
            self.store.stage(v.rows)
        self.pause("after_snapshot_write")
        self.pause("before_swap")
        self.store.switch([v.entry for v in versions])
        hidden = [d for d in remove if d in before and d not in {v.entry.doc_id for v in versions}]
        self.store.hide(hidden)
        self.pause("after_swap")
        old = [before[v.entry.doc_id].gen for v in versions if v.entry.doc_id in before]
        self.store.sweep(old + [before[d].gen for d in hidden])
        return len(old), len(hidden)

    # -- live changes (the API) ---------------------------------------------------------------
    def apply(self, changes: Sequence[Change]) -> UpdateResult:
        """Add, replace or delete reports; raises an ``UpdateError`` before anything is written
        when a change cannot be made."""
        from indexer.ingest.corpus import parse_file

        t0 = time.perf_counter()
        payloads = prepare(changes, self.limits)
        live = self.store.live()
        parsed = {c.name: parse_file(c.name, payloads[c.name][1].text, payloads[c.name][1])
                  for c in changes if isinstance(c, Put)}
        held = Holding(frozenset(e.source for e in live.values() if e.source),
                       {d: e.source for d, e in live.items()})
        plan = plan_changes(changes, parsed, held)
        seq = next_seq(live)
        versions: list[Version] = []
        for name, reports in plan.writes.items():
            old = [live[r.doc_id].seq for r in reports if r.doc_id in live]
            digest = hashlib.sha256(payloads[name][0]).hexdigest()
            versions += self.versions(reports, name, digest, old[0] if old else seq)
            seq += 1
        remove = plan.removed_reports(held)
        files = dict(plan.files)
        self.write(versions, remove)
        new_ids = {v.entry.doc_id for v in versions}
        removed = set(remove) - new_ids
        return UpdateResult(
            version="", previous_version="", changed=True, files=files,
            reports_added=tuple(sorted(new_ids - set(live))),
            reports_updated=tuple(sorted(new_ids & set(live))),
            reports_removed=tuple(sorted(removed)),
            chunks_added=sum(v.chunks for v in versions),
            embedded=sum(v.chunks for v in versions),
            seconds=time.perf_counter() - t0,
        )


def _empty(dim: int) -> Any:
    import numpy as np

    return np.zeros((0, dim), np.float32)


@dataclass(frozen=True)
class FolderSync:
    """What :func:`index_folder` did."""

    created: bool  # the store was (re)created
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    removed: tuple[str, ...]
    skipped: dict[str, str]
    reports: int
    chunks: int
    swept: int
    seconds: float


def index_folder(store: MilvusStore, corpus_dir: Path, embedder: Embedder, *, max_chars: int, overlap: int,
                 user_words: Sequence[str] = (), limits: Limits | None = None, rebuild: bool = False,
                 progress: bool = False) -> FolderSync:
    """Bring ``store`` in line with the report files of ``corpus_dir``: files whose digest changed
    are read and written again, files gone are removed, the rest left alone. Creates the store
    (deriving the dictionary from the folder, as the local build does) when it has none, or
    when ``rebuild``. Abandoned rows of crashed writers are swept."""
    from indexer.embed import progress_bar, recorded_scheme, sentence_scheme
    from indexer.ingest.corpus import read_reports, scan_corpus
    from indexer.params import build_params, recorded_params
    from indexer.text.tokenize import Tokenizer, derive_user_words

    t0 = time.perf_counter()
    corpus_dir = Path(corpus_dir)
    found = scan_corpus(corpus_dir)
    created = rebuild or not store.exists() or _absent(store)
    # an existing store keeps the sentence-vector scheme it records
    scheme = sentence_scheme(embedder) if created else recorded_scheme(store.meta())
    params = build_params(embedder.name, max_chars, overlap, user_words, scheme)
    live = {} if created else store.live()
    if not created and recorded_params(store.meta()) != params:
        raise IndexMismatch(f"{store.where} was built with other parameters ({store.meta().get('params')}) "
                            f"than configured ({params}); rebuild it with `zhiwen index --backend milvus --rebuild`")
    indexed = {e.source: e.digest for e in live.values()}
    changed = sorted(n for n, d in found.items() if indexed.get(n) != d)
    gone = sorted(set(indexed) - set(found))
    reports, skipped = read_reports(corpus_dir, changed, digests={n: found[n] for n in changed}, limits=limits)
    if created:
        if not reports:
            raise NothingToIndex(f"{corpus_dir}: no readable report files")
        places = [p for r in reports for p in r.meta.get("places", []) if isinstance(p, str)]
        words = sorted(set(derive_user_words((r.text for r in reports), places)) | set(user_words))
        meta = {"model": embedder.name, "params": params, "chunker": {"max_chars": max_chars, "overlap": overlap},
                "dim": embedder.dim, "bm25": {"k1": 1.2, "b": 0.75}, "normalized": True,
                "tokenizer": {"kind": "jieba-search", "user_words": len(words),
                              "fingerprint": Tokenizer(words).fingerprint}}
        store.create(meta, words)
    writer = MilvusWriter.open(store, embedder, limits)
    by_file: dict[str, list[Report]] = {}
    for r in reports:
        by_file.setdefault(str(r.meta.get("source", "")), []).append(r)
    seq = next_seq(live)
    added: list[str] = []
    replaced: list[str] = []
    chunks = 0
    for name in progress_bar(changed, progress, "files"):
        if name not in by_file:
            continue
        versions = writer.versions(by_file[name], name, found[name], seq)
        seq += 1
        writer.write(versions, [e.doc_id for e in live.values() if e.source == name])
        chunks += sum(v.chunks for v in versions)
        (replaced if name in indexed else added).append(name)
    removed = [e.doc_id for e in live.values() if e.source in gone]
    if removed:
        writer.write([], removed)
    swept = store.sweep_orphans()
    now = store.live()
    log.info("%s: %d files added, %d replaced, %d removed, %d skipped; %d reports", store.where,
             len(added), len(replaced), len(gone), len(skipped), len(now))
    return FolderSync(created, tuple(added), tuple(replaced), tuple(gone), dict(skipped), len(now), chunks,
                      swept, time.perf_counter() - t0)


def _absent(store: MilvusStore) -> bool:
    from indexer.errors import IndexLoadError

    try:
        store.meta()
    except IndexLoadError:
        return True
    return False


__all__ = ["FolderSync", "MilvusWriter", "index_folder"]
