"""The retrieval seam: what hybrid search asks of an index backend, one query at a time.

:class:`~indexer.retrieval.search.Searcher` pools candidates, fuses, reranks and cuts; for each query it
asks its backend for two handles and nothing else:

* :class:`KeywordQuery` — BM25 of the query's tokens: the best ``k`` chunks (``top``), the
  scores of given chunks (``scores``: candidates only the dense side found) and the best score
  (``best``: keyword confidence).
* :class:`VectorQuery` — cosine with the query vector: ``top``, ``scores`` of given chunks, and
  ``sentence_scores``: each given chunk's sentences (small-to-big).

Chunk ids are the rows of the snapshot (``Searcher.chunks[i]``). The local backend below answers
from the snapshot folder's bm25s index, FAISS index and ``sentences.npy``, all in memory; a
distributed backend (Milvus, issue 14) answers the same handles with its own searches, and the
fusion, rerank and answers stay the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from indexer.retrieval.dense import DenseIndex
    from indexer.text.tokenize import Tokenizer

Ids = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]


@runtime_checkable
class KeywordSource(Protocol):
    """A keyword backend: one :class:`KeywordQuery` per query text."""

    def query(self, query: str) -> KeywordQuery: ...


class Vocabulary(Protocol):
    """The tokenizer and term statistics a backend's keyword side was built with (evidence
    rerank and keyword confidence weigh query terms by their IDF)."""

    @property
    def tokenizer(self) -> Tokenizer: ...

    def idf(self, token: str) -> float: ...

    def doc_freq(self, token: str) -> int:
        """Chunks holding ``token`` (0: the corpus never uses it)."""
        ...


class VectorSource(Protocol):
    """A vector backend: one :class:`VectorQuery` per query vector."""

    def query(self, vector: npt.NDArray[np.float32]) -> VectorQuery: ...


class KeywordQuery(Protocol):
    def top(self, k: int, within: Ids | None = None) -> tuple[Ids, Scores]:
        """The ``k`` best chunks with a score above 0, best first (ties: lower id first);
        ``within`` (ascending chunk ids): only among those (a metadata filter)."""
        ...

    def scores(self, ids: Ids) -> Scores:
        """The BM25 score of each chunk in ``ids`` (0 for a chunk without a query token)."""
        ...

    @property
    def best(self) -> float:
        """The highest score of any chunk (0 when no chunk holds a query token)."""
        ...


class VectorQuery(Protocol):
    def top(self, k: int, within: Ids | None = None) -> tuple[Ids, Scores]:
        """The ``k`` chunks nearest the query vector, nearest first (only ``within``, if given)."""
        ...

    def scores(self, ids: Ids) -> Scores:
        """The cosine of each chunk in ``ids`` with the query vector."""
        ...

    def sentence_scores(self, ids: Ids) -> list[Scores] | None:
        """The cosine of each sentence of each chunk in ``ids`` (None: no sentence vectors)."""
        ...


def top_ids(scores: Scores, k: int) -> Ids:
    """Indices of the ``k`` highest ``scores``, highest first (a stable order among ties)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")].astype(np.int64)


class AllScores(Protocol):
    """What :class:`LocalKeywordQuery` needs of :class:`~indexer.retrieval.keyword.KeywordIndex` (named
    by this protocol, not imported: keyword.py imports this module)."""

    def scores(self, query: str) -> Scores: ...


class LocalKeywordQuery:
    """BM25 of every chunk, computed once per query by bm25s."""

    def __init__(self, index: AllScores, query: str) -> None:
        self.all = index.scores(query)

    def top(self, k: int, within: Ids | None = None) -> tuple[Ids, Scores]:
        ids = top_ids(self.all, k) if within is None else within[top_ids(self.all[within], k)]
        ids = ids[self.all[ids] > 0]
        return ids, self.all[ids]

    def scores(self, ids: Ids) -> Scores:
        return np.asarray(self.all[ids], np.float32)

    @property
    def best(self) -> float:
        return float(self.all.max()) if len(self.all) else 0.0


class LocalVectors:
    """The snapshot's chunk vectors (FAISS) and sentence vectors (``sentences.npy``, chunk after
    chunk: chunk ``i``'s sentences are rows ``offsets[i]:offsets[i + 1]``)."""

    def __init__(self, dense: DenseIndex, sentence_vectors: npt.NDArray[np.floating[Any]] | None,
                 offsets: Ids) -> None:
        self.dense = dense
        self.sentence_vectors = sentence_vectors
        self.offsets = offsets

    def query(self, vector: npt.NDArray[np.float32]) -> LocalVectorQuery:
        return LocalVectorQuery(self, vector)


class LocalVectorQuery:
    def __init__(self, vectors: LocalVectors, vector: npt.NDArray[np.float32]) -> None:
        self.vectors = vectors
        self.vector = vector

    def top(self, k: int, within: Ids | None = None) -> tuple[Ids, Scores]:
        if within is not None:  # exact, over the filtered chunks only
            sims = self.scores(within)
            order = top_ids(sims, k)
            return within[order], sims[order]
        ids, scores = self.vectors.dense.search(self.vector, k)
        return np.asarray(ids, np.int64), np.asarray(scores, np.float32)

    def scores(self, ids: Ids) -> Scores:
        if len(ids) == 0:
            return np.zeros(0, np.float32)
        return np.asarray(self.vectors.dense.vectors(ids) @ self.vector, np.float32)

    def sentence_scores(self, ids: Ids) -> list[Scores] | None:
        table = self.vectors.sentence_vectors
        if table is None:
            return None
        starts, ends = self.vectors.offsets[ids], self.vectors.offsets[ids + 1]
        if len(ids) == 0:
            return []
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
        sims = np.asarray(table[rows], np.float32) @ self.vector if len(rows) else np.zeros(0, np.float32)
        cuts = np.cumsum(ends - starts)[:-1]
        return [np.asarray(part, np.float32) for part in np.split(sims, cuts)]
