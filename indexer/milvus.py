"""The Milvus backend of the retrieval seam (issue 14): BM25 and vector searches in Milvus.

One index snapshot is two collections, named from a prefix and the snapshot's version
(:func:`collection_names`; :mod:`indexer.migrate` fills them):

* chunks — ``id`` (the chunk's row in ``chunks.jsonl``, INT64 primary key), ``doc_id``,
  ``tokens`` (our own jieba tokens, space-joined, read by a whitespace analyzer), ``sparse``
  (a BM25 function's output, never written by us) and ``vector`` (the chunk vector);
* sentences — ``id`` (the row in ``sentences.npy``), ``chunk`` and ``sentence`` (which sentence
  of which chunk) and ``vector``.

Scores agree with the local backend: Milvus' BM25 is (k1 + 1) × bm25s' "lucene" score over the
same tokens with corpus-wide statistics (the Milvus Lite probe of issue 14), so it is divided by
k1 + 1; inner products of normalised vectors are the cosines FAISS returns. Milvus Lite 2.5.1 is the
embedded engine: it runs the Milvus C++ core in a child process (``milvus_lite``), which
:meth:`MilvusConnection.close` stops. Every call carries a timeout, so a dead server fails a
search instead of hanging it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer.errors import IndexLoadError
from indexer.retrieval import Ids, Scores

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from indexer.keyword import KeywordIndex
    from indexer.search import Searcher
    from indexer.tokenize import Tokenizer
    from indexer.types import Chunk

log = logging.getLogger(__name__)

# Milvus refuses a search limit (topk) above this; longer id lists are asked in parts.
MAX_LIMIT = 16384
# BM25 top-k asks for this many more hits than it returns, then orders ties by chunk id as the
# local backend does (Milvus leaves the order of equal scores open).
TIE_MARGIN = 8
# Scores closer than this (relative) count as a tie: Milvus and bm25s round differently in float32.
TIE_TOLERANCE = 1e-5
# A document without tokens is indexed as this one token, as KeywordIndex.build does for bm25s
# (it changes the average document length, so Milvus must see it too).
EMPTY_DOCUMENT = "\x00"
_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
# Milvus Lite 2.5.1 opens a database file only if its name matches this (and is short).
_LITE_NAME = re.compile(r"^[a-zA-Z0-9.\-_]{1,36}$")


@dataclass(frozen=True)
class MilvusConfig:
    """Where the collections live and how long one call may take."""

    uri: str  # http://host:19530, or a Milvus Lite database file ending in .db
    token: str = ""
    prefix: str = "zhiwen"  # collection names start with it (letters, digits, _)
    timeout_s: float = 10.0  # per call; a dead server fails the call after this

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ValueError(f"Milvus collection prefix {self.prefix!r}: use letters, digits and _, "
                             "starting with a letter or _ (at most 100 characters)")
        if self.timeout_s <= 0:
            raise ValueError(f"Milvus timeout must be positive, got {self.timeout_s}")
        if is_lite(self.uri) and not _LITE_NAME.match(Path(self.uri).name):
            raise ValueError(f"Milvus Lite database {self.uri!r}: its file name must be at most 36 "
                             "characters from a-z A-Z 0-9 . - _ (Milvus Lite 2.5.1 refuses others)")


def is_lite(uri: str) -> bool:
    """Whether ``uri`` names a Milvus Lite database file (an embedded engine) rather than a server."""
    return uri.endswith(".db")


@dataclass(frozen=True)
class CollectionNames:
    chunks: str
    sentences: str


def collection_names(prefix: str, version: str) -> CollectionNames:
    """The collections of one snapshot version: ``<prefix>_<version>`` (``-`` becomes ``_``)."""
    stem = f"{prefix}_{re.sub(r'[^A-Za-z0-9_]', '_', version)}"
    return CollectionNames(chunks=f"{stem}_chunks", sentences=f"{stem}_sentences")


class MilvusConnection:
    """A client for one Milvus (or Milvus Lite database); :meth:`close` releases it, and stops the
    Milvus Lite child process when this connection started one."""

    def __init__(self, config: MilvusConfig) -> None:
        from pymilvus import MilvusClient

        self.config = config
        self.timeout = config.timeout_s
        if is_lite(config.uri):
            Path(config.uri).parent.mkdir(parents=True, exist_ok=True)
        self.client: MilvusClient = MilvusClient(uri=config.uri, token=config.token, timeout=config.timeout_s)

    def close(self) -> None:
        self.client.close()
        if is_lite(self.config.uri):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.config.uri)

    def __enter__(self) -> MilvusConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def row_count(self, collection: str) -> int | None:
        """Rows of ``collection`` (None when it does not exist)."""
        if not self.client.has_collection(collection, timeout=self.timeout):
            return None
        rows = self.client.query(collection, filter="", output_fields=["count(*)"], timeout=self.timeout)
        return int(rows[0]["count(*)"])


def id_filter(field: str, ids: Sequence[int]) -> str:
    return f"{field} in [{','.join(str(int(i)) for i in ids)}]"


def _parts(ids: Ids, size: int = MAX_LIMIT) -> list[Ids]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# -- keyword ------------------------------------------------------------------------------------
class MilvusKeyword:
    """BM25 in Milvus; term statistics (``idf``) and the tokenizer are still the local index's."""

    def __init__(self, conn: MilvusConnection, collection: str, local: KeywordIndex, size: int) -> None:
        self.conn = conn
        self.collection = collection
        self.local = local
        self.size = size
        self.k1 = float(local.bm25.k1)

    @property
    def tokenizer(self) -> Tokenizer:
        return self.local.tokenizer

    def idf(self, token: str) -> float:
        return self.local.idf(token)

    def query(self, query: str) -> MilvusKeywordQuery:
        return MilvusKeywordQuery(self, " ".join(self.local.tokenizer.tokens(query)))


class MilvusKeywordQuery:
    def __init__(self, keyword: MilvusKeyword, tokens: str) -> None:
        self.keyword = keyword
        self.tokens = tokens
        self._best: float | None = None

    def _search(self, limit: int, filter: str = "") -> tuple[Ids, Scores]:
        kw = self.keyword
        if not self.tokens or limit <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        result = kw.conn.client.search(
            kw.collection, data=[self.tokens], anns_field="sparse", limit=limit, filter=filter,
            output_fields=["id"], search_params={"metric_type": "BM25"}, timeout=kw.conn.timeout,
        )
        hits = result[0]
        ids = np.array([h["entity"]["id"] for h in hits], np.int64)
        scores = np.array([h["distance"] for h in hits], np.float64) / (kw.k1 + 1.0)
        return ids, scores.astype(np.float32)

    def top(self, k: int) -> tuple[Ids, Scores]:
        k = min(k, self.keyword.size)
        ids, scores = self._search(min(k + TIE_MARGIN, self.keyword.size, MAX_LIMIT))
        keep = scores > 0
        ids, scores = ids[keep], scores[keep]
        # best first; near-equal scores by chunk id, as the local backend orders exact ties
        scale = float(scores.max()) if len(scores) else 1.0
        order = np.lexsort((ids, -np.round(scores / (scale * TIE_TOLERANCE))))[:k]
        if len(scores):
            self._best = float(scores.max())
        return ids[order], scores[order]

    def scores(self, ids: Ids) -> Scores:
        out = np.zeros(len(ids), np.float32)
        if not self.tokens or len(ids) == 0:
            return out
        where = {int(i): j for j, i in enumerate(ids)}
        for part in _parts(np.unique(np.asarray(ids, np.int64))):
            found, scores = self._search(len(part), id_filter("id", part.tolist()))
            for i, s in zip(found.tolist(), scores.tolist(), strict=True):
                out[where[i]] = s
        return out

    @property
    def best(self) -> float:
        if self._best is None:
            _, scores = self._search(1)
            self._best = float(scores[0]) if len(scores) and scores[0] > 0 else 0.0
        return self._best


# -- vectors ------------------------------------------------------------------------------------
class MilvusVectors:
    """Inner products (cosines of normalised vectors) in Milvus: chunk vectors and, for
    small-to-big, sentence vectors."""

    def __init__(self, conn: MilvusConnection, names: CollectionNames, sentence_counts: Ids) -> None:
        self.conn = conn
        self.names = names
        self.size = len(sentence_counts)
        self.sentence_counts = np.asarray(sentence_counts, np.int64)

    def query(self, vector: npt.NDArray[np.float32]) -> MilvusVectorQuery:
        return MilvusVectorQuery(self, np.asarray(vector, np.float32))


class MilvusVectorQuery:
    def __init__(self, vectors: MilvusVectors, vector: npt.NDArray[np.float32]) -> None:
        self.vectors = vectors
        self.vector = vector

    def _search(self, collection: str, limit: int, filter: str, fields: list[str]) -> list[Any]:
        conn = self.vectors.conn
        result = conn.client.search(
            collection, data=[self.vector.tolist()], anns_field="vector", limit=limit, filter=filter,
            output_fields=fields, search_params={"metric_type": "IP"}, timeout=conn.timeout,
        )
        return list(result[0])

    def top(self, k: int) -> tuple[Ids, Scores]:
        k = min(k, self.vectors.size, MAX_LIMIT)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        hits = self._search(self.vectors.names.chunks, k, "", ["id"])
        return (np.array([h["entity"]["id"] for h in hits], np.int64),
                np.array([h["distance"] for h in hits], np.float32))

    def scores(self, ids: Ids) -> Scores:
        """The stored vectors of ``ids`` times the query vector (computed here, as locally)."""
        if len(ids) == 0:
            return np.zeros(0, np.float32)
        conn = self.vectors.conn
        rows = conn.client.get(self.vectors.names.chunks, ids=[int(i) for i in ids],
                               output_fields=["id", "vector"], timeout=conn.timeout)
        by_id = {int(r["id"]): r["vector"] for r in rows}
        missing = [int(i) for i in ids if int(i) not in by_id]
        if missing:
            raise KeyError(f"chunks {missing[:5]} are not in Milvus collection {self.vectors.names.chunks}")
        matrix = np.array([by_id[int(i)] for i in ids], np.float32)
        return np.asarray(matrix @ self.vector, np.float32)

    def sentence_scores(self, ids: Ids) -> list[Scores] | None:
        counts = self.vectors.sentence_counts[ids] if len(ids) else np.zeros(0, np.int64)
        out = [np.zeros(int(n), np.float32) for n in counts]
        where = {int(i): j for j, i in enumerate(ids)}
        # a filtered search with limit = the chunks' sentence count returns every one of them
        batch: list[int] = []
        total = 0
        batches: list[tuple[list[int], int]] = []
        for i, n in zip(ids.tolist(), counts.tolist(), strict=True):
            if n == 0:
                continue
            if total + n > MAX_LIMIT and batch:
                batches.append((batch, total))
                batch, total = [], 0
            batch.append(int(i))
            total += int(n)
        if batch:
            batches.append((batch, total))
        for chunk_ids, limit in batches:
            hits = self._search(self.vectors.names.sentences, limit, id_filter("chunk", chunk_ids),
                                ["chunk", "sentence"])
            for h in hits:
                e = h["entity"]
                out[where[int(e["chunk"])]][int(e["sentence"])] = h["distance"]
        return out


# -- a Searcher over Milvus ---------------------------------------------------------------------
def open_handles(
    conn: MilvusConnection, meta: dict[str, Any], keyword: KeywordIndex, chunks: Sequence[Chunk]
) -> tuple[MilvusKeyword, MilvusVectors]:
    """The Milvus handles of the snapshot ``meta`` describes, checked against it: both collections
    exist and hold as many rows as the snapshot has chunks and sentences."""
    from indexer.snapshots import snapshot_version

    names = collection_names(conn.config.prefix, snapshot_version(meta))
    counts = np.array([len(c.sentences) for c in chunks], np.int64)
    for name, expected in ((names.chunks, len(chunks)), (names.sentences, int(counts.sum()))):
        found = conn.row_count(name)
        if found is None:
            raise IndexLoadError(f"Milvus collection {name} does not exist at {conn.config.uri}; "
                                 "copy the index there with `zhiwen migrate`")
        if found != expected:
            raise IndexLoadError(f"Milvus collection {name}: rows expected {expected}, found {found}; "
                                 "copy the index again with `zhiwen migrate --replace`")
    for name in (names.chunks, names.sentences):
        conn.client.load_collection(name, timeout=conn.timeout)
    return MilvusKeyword(conn, names.chunks, keyword, len(chunks)), MilvusVectors(conn, names, counts)


def with_milvus(searcher: Searcher, conn: MilvusConnection) -> Searcher:
    """The same snapshot as ``searcher``, with its BM25 and vector searches done in Milvus."""
    from indexer.search import Searcher

    keyword, vectors = open_handles(conn, searcher.meta, searcher.keyword, searcher.chunks)
    return Searcher(
        list(searcher.reports.values()), searcher.chunks, searcher.keyword, searcher.dense,
        searcher.embedder, searcher.meta, path=searcher.path, sentence_vectors=searcher.sentence_vectors,
        keyword_source=keyword, vectors=vectors,
    )
