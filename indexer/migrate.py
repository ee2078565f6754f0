"""Copy a local index snapshot into Milvus, without embedding anything again.

The chunk vectors come from ``dense.faiss`` and the sentence vectors from ``sentences.npy``; the
BM25 tokens are made again with the snapshot's own tokenizer (``userdict.txt``) from each chunk's
``index_text``, exactly as :func:`indexer.assembly.assemble_snapshot` made them for bm25s, and
checked against the snapshot's BM25 index before anything is written. The collection layout is
described in :mod:`indexer.milvus`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer.errors import IndexLoadError
from indexer.milvus import (
    EMPTY_DOCUMENT,
    CollectionNames,
    MilvusConfig,
    MilvusConnection,
    collection_names,
)

if TYPE_CHECKING:
    from indexer.keyword import KeywordIndex

log = logging.getLogger(__name__)

INSERT_BATCH = 512  # rows per insert call: well under gRPC's 64 MB message limit at dim 1024
MAX_TOKENS_BYTES = 65535  # Milvus' VARCHAR limit
MAX_DOC_ID_BYTES = 512


@dataclass(frozen=True)
class Migrated:
    """What :func:`migrate` did."""

    collections: CollectionNames
    chunks: int
    sentences: int
    copied: bool  # False: the collections were already complete and were left as they were
    seconds: float


def bm25_tokens(index_dir: Path) -> tuple[list[list[str]], KeywordIndex]:
    """The BM25 token lists of a snapshot's chunks, made again with its tokenizer, and its bm25s
    index; ``IndexLoadError`` when they do not reproduce that index (documents, distinct terms)."""
    from indexer.keyword import KeywordIndex
    from indexer.store import read_chunks
    from indexer.tokenize import Tokenizer, read_user_words

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


def _create(conn: MilvusConnection, names: CollectionNames, dim: int, k1: float, b: float) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    client, timeout = conn.client, conn.timeout
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    # a plain field: is_partition_key breaks every filter on Milvus Lite 2.5.1
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
    schema.add_field("tokens", DataType.VARCHAR, max_length=MAX_TOKENS_BYTES, enable_analyzer=True,
                     analyzer_params={"tokenizer": "whitespace"})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(Function(name="tokens_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["tokens"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"bm25_k1": k1, "bm25_b": b})
    index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    client.create_collection(names.chunks, schema=schema, index_params=index, consistency_level="Strong",
                             timeout=timeout)

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("chunk", DataType.INT64)
    schema.add_field("sentence", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    client.create_collection(names.sentences, schema=schema, index_params=index, consistency_level="Strong",
                             timeout=timeout)


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), INSERT_BATCH):
        yield rows[i : i + INSERT_BATCH]


def migrate(index_dir: Path, uri: str, token: str = "", prefix: str = "zhiwen", *,
            timeout_s: float = 10.0, replace: bool = False) -> Migrated:
    """Copy the snapshot at ``index_dir`` into the Milvus at ``uri`` (collections named from
    ``prefix`` and the snapshot's version). Complete collections are left alone unless
    ``replace``; incomplete ones (an interrupted copy) are dropped and written again."""
    with MilvusConnection(MilvusConfig(uri, token, prefix, timeout_s)) as conn:
        return copy_snapshot(conn, index_dir, replace=replace)


def copy_snapshot(conn: MilvusConnection, index_dir: Path, *, replace: bool = False) -> Migrated:
    """:func:`migrate` over an open connection."""
    from indexer.dense import DenseIndex
    from indexer.snapshots import snapshot_version
    from indexer.store import read_chunks, read_meta

    started = time.monotonic()
    root = Path(index_dir).resolve()
    meta = read_meta(root)
    names = collection_names(conn.config.prefix, snapshot_version(meta))
    chunks = read_chunks(root)
    n_sentences = sum(len(c.sentences) for c in chunks)
    have = (conn.row_count(names.chunks), conn.row_count(names.sentences))
    if have == (len(chunks), n_sentences) and not replace:
        log.info("Milvus collections %s already hold snapshot %s", names.chunks, root.name)
        return Migrated(names, len(chunks), n_sentences, False, time.monotonic() - started)

    token_lists, keyword = bm25_tokens(root)
    vectors = DenseIndex.load(root / "dense.faiss").all_vectors()
    sentences: npt.NDArray[np.float32] = np.asarray(
        np.load(root / "sentences.npy", mmap_mode="r", allow_pickle=False), np.float32)
    if len(vectors) != len(chunks) or len(sentences) != n_sentences:
        raise IndexLoadError(f"{root}: {len(chunks)} chunks / {n_sentences} sentences but "
                             f"{len(vectors)} chunk vectors / {len(sentences)} sentence vectors")
    dim = int(vectors.shape[1])
    chunk_rows = []
    for i, (chunk, tokens) in enumerate(zip(chunks, token_lists, strict=True)):
        text = " ".join(tokens)
        if len(text.encode()) > MAX_TOKENS_BYTES or len(chunk.doc_id.encode()) > MAX_DOC_ID_BYTES:
            raise ValueError(f"chunk {chunk.chunk_id}: its tokens or doc_id are too long for Milvus")
        chunk_rows.append({"id": i, "doc_id": chunk.doc_id, "tokens": text, "vector": vectors[i].tolist()})
    sentence_rows = []
    row = 0
    for i, chunk in enumerate(chunks):
        for j in range(len(chunk.sentences)):
            sentence_rows.append({"id": row, "chunk": i, "sentence": j, "vector": sentences[row].tolist()})
            row += 1

    client, timeout = conn.client, conn.timeout
    for name in (names.chunks, names.sentences):
        if client.has_collection(name, timeout=timeout):
            client.drop_collection(name, timeout=timeout)
    _create(conn, names, dim, float(keyword.bm25.k1), float(keyword.bm25.b))
    for name, rows in ((names.chunks, chunk_rows), (names.sentences, sentence_rows)):
        for batch in _batches(rows):
            client.insert(name, list(batch), timeout=timeout)
        client.flush(name, timeout=timeout)
    found = (conn.row_count(names.chunks), conn.row_count(names.sentences))
    if found != (len(chunks), n_sentences):
        raise IndexLoadError(f"Milvus: rows expected {(len(chunks), n_sentences)}, found {found} after copying")
    seconds = time.monotonic() - started
    log.info("copied snapshot %s into Milvus %s (%d chunks, %d sentences) in %.1fs",
             root.name, names.chunks, len(chunks), n_sentences, seconds)
    return Migrated(names, len(chunks), n_sentences, True, seconds)
