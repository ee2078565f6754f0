"""Copy a local index snapshot into Milvus, without embedding anything again.

The chunk vectors come from ``dense.faiss`` and the sentence vectors from ``sentences.npy``; the
BM25 tokens are made again with the snapshot's own tokenizer (``userdict.txt``) from each chunk's
``index_text``, exactly as :func:`indexer.backends.local.assembly.assemble_snapshot` made them for bm25s, and
checked against the snapshot's BM25 index before anything is written. The store's layout is
described in :mod:`indexer.backends.milvus.store`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer.backends.milvus.connection import MilvusConfig, MilvusConnection
from indexer.backends.milvus.rows import (
    EMPTY_DOCUMENT,
    LiveEntry,
    StoreNames,
    new_generation,
    stage_rows,
)
from indexer.backends.milvus.store import MilvusStore
from indexer.errors import IndexLoadError

if TYPE_CHECKING:
    from indexer.retrieval.keyword import KeywordIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migrated:
    """What :func:`migrate` did."""

    collections: StoreNames
    reports: int
    chunks: int
    sentences: int
    copied: bool  # False: the collections were already complete and were left as they were
    seconds: float


def bm25_tokens(index_dir: Path) -> tuple[list[list[str]], KeywordIndex]:
    """The BM25 token lists of a snapshot's chunks, made again with its tokenizer, and its bm25s
    index; ``IndexLoadError`` when they do not reproduce that index (documents, distinct terms)."""
    from indexer.backends.local.store import read_chunks
    from indexer.retrieval.keyword import KeywordIndex
    from indexer.text.tokenize import Tokenizer, read_user_words

    root = Path(index_dir).resolve()
    chunks = read_chunks(root)
    tokenizer = Tokenizer(read_user_words((root / "userdict.txt").read_text(encoding="utf-8")))
    keyword = KeywordIndex.load(root / "bm25", tokenizer, len(chunks))
    token_lists = [tokens or [EMPTY_DOCUMENT] for tokens in tokenizer.tokenize_many(c.index_text for c in chunks)]
    method = getattr(keyword.bm25, "method", "lucene")
    if method != "lucene":
        raise IndexLoadError(f"bm25: method expected 'lucene' (what Milvus computes), found {method!r}")
    pairs = sum(len(set(tokens)) for tokens in token_lists)
    stored = len(keyword.bm25.scores["data"])
    if keyword.num_docs != len(token_lists) or pairs != stored:
        raise IndexLoadError(
            f"bm25: the snapshot's tokenizer does not reproduce its BM25 index (documents expected "
            f"{keyword.num_docs}, found {len(token_lists)}; document-term pairs expected {stored}, "
            f"found {pairs})"
        )
    return token_lists, keyword


def migrate(index_dir: Path, uri: str, token: str = "", prefix: str = "zhiwen", *,
            timeout_s: float = 10.0, replace: bool = False) -> Migrated:
    """Copy the snapshot at ``index_dir`` into the Milvus at ``uri`` (collections named from
    ``prefix`` and the snapshot's version). Complete collections are left alone unless
    ``replace``; incomplete ones (an interrupted copy) are dropped and written again."""
    with MilvusConnection(MilvusConfig(uri, token, prefix, timeout_s)) as conn:
        return copy_snapshot(conn, index_dir, replace=replace)


def store_meta(meta: dict[str, Any], keyword: KeywordIndex, dim: int) -> dict[str, Any]:
    """What a store keeps of a snapshot's meta.json: the settings its rows were made with."""
    keep = ("model", "params", "chunker", "tokenizer", "pipeline_version", "format_version")
    return {**{k: meta[k] for k in keep if k in meta}, "dim": dim,
            "bm25": {"k1": float(keyword.bm25.k1), "b": float(keyword.bm25.b)}}


def copy_snapshot(conn: MilvusConnection, index_dir: Path, *, replace: bool = False) -> Migrated:
    """:func:`migrate` over an open connection. Each report is staged under its own generation
    and all become visible together at the end, so an interrupted copy shows nothing and is
    simply done again; a complete copy of the same snapshot is left as it is, and a store holding
    another index is replaced only with ``replace``."""
    from indexer.backends.local.store import read_chunks, read_meta, read_reports
    from indexer.params import snapshot_version
    from indexer.retrieval.dense import DenseIndex
    from indexer.text.tokenize import read_user_words

    started = time.monotonic()
    root = Path(index_dir).resolve()
    meta = read_meta(root)
    version = snapshot_version(meta)
    store = MilvusStore(conn)
    reports = read_reports(root)
    chunks = read_chunks(root)
    n_sentences = sum(len(c.sentences) for c in chunks)
    if store.exists():
        held = store.meta().get("snapshot")
        if held == version and len(store.live()) == len(reports) and \
                conn.row_count(store.names.chunks) == len(chunks):
            log.info("%s already holds snapshot %s", store.where, root.name)
            return Migrated(store.names, len(reports), len(chunks), n_sentences, False, time.monotonic() - started)
        if held != version and not replace and store.live():
            raise IndexLoadError(f"{store.where} holds another index (snapshot {held}); "
                                 "replace it with `zhiwen migrate --replace`")

    token_lists, keyword = bm25_tokens(root)
    vectors = DenseIndex.load(root / "dense.faiss").all_vectors()
    sentences: npt.NDArray[np.float32] = np.asarray(
        np.load(root / "sentences.npy", mmap_mode="r", allow_pickle=False), np.float32)
    if len(vectors) != len(chunks) or len(sentences) != n_sentences:
        raise IndexLoadError(f"{root}: {len(chunks)} chunks / {n_sentences} sentences but "
                             f"{len(vectors)} chunk vectors / {len(sentences)} sentence vectors")
    store.create({**store_meta(meta, keyword, int(vectors.shape[1])), "snapshot": version},
                 read_user_words((root / "userdict.txt").read_text(encoding="utf-8")))
    sources = dict(meta.get("sources") or {})
    rows_of: dict[str, list[int]] = {}
    for i, chunk in enumerate(chunks):
        rows_of.setdefault(chunk.doc_id, []).append(i)
    sentence_start = np.concatenate([[0], np.cumsum([len(c.sentences) for c in chunks])]).astype(np.int64)
    # reports in the order of their first chunk: the store numbers chunks as the snapshot does
    order = sorted(reports, key=lambda r: (rows_of.get(r.doc_id, [len(chunks)])[0], r.doc_id))
    entries = []
    for seq, report in enumerate(order):
        rows = rows_of.get(report.doc_id, [])
        sent_rows = np.concatenate([np.arange(sentence_start[i], sentence_start[i + 1]) for i in rows]) \
            if rows else np.zeros(0, np.int64)
        gen = new_generation()
        source = str(report.meta.get("source", ""))
        store.stage(stage_rows(gen, report, [chunks[i] for i in rows],
                               [[t for t in token_lists[i] if t != EMPTY_DOCUMENT] for i in rows],
                               vectors[rows], sentences[sent_rows]))
        entries.append(LiveEntry(report.doc_id, gen, seq, source, str(sources.get(source, ""))))
    store.switch(entries)
    for name in (store.names.chunks, store.names.sentences):
        conn.client.flush(name, timeout=conn.timeout)
    found = (conn.row_count(store.names.chunks), conn.row_count(store.names.sentences))
    if found != (len(chunks), n_sentences):
        raise IndexLoadError(f"Milvus: rows expected {(len(chunks), n_sentences)}, found {found} after copying")
    seconds = time.monotonic() - started
    log.info("copied snapshot %s into %s (%d reports, %d chunks, %d sentences) in %.1fs",
             root.name, store.where, len(reports), len(chunks), n_sentences, seconds)
    return Migrated(store.names, len(reports), len(chunks), n_sentences, True, seconds)
