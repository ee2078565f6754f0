"""The Milvus backend of the retrieval seam (issue 14): BM25 and vector searches in Milvus, over
the store :mod:`indexer.backends.milvus.store` describes, and the view an API node serves from.

A :class:`MilvusView` reads the visible reports (the ``live`` rows) and their chunks into memory —
the texts to cite and the BM25 term statistics, nothing on disk — and numbers the chunks as a
local snapshot would (reports by ``seq``, chunks in order); :func:`open_searcher` gives a
:class:`~indexer.retrieval.search.Searcher` whose BM25 and vector searches go to Milvus. A hit whose
generation is not the one the view serves (a report staged or replaced since) is dropped, so
a search never mixes two versions of a report; :meth:`MilvusView.refresh` moves to what is
visible now, fetching only reports that changed.

Scores agree with the local backend: Milvus' BM25 is (k1 + 1) × bm25s' "lucene" score over the
same tokens with corpus-wide statistics (the Milvus Lite probe of issue 14), so it is divided by
k1 + 1; inner products of normalised vectors are the cosines FAISS returns. Milvus Lite 2.5.1 is the
embedded engine: it runs the Milvus C++ core in a child process (``milvus_lite``), which
:meth:`MilvusConnection.close` stops. Every call carries a timeout, so a dead server fails a
search instead of hanging it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer.backends.milvus.rows import StoredReport, StoreNames
from indexer.backends.milvus.store import MilvusStore
from indexer.retrieval.seam import Ids, Scores

if TYPE_CHECKING:

    from embeddings import Embedder
    from indexer.retrieval.search import Searcher
    from indexer.text.tokenize import Tokenizer

log = logging.getLogger(__name__)

# Milvus refuses a search limit (topk) above this; longer id lists are asked in parts.
MAX_LIMIT = 16384
# Top-k asks for this many more hits than it returns: BM25 orders ties by chunk id as the local
# backend does (Milvus leaves the order of equal scores open), and rows of report versions the
# view does not serve are dropped.
TIE_MARGIN = 8
# Scores closer than this (relative) count as a tie: Milvus and bm25s round differently in float32.
TIE_TOLERANCE = 1e-5


class TermStats:
    """The tokenizer and BM25 document frequencies of the chunks a view serves (what evidence
    rerank and keyword confidence ask of ``Searcher.keyword``), counted from their tokens."""

    def __init__(self, tokenizer: Tokenizer, token_lists: Sequence[Sequence[str]]) -> None:
        self.tokenizer = tokenizer
        self.size = len(token_lists)
        self.df: Counter[str] = Counter(t for tokens in token_lists for t in set(tokens))

    def doc_freq(self, token: str) -> int:
        return self.df.get(token, 0)

    def idf(self, token: str) -> float:
        """BM25 (Lucene) inverse document frequency, as :meth:`KeywordIndex.idf` computes it."""
        n = max(self.size, 1)
        df = self.doc_freq(token)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Rows:
    """Chunk rows of a view ↔ the chunks' primary keys in Milvus. A key the view does not know
    belongs to a report version it does not serve."""

    keys: Ids  # per row: the chunk's primary key
    row_of: dict[int, int]
    doc_ids: tuple[str, ...]  # per row

    @classmethod
    def of(cls, keys: Sequence[int], doc_ids: Sequence[str]) -> Rows:
        return cls(np.array(keys, np.int64), {int(k): i for i, k in enumerate(keys)}, tuple(doc_ids))

    def row(self, key: int) -> int | None:
        return self.row_of.get(int(key))

    def where(self, rows: Ids, field: str = "id") -> str:
        """A filter selecting exactly these rows: ``id`` in the chunks collection, ``chunk`` in
        the sentences one. (One flat ``in`` list: Milvus Lite 2.5.1 fails on a filter of some
        fifty ``or`` clauses.)"""
        return f"{field} in [{','.join(str(int(k)) for k in self.keys[np.asarray(rows, np.int64)])}]"

    def reports_of(self, rows: Ids) -> str:
        """A filter selecting the chunks of the reports these rows belong to (a metadata filter
        names reports; rows of other versions of them are dropped as always)."""
        docs = sorted({self.doc_ids[int(r)] for r in np.asarray(rows, np.int64)})
        return f"doc_id in [{','.join(json.dumps(d, ensure_ascii=False) for d in docs)}]"


def _parts(ids: Ids, size: int) -> list[Ids]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


class _Search:
    """Searches of the chunks or sentences collection, their hits mapped to the view's rows."""

    def __init__(self, store: MilvusStore, rows: Rows) -> None:
        self.store = store
        self.rows = rows

    def hits(self, collection: str, data: Any, field: str, metric: str, limit: int, filter: str = "",
             fields: tuple[str, ...] = ("id",)) -> list[dict[str, Any]]:
        conn = self.store.conn
        result = conn.client.search(collection, data=[data], anns_field=field, limit=limit, filter=filter,
                                    output_fields=list(fields), search_params={"metric_type": metric},
                                    timeout=conn.timeout)
        return list(result[0])

    def top(self, collection: str, data: Any, field: str, metric: str, k: int, size: int,
            within: Ids | None = None) -> tuple[Ids, Scores]:
        """The best ``k`` rows the view serves (hits of other generations dropped, asking for
        more while too many were), only among ``within`` if given."""
        limit = min(k + TIE_MARGIN, MAX_LIMIT)
        where = "" if within is None else self.rows.reports_of(within)
        if within is not None:
            size = len(within)
        while True:
            hits = self.hits(collection, data, field, metric, limit, where)
            pairs = [(self.rows.row(h["id"]), float(h["distance"])) for h in hits]
            kept = [(r, s) for r, s in pairs if r is not None]
            if len(kept) >= min(k + TIE_MARGIN, size) or len(hits) < limit or limit >= MAX_LIMIT:
                break
            limit = min(limit * 4, MAX_LIMIT)
        return (np.array([r for r, _ in kept], np.int64), np.array([s for _, s in kept], np.float32))


# -- keyword ------------------------------------------------------------------------------------
class MilvusKeyword(_Search):
    """BM25 in Milvus; the tokenizer is the store's (the same tokens the rows were made of)."""

    def __init__(self, store: MilvusStore, rows: Rows, stats: TermStats, k1: float) -> None:
        super().__init__(store, rows)
        self.stats = stats
        self.size = stats.size
        self.k1 = k1

    def query(self, query: str) -> MilvusKeywordQuery:
        return MilvusKeywordQuery(self, " ".join(self.stats.tokenizer.tokens(query)))


class MilvusKeywordQuery:
    def __init__(self, keyword: MilvusKeyword, tokens: str) -> None:
        self.keyword = keyword
        self.tokens = tokens
        self._best: float | None = None

    def top(self, k: int, within: Ids | None = None) -> tuple[Ids, Scores]:
        kw = self.keyword
        k = min(k, kw.size if within is None else len(within))
        if not self.tokens or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids, scores = kw.top(kw.store.names.chunks, self.tokens, "sparse", "BM25", k, kw.size, within)
        scores = (scores.astype(np.float64) / (kw.k1 + 1.0)).astype(np.float32)
        keep = scores > 0
        ids, scores = ids[keep], scores[keep]
        # best first; near-equal scores by chunk id, as the local backend orders exact ties
        scale = float(scores.max()) if len(scores) else 1.0
        order = np.lexsort((ids, -np.round(scores / (scale * TIE_TOLERANCE))))[:k]
        if len(scores) and within is None:
            self._best = float(scores.max())
        return ids[order], scores[order]

    def scores(self, ids: Ids) -> Scores:
        kw = self.keyword
        out = np.zeros(len(ids), np.float32)
        if not self.tokens or len(ids) == 0:
            return out
        where = {int(i): j for j, i in enumerate(ids)}
        for part in _parts(np.unique(np.asarray(ids, np.int64)), MAX_LIMIT):
            for h in kw.hits(kw.store.names.chunks, self.tokens, "sparse", "BM25", len(part), kw.rows.where(part)):
                row = kw.rows.row(h["id"])
                if row is not None:
                    out[where[row]] = float(h["distance"]) / (kw.k1 + 1.0)
        return out

    @property
    def best(self) -> float:
        if self._best is None:
            _, scores = self.top(1)
            self._best = float(scores[0]) if len(scores) else 0.0
        return self._best


# -- vectors ------------------------------------------------------------------------------------
class MilvusVectors(_Search):
    """Inner products (cosines of normalised vectors) in Milvus: chunk vectors and, for
    small-to-big, sentence vectors."""

    def __init__(self, store: MilvusStore, rows: Rows, sentence_counts: Ids) -> None:
        super().__init__(store, rows)
        self.size = len(sentence_counts)
        self.sentence_counts = np.asarray(sentence_counts, np.int64)

    def query(self, vector: npt.NDArray[np.float32]) -> MilvusVectorQuery:
        return MilvusVectorQuery(self, np.asarray(vector, np.float32))


class MilvusVectorQuery:
    def __init__(self, vectors: MilvusVectors, vector: npt.NDArray[np.float32]) -> None:
        self.vectors = vectors
        self.vector = vector

    def top(self, k: int, within: Ids | None = None) -> tuple[Ids, Scores]:
        v = self.vectors
        k = min(k, v.size if within is None else len(within), MAX_LIMIT)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids, scores = v.top(v.store.names.chunks, self.vector.tolist(), "vector", "IP", k, v.size, within)
        return ids[:k], scores[:k]

    def scores(self, ids: Ids) -> Scores:
        """The stored vectors of ``ids`` times the query vector (computed here, as locally)."""
        if len(ids) == 0:
            return np.zeros(0, np.float32)
        v = self.vectors
        by_row: dict[int, Any] = {}
        for part in _parts(np.asarray(ids, np.int64), MAX_LIMIT):
            for r in v.store.conn.client.query(v.store.names.chunks, filter=v.rows.where(part),
                                               output_fields=["id", "vector"], timeout=v.store.conn.timeout):
                row = v.rows.row(r["id"])
                if row is not None:
                    by_row[row] = r["vector"]
        missing = [int(i) for i in ids if int(i) not in by_row]
        if missing:
            raise KeyError(f"chunks {missing[:5]} are not in Milvus collection {v.store.names.chunks}")
        matrix = np.array([by_row[int(i)] for i in ids], np.float32)
        return np.asarray(matrix @ self.vector, np.float32)

    def sentence_scores(self, ids: Ids) -> list[Scores] | None:
        v = self.vectors
        counts = v.sentence_counts[ids] if len(ids) else np.zeros(0, np.int64)
        out = [np.zeros(int(n), np.float32) for n in counts]
        where = {int(i): j for j, i in enumerate(ids)}
        # a filtered search with limit = the chunks' sentence count returns every one of them
        batches: list[tuple[list[int], int]] = []
        batch: list[int] = []
        total = 0
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
        for rows, limit in batches:
            hits = v.hits(v.store.names.sentences, self.vector.tolist(), "vector", "IP", limit,
                          v.rows.where(np.array(rows, np.int64), "chunk"), ("chunk", "sentence"))
            for h in hits:
                e = h["entity"]
                row = v.rows.row(e["chunk"])
                if row is not None:
                    out[where[row]][int(e["sentence"])] = h["distance"]
        return out


# -- the view an API node serves ----------------------------------------------------------------
class MilvusView:
    """The visible reports of a store, in memory, and a :class:`Searcher` over them; keeps the
    reports it fetched, so :meth:`refresh` fetches only what changed."""

    def __init__(self, store: MilvusStore, embedder: Embedder, *, check_model: bool = True) -> None:
        from indexer.errors import IndexLoadError
        from indexer.text.tokenize import Tokenizer

        self.store = store
        self.embedder = embedder
        meta = store.meta()
        if check_model and meta.get("model") != embedder.name:
            raise IndexLoadError(
                f"{store.where}: model expected {embedder.name!r} (configured), found {meta.get('model')!r} "
                "(index built with it); configure that model or rebuild the store")
        if check_model and int(meta.get("dim", 0)) != embedder.dim:
            raise IndexLoadError(f"{store.where}: dim expected {embedder.dim}, found {meta.get('dim')}")
        self.meta = meta
        self.tokenizer = Tokenizer(store.user_words())
        self._cache: dict[int, StoredReport] = {}
        self._signature = ""
        self.searcher: Searcher | None = None

    def refresh(self) -> Searcher | None:
        """A searcher over what is visible now, or None when that is what is served already.
        Raises pymilvus' ``MilvusException`` when Milvus cannot be reached."""
        live = self.store.live()
        ordered = sorted(live.values(), key=lambda e: (e.seq, e.doc_id))
        signature = hashlib.sha256(";".join(f"{e.doc_id}:{e.gen}" for e in ordered).encode()).hexdigest()[:16]
        if self.searcher is not None and signature == self._signature:
            return None
        wanted = [e.gen for e in ordered]
        missing = [g for g in wanted if g not in self._cache]
        self._cache = {g: self._cache[g] for g in wanted if g in self._cache} | self.store.fetch(missing)
        self.searcher = self._build([self._cache[g] for g in wanted], signature, ordered)
        self._signature = signature
        return self.searcher

    def _build(self, stored: Sequence[StoredReport], signature: str, entries: Sequence[Any]) -> Searcher:
        from indexer.retrieval.search import Searcher

        chunks = [c for s in stored for c in s.chunks]
        tokens = [t for s in stored for t in s.tokens]
        rows = Rows.of([k for s in stored for k in s.keys], [c.doc_id for c in chunks])
        stats = TermStats(self.tokenizer, tokens)
        counts = np.array([len(c.sentences) for c in chunks], np.int64)
        meta = {
            **self.meta,
            "snapshot": f"milvus-{signature}",
            "backend": "milvus",
            "counts": {"reports": len(stored), "chunks": len(chunks)},
            "sources": {e.source: e.digest for e in entries if e.source},
        }
        return Searcher(
            [s.report for s in stored], chunks, stats, None, self.embedder, meta,
            keyword_source=MilvusKeyword(self.store, rows, stats, float(self.meta["bm25"]["k1"])),
            vectors=MilvusVectors(self.store, rows, counts),
        )


def open_searcher(store: MilvusStore, embedder: Embedder, *, check_model: bool = True) -> Searcher:
    """A searcher over what ``store`` shows now (``IndexLoadError`` when there is no index)."""
    searcher = MilvusView(store, embedder, check_model=check_model).refresh()
    assert searcher is not None
    return searcher


__all__ = ["MilvusKeyword", "MilvusVectors", "MilvusView", "Rows", "StoreNames", "TermStats", "open_searcher"]
