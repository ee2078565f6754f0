"""One way to make an index snapshot: the rows kept from an earlier index plus new reports.

The full build (:func:`indexer.backends.local.build.build_index`), the incremental build and live changes
(:func:`indexer.backends.local.update.apply_update`) all go through :func:`assemble_snapshot`: it chunks and
embeds only the new reports, takes the kept chunks' vectors over unchanged, rebuilds BM25 over
everything (its statistics are corpus-wide), assembles ``meta.json`` and writes a complete
snapshot that is *not yet live*; the caller verifies and publishes it (:mod:`indexer.backends.local.snapshots`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer.embed import chunk_reports, embed_chunks_and_sentences
from indexer.errors import NothingToIndex
from indexer.types import Chunk, Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.retrieval.dense import VectorIndexParams
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Kept:
    """Reports and chunks taken over from an earlier index, with their vectors (row-aligned)."""

    reports: list[Report] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    vectors: npt.NDArray[np.float32] | None = None
    sentence_vectors: npt.NDArray[np.float32] | None = None
    max_tokens: int | None = None  # the chunker's token limit when they were chunked


@dataclass(frozen=True)
class Assembled:
    """A written snapshot (not yet live) and what went into it."""

    path: Path
    reports: list[Report]
    chunks: int
    new_chunks: int
    embedded: int  # texts sent to the model (the embedding cache excluded)


def kept_from_snapshot(index_dir: Path, sources: Collection[str]) -> Kept:
    """The rows of the reports of corpus files ``sources`` in the index at ``index_dir``, read
    straight from its files (no BM25 or model loaded)."""
    from indexer.backends.local.store import read_chunks, read_meta, read_reports
    from indexer.retrieval.dense import DenseIndex

    root = Path(index_dir).resolve()
    reports = [r for r in read_reports(root) if r.meta.get("source") in sources]
    ids = {r.doc_id for r in reports}
    all_chunks = read_chunks(root)
    rows = np.array([i for i, c in enumerate(all_chunks) if c.doc_id in ids], dtype=np.int64)
    if not len(rows):
        return Kept(reports)
    offsets = np.concatenate([[0], np.cumsum([len(c.sentences) for c in all_chunks])]).astype(np.int64)
    old_sentences = np.load(root / "sentences.npy", mmap_mode="r", allow_pickle=False)
    sentence_rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in rows])
    return Kept(reports, [all_chunks[i] for i in rows], DenseIndex.load(root / "dense.faiss").vectors(rows),
                np.asarray(old_sentences[sentence_rows], np.float32), _max_tokens(read_meta(root)))


def kept_from_searcher(searcher: Searcher, drop_sources: Collection[str]) -> Kept:
    """Every row of a loaded index except the reports of corpus files ``drop_sources``."""
    reports = [r for r in searcher.reports.values() if r.meta.get("source") not in drop_sources]
    if searcher.dense is None:
        raise ValueError("a searcher over Milvus has no local vectors to keep")
    ids = {r.doc_id for r in reports}
    rows = np.array([i for i, c in enumerate(searcher.chunks) if c.doc_id in ids], dtype=np.int64)
    if not len(rows):
        return Kept(reports, max_tokens=_max_tokens(searcher.meta))
    return Kept(reports, [searcher.chunks[i] for i in rows], searcher.dense.vectors(rows),
                searcher.sentence_vectors_for(rows), _max_tokens(searcher.meta))


def assemble_snapshot(
    index_dir: Path,
    embedder: Embedder,
    kept: Kept,
    new_reports: Sequence[Report],
    *,
    params: Mapping[str, Any],
    sources: Mapping[str, str],
    skipped: Mapping[str, str],
    user_words: Sequence[str] = (),
    vector_index: VectorIndexParams | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> Assembled:
    """Write a new snapshot of ``index_dir`` holding ``kept`` plus ``new_reports`` (chunked and
    embedded here); raises ``ValueError`` when two reports share an id and
    :class:`~indexer.errors.NothingToIndex` when there is no chunk at all."""
    from indexer.backends.local.snapshots import write_snapshot
    from indexer.backends.local.store import write_files
    from indexer.ingest.corpus import corpus_hash
    from indexer.text.tokenize import Tokenizer, derive_user_words

    reports = [*kept.reports, *new_reports]
    check_unique(reports)
    max_tokens = embedder.max_seq_length if new_reports else kept.max_tokens
    chunker = params["chunker"]
    new_chunks = chunk_reports(embedder, new_reports, max_chars=chunker["max_chars"],
                               overlap=chunker["overlap"], progress=progress)
    before = embedder.model_calls
    vectors = [v for v in (kept.vectors,) if v is not None and len(v)]
    sentence_vectors = [v for v in (kept.sentence_vectors,) if v is not None and len(v)]
    if new_chunks:
        chunk_part, sentence_part = embed_chunks_and_sentences(
            embedder, new_chunks, params.get("sentence_vectors", "separate"), progress=progress)
        vectors.append(chunk_part)
        sentence_vectors.append(sentence_part)
    embedded = embedder.model_calls - before
    chunks = [*kept.chunks, *new_chunks]
    if not chunks:
        raise NothingToIndex("the reports hold no text to index")

    places = [p for r in reports for p in r.meta.get("places", []) if isinstance(p, str)]
    words = sorted(set(derive_user_words((r.text for r in reports), places)) | set(user_words))
    tokenizer = Tokenizer(words)
    token_lists = tokenizer.tokenize_many(c.index_text for c in chunks)
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    sentences = np.concatenate(sentence_vectors) if sentence_vectors else np.zeros((0, matrix.shape[1]), np.float32)
    meta: dict[str, Any] = {
        "model": embedder.name,
        "params": dict(params),
        "sources": dict(sources),
        "corpus_hash": corpus_hash(sources) if sources else "",
        "skipped": dict(skipped),
        "chunker": dict(params["chunker"]) | {"max_tokens": max_tokens},
        **(extra_meta or {}),
        "dim": int(matrix.shape[1]) if len(matrix) else embedder.dim,
        "tokenizer": {"kind": "jieba-search", "user_words": len(words), "fingerprint": tokenizer.fingerprint},
    }
    path = write_snapshot(index_dir, lambda folder, snapshot_id: write_files(
        folder, snapshot_id, reports=reports, chunks=chunks, vectors=matrix, sentence_vectors=sentences,
        token_lists=token_lists, user_words=words, meta=meta, vector_index=vector_index,
    ))
    return Assembled(path, reports, len(chunks), len(new_chunks), embedded)


def check_unique(reports: Sequence[Report]) -> None:
    """``ValueError`` naming both files when two reports share an id."""
    seen: dict[str, str] = {}
    for r in reports:
        src = str(r.meta.get("source", ""))
        if r.doc_id in seen:
            raise ValueError(f"report id {r.doc_id!r} occurs twice ({seen[r.doc_id]} and {src})")
        seen[r.doc_id] = src


def _max_tokens(meta: Mapping[str, Any]) -> int | None:
    value = (meta.get("chunker") or {}).get("max_tokens")
    return int(value) if isinstance(value, int) else None
