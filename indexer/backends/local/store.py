"""The index on disk: a self-describing directory, written atomically, checked on load.

Layout (``FORMAT_VERSION`` 1)::

    meta.json      format_version, model, dim, normalized, chunker, tokenizer, corpus hash,
                   sources (file -> sha256), counts, created_at, vector_index (the kind built,
                   its knobs and the parameters asked for; absent before: today's defaults)
    reports.jsonl  one report a line (doc_id, title, text, meta)
    chunks.jsonl   one chunk a line, in FAISS-id / BM25-row order
    dense.faiss    FAISS index (inner product, ids = chunk ordinals)
    sentences.npy  float16 vectors of every chunk's sentences, chunk after chunk (small-to-big:
                   a chunk's dense score is its best sentence's when that beats the chunk's)
    bm25/          bm25s files (its params.index.json reloads it with the same k1, b)
    userdict.txt   the jieba user words the BM25 tokens were made with

plus ``checksums.json`` (size and SHA-256 of each file). This module writes and reads the files of
one index folder; :mod:`indexer.backends.local.snapshots` makes such a folder a durable snapshot and publishes it
(``index_dir`` is a symlink to ``<name>.snapshots/<id>``), so a crash leaves either the old or
the new index, never half of one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer.errors import IndexLoadError
from indexer.types import (
    Chunk,
    Report,
    chunk_from_json,
    chunk_to_json,
    report_from_json,
    report_to_json,
)

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.retrieval.dense import VectorIndexParams
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILES = ("meta.json", "reports.jsonl", "chunks.jsonl", "dense.faiss", "sentences.npy", "bm25", "userdict.txt")


# -- (de)serialisation --------------------------------------------------------------------------
def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise IndexLoadError(f"{path.name}: line {n} is not valid JSON ({exc.msg})") from exc
    return rows


# -- writing ------------------------------------------------------------------------------------
def write_files(
    folder: Path,
    snapshot_id: str,
    *,
    reports: Sequence[Report],
    chunks: Sequence[Chunk],
    vectors: npt.NDArray[np.float32],
    sentence_vectors: npt.NDArray[np.float32] | None = None,
    token_lists: Sequence[list[str]],
    user_words: Sequence[str],
    meta: dict[str, Any],
    vector_index: VectorIndexParams | None = None,
) -> None:
    """Write the files of a complete index into the empty ``folder`` (see the layout above);
    :func:`indexer.backends.local.snapshots.write_snapshot` makes it durable and names it ``snapshot_id``.
    ``vector_index``: which FAISS index to build (default: ``VectorIndexParams()``)."""
    from indexer.retrieval.dense import DEFAULT_PARAMS, DenseIndex
    from indexer.retrieval.keyword import KeywordIndex
    from indexer.text.tokenize import Tokenizer

    if len(chunks) != len(vectors) or len(chunks) != len(token_lists):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors / {len(token_lists)} token lists")
    n_sentences = sum(len(c.sentences) for c in chunks)
    if sentence_vectors is None:
        sentence_vectors = np.zeros((n_sentences, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32)
    if len(sentence_vectors) != n_sentences:
        raise ValueError(f"{n_sentences} chunk sentences but {len(sentence_vectors)} sentence vectors")
    folder = Path(folder)
    _write_jsonl(folder / "reports.jsonl", (report_to_json(r) for r in reports))
    _write_jsonl(folder / "chunks.jsonl", (chunk_to_json(c) for c in chunks))
    params = vector_index or DEFAULT_PARAMS
    dense = DenseIndex.build(vectors, params=params)
    dense.save(folder / "dense.faiss")
    built = dense.kind
    with (folder / "sentences.npy").open("wb") as fh:
        np.save(fh, np.asarray(sentence_vectors, np.float16), allow_pickle=False)
    tokenizer = Tokenizer(user_words)
    KeywordIndex.build(token_lists, tokenizer).save(folder / "bm25")
    (folder / "userdict.txt").write_text("\n".join(tokenizer.user_words) + "\n", encoding="utf-8")
    meta = {
        **meta,
        "format_version": FORMAT_VERSION,
        "normalized": True,
        "metric": "inner_product",
        "counts": {"reports": len(reports), "chunks": len(chunks), "sentences": n_sentences},
        "dim": int(vectors.shape[1]) if vectors.ndim == 2 and len(vectors) else meta.get("dim"),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "snapshot": snapshot_id,
        "vector_index": params.record(built, len(vectors)),
    }
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")


# -- reading ------------------------------------------------------------------------------------
def read_meta(index_dir: Path) -> dict[str, Any]:
    """meta.json of an index, or IndexLoadError naming what is wrong."""
    path = Path(index_dir) / "meta.json"
    if not Path(index_dir).exists():
        raise IndexLoadError(f"index directory {index_dir} does not exist; build it with `zhiwen index`")
    if not path.is_file():
        raise IndexLoadError(f"meta.json: missing in {index_dir}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"meta.json: unreadable ({exc})") from exc
    if not isinstance(meta, dict):
        raise IndexLoadError("meta.json: expected a JSON object")
    found = meta.get("format_version")
    if found != FORMAT_VERSION:
        raise IndexLoadError(
            f"meta.json: format_version expected {FORMAT_VERSION}, found {found!r}; rebuild with `zhiwen index --force`"
        )
    return meta


def read_reports(index_dir: Path) -> list[Report]:
    """The reports an index holds, without loading its model or vectors (an evaluation that
    rebuilds the index without some of them)."""
    root = Path(index_dir).resolve()
    read_meta(root)
    if not (root / "reports.jsonl").exists():
        raise IndexLoadError(f"reports.jsonl: missing in {root}")
    return [report_from_json(r) for r in _read_jsonl(root / "reports.jsonl")]


def read_chunks(index_dir: Path) -> list[Chunk]:
    """The chunks an index holds, in vector-row order."""
    return [chunk_from_json(c) for c in _read_jsonl(Path(index_dir).resolve() / "chunks.jsonl")]


def load_index(
    index_dir: Path, embedder: Embedder, *, check_model: bool = True,
    vector_search: VectorIndexParams | None = None,
) -> Searcher:
    """Load and verify an index: every file present and readable, counts agree, model/dim match,
    the FAISS file is of the kind meta.json records. ``vector_search``: search-time knobs
    (efSearch, nprobe) to apply instead of those the index was built with.
    (An index in Milvus is opened by :func:`indexer.backends.milvus.view.open_searcher`.)"""
    from indexer.retrieval.dense import DenseIndex, recorded
    from indexer.retrieval.keyword import KeywordIndex
    from indexer.retrieval.search import Searcher
    from indexer.text.tokenize import Tokenizer, read_user_words

    root = Path(index_dir).resolve()
    meta = read_meta(root)
    for name in FILES:
        if not (root / name).exists():
            raise IndexLoadError(f"{name}: missing in {root}")
    if check_model and meta.get("model") != embedder.name:
        raise IndexLoadError(
            f"meta.json: model expected {embedder.name!r} (configured), found {meta.get('model')!r} "
            f"(index built with it); rebuild with `zhiwen index --force` or configure that model"
        )
    counts = meta.get("counts") or {}
    reports = [report_from_json(r) for r in _read_jsonl(root / "reports.jsonl")]
    chunks = [chunk_from_json(c) for c in _read_jsonl(root / "chunks.jsonl")]
    _expect("reports.jsonl", "reports", counts.get("reports"), len(reports))
    _expect("chunks.jsonl", "chunks", counts.get("chunks"), len(chunks))
    try:
        dense = DenseIndex.load(root / "dense.faiss")
    except Exception as exc:  # FAISS raises RuntimeError with C++ text for any corruption
        raise IndexLoadError(f"dense.faiss: unreadable ({str(exc).splitlines()[0][:200]})") from exc
    _expect("dense.faiss", "vectors", len(chunks), dense.size)
    if "vector_index" in meta:  # older indexes record none: whatever kind their file holds
        _expect("dense.faiss", "vector index kind (meta.json)", recorded(meta)["kind"], dense.kind)
    if vector_search is not None:
        dense.set_search(vector_search)
    try:
        sentence_vectors = np.load(root / "sentences.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"sentences.npy: unreadable ({exc})") from exc
    _expect("sentences.npy", "sentence vectors", sum(len(c.sentences) for c in chunks), len(sentence_vectors))
    if len(sentence_vectors):
        _expect("sentences.npy", "dimension", dense.dim, sentence_vectors.shape[1])
    if check_model:
        dim = embedder.dim
        _expect("dense.faiss", "dimension (model " + embedder.name + ")", dim, dense.dim)
        _expect("meta.json", "dim", dim, meta.get("dim"))
    try:
        user_words = read_user_words((root / "userdict.txt").read_text(encoding="utf-8"))
        keyword = KeywordIndex.load(root / "bm25", Tokenizer(user_words), len(chunks))
    except (OSError, ValueError, KeyError) as exc:
        raise IndexLoadError(f"bm25: unreadable ({exc})") from exc
    _expect("bm25", "documents", len(chunks), keyword.num_docs)
    doc_ids = {r.doc_id for r in reports}
    orphans = {c.doc_id for c in chunks} - doc_ids
    if orphans:
        raise IndexLoadError(f"chunks.jsonl: chunks of unknown reports {sorted(orphans)[:5]}")
    return Searcher(reports, chunks, keyword, dense, embedder, meta, path=root, sentence_vectors=sentence_vectors)


def _expect(file: str, what: str, expected: Any, found: Any) -> None:
    if expected != found:
        raise IndexLoadError(f"{file}: {what} expected {expected}, found {found}")
