"""Build or update an index from a folder of reports, redoing only what changed.

Incremental rules: a file is identified by its path relative to the corpus folder and its
SHA-256. When the chunker parameters and model are unchanged, reports and vectors of unchanged
files are reused from the current index; only new or changed files are read, chunked and
embedded (and the embedding cache skips chunks whose text was embedded before). BM25 is rebuilt
from tokens on every change because its statistics are corpus-wide. An unchanged corpus returns
at once without loading the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.embed import (
    recorded_scheme,
    sentence_scheme,
)
from indexer.errors import NothingToIndex
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.params import build_params, recorded_params
from indexer.types import Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.ingest.readers import Limits
    from indexer.retrieval.dense import VectorIndexParams

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class BuildStats:
    sources: int
    reports: int
    chunks: int
    embedded: int  # texts sent to the model (cache and reuse excluded)
    reused: int  # chunks taken over from the previous index
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # file -> reason
    up_to_date: bool = False
    seconds: float = 0.0
    path: str = ""


def is_up_to_date(corpus_dir: Path, index_dir: Path, params: dict[str, Any],
                  vector_index: VectorIndexParams | None = None) -> bool:
    """True when ``index_dir`` holds an index of exactly this corpus with these parameters (and
    this vector index, default ``VectorIndexParams()``)."""
    from indexer.backends.local.store import read_meta
    from indexer.errors import IndexLoadError
    from indexer.ingest.corpus import scan_corpus
    from indexer.retrieval.dense import DEFAULT_PARAMS, same_build

    try:
        meta = read_meta(index_dir)
    except IndexLoadError:
        return False
    return (recorded_params(meta) == params and meta.get("sources") == scan_corpus(corpus_dir)
            and same_build(meta, vector_index or DEFAULT_PARAMS))


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    user_words: Sequence[str] = (),
    force: bool = False,
    progress: bool = False,
    vector_index: VectorIndexParams | None = None,
    limits: Limits | None = None,
    sentence_vectors: str | None = None,
) -> BuildStats:
    """Index every report file under ``corpus_dir`` into ``index_dir`` (incrementally) and publish
    it; a file over ``limits`` is skipped with the reason. ``vector_index``: which FAISS index
    (default ``VectorIndexParams()``); an index built with other build-time parameters is rebuilt
    from its stored vectors. ``sentence_vectors`` is the scheme (default: the one the index
    records, else :func:`indexer.embed.sentence_scheme`'s); an index built with another
    one is rebuilt, never mixed. Raises :class:`~indexer.errors.NothingToIndex` when no file yields a report."""
    from indexer.backends.local.assembly import Kept, assemble_snapshot, kept_from_snapshot
    from indexer.backends.local.store import read_meta
    from indexer.embed import progress_bar
    from indexer.errors import IndexLoadError
    from indexer.ingest.corpus import read_reports, scan_corpus
    from indexer.retrieval.dense import DEFAULT_PARAMS, same_build

    t0 = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    sources = scan_corpus(corpus_dir)
    old_meta: dict[str, Any] | None
    try:
        old_meta = read_meta(index_dir)
    except IndexLoadError:
        old_meta = None
    vector_index = vector_index or DEFAULT_PARAMS
    if sentence_vectors is None and old_meta is not None and old_meta.get("model") == embedder.name:
        sentence_vectors = recorded_scheme(old_meta)  # only an explicit choice changes it
    params = build_params(embedder.name, max_chars, overlap, user_words,
                          sentence_scheme(embedder, sentence_vectors))
    if (not force and old_meta and recorded_params(old_meta) == params and old_meta.get("sources") == sources
            and same_build(old_meta, vector_index)):
        counts = old_meta.get("counts", {})
        return BuildStats(
            len(sources), counts.get("reports", 0), counts.get("chunks", 0), 0, counts.get("chunks", 0),
            skipped=dict(old_meta.get("skipped", {})), up_to_date=True,
            seconds=time.perf_counter() - t0, path=str(index_dir),
        )

    old_sources: dict[str, str] = dict(old_meta.get("sources", {})) if old_meta else {}
    reusable = old_meta is not None and not force and recorded_params(old_meta) == params
    keep = {name for name, digest in sources.items() if reusable and old_sources.get(name) == digest}
    added = tuple(sorted(set(sources) - set(old_sources)))
    changed = tuple(sorted(n for n in sources if n in old_sources and old_sources[n] != sources[n]))
    removed = tuple(sorted(set(old_sources) - set(sources)))

    kept, skipped = Kept(), {}
    if keep and old_meta is not None:
        kept = kept_from_snapshot(index_dir, keep)
        skipped = {k: v for k, v in old_meta.get("skipped", {}).items() if k in keep}
    todo = [name for name in sources if name not in keep]
    taken = {r.doc_id: str(r.meta.get("source", "")) for r in kept.reports}
    reading = (lambda items: progress_bar(items, True, "reading")) if progress else None
    new_reports, unreadable = read_reports(corpus_dir, todo, progress=reading,
                                           taken=taken, limits=limits)
    try:
        built = assemble_snapshot(index_dir, embedder, kept, new_reports, params=params, sources=sources,
                                  skipped=skipped | unreadable, user_words=user_words,
                                  vector_index=vector_index, progress=progress)
    except NothingToIndex:
        raise NothingToIndex(_nothing_readable(corpus_dir, sources, unreadable)) from None
    _publish(index_dir, built.path)
    return BuildStats(
        len(sources), len(built.reports), built.chunks, built.embedded, len(kept.chunks), added, changed,
        removed, skipped | unreadable, False, time.perf_counter() - t0, str(built.path),
    )


def build_index_from_reports(
    reports: Sequence[Report],
    index_dir: Path,
    embedder: Embedder,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    user_words: Sequence[str] = (),
    progress: bool = False,
    vector_index: VectorIndexParams | None = None,
    sentence_vectors: str | None = None,
) -> BuildStats:
    """Index reports that are already parsed (benchmarks, evaluation): chunk, embed, publish."""
    from indexer.backends.local.assembly import Kept, assemble_snapshot

    t0 = time.perf_counter()
    params = build_params(embedder.name, max_chars, overlap, user_words, sentence_scheme(embedder, sentence_vectors))
    built = assemble_snapshot(index_dir, embedder, Kept(), reports,
                              params=params,
                              sources={}, skipped={}, user_words=user_words, vector_index=vector_index,
                              progress=progress)
    _publish(index_dir, built.path)
    return BuildStats(0, len(built.reports), built.chunks, built.embedded, 0,
                      seconds=time.perf_counter() - t0, path=str(built.path))


def _nothing_readable(corpus_dir: Path, sources: dict[str, str], unreadable: dict[str, str]) -> str:
    from indexer.ingest.readers import SUFFIXES

    if not sources:
        return (f"nothing to index in {corpus_dir}: no report files "
                f"({' '.join(sorted(SUFFIXES))})")
    shown = "; ".join(f"{name}: {reason}" for name, reason in sorted(unreadable.items())[:3])
    more = f"; and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
    return (f"nothing to index in {corpus_dir}: none of its {len(sources)} files holds readable "
            f"report text" + (f" ({shown}{more})" if shown else ""))


def _publish(index_dir: Path, snapshot: Path) -> None:
    from indexer.backends.local.snapshots import prune, publish

    publish(index_dir, snapshot)
    prune(index_dir)
