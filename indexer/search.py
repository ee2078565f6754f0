"""Hybrid search: BM25 and dense candidates, fused into one ranking with a per-hit breakdown.

Fusion (see README "Why this fusion"): each retriever's candidates are pooled, both scores are
computed for every pooled chunk, each is normalised per query (BM25 by its maximum; cosine by
min-max over the pool), and the fused score is a convex combination weighted towards BM25.
Reciprocal-rank fusion is available for comparison (``fusion="rrf"``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from indexer.types import Chunk, Hit, Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.dense import DenseIndex
    from indexer.keyword import KeywordIndex

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "keyword", "dense"]
MODES: tuple[str, ...] = ("hybrid", "keyword", "dense")
DEFAULT_DENSE_WEIGHT = 0.3
RRF_K = 60


class Searcher:
    """One loaded, immutable index snapshot. Thread-safe for concurrent searches."""

    def __init__(
        self,
        reports: Sequence[Report],
        chunks: Sequence[Chunk],
        keyword: KeywordIndex,
        dense: DenseIndex,
        embedder: Embedder,
        meta: dict[str, Any],
        *,
        path: Path | None = None,
    ) -> None:
        self.reports: dict[str, Report] = {r.doc_id: r for r in reports}
        self.chunks: list[Chunk] = list(chunks)
        self.keyword = keyword
        self.dense = dense
        self.embedder = embedder
        self.meta = meta
        self.path = path
        self._lock = threading.Lock()

    def get_report(self, doc_id: str) -> Report | None:
        return self.reports.get(doc_id)

    def search(
        self,
        query: str,
        top_k: int = 10,
        mode: str = "hybrid",
        *,
        fusion: str = "weighted",
        dense_weight: float = DEFAULT_DENSE_WEIGHT,
        candidates: int = 100,
    ) -> list[Hit]:
        """Top ``top_k`` chunks for ``query``; ``mode`` picks keyword-only, dense-only or hybrid."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        n = len(self.chunks)
        if n == 0 or not query.strip():
            return []
        pool_size = min(n, max(candidates, top_k))
        kw_all = self.keyword.scores(query) if mode != "dense" else None
        qvec = self.embedder.encode_queries([query])[0] if mode != "keyword" else None

        if mode == "keyword":
            assert kw_all is not None
            ids = _top(kw_all, top_k)
            ids = ids[kw_all[ids] > 0]
            return [self._hit(i, float(kw_all[i]), {"keyword": float(kw_all[i])}) for i in ids]
        assert qvec is not None
        d_ids, d_scores = self.dense.search(qvec, pool_size)
        if mode == "dense":
            return [
                self._hit(int(i), float(s), {"dense": float(s)}) for i, s in zip(d_ids[:top_k], d_scores[:top_k], strict=False)
            ]
        assert kw_all is not None
        k_ids = _top(kw_all, pool_size)
        k_ids = k_ids[kw_all[k_ids] > 0]
        pool = np.unique(np.concatenate([k_ids, d_ids]).astype(np.int64))
        kw = kw_all[pool]
        dense_by_id = dict(zip(d_ids.tolist(), d_scores.tolist(), strict=False))
        missing = np.array([i for i in pool if int(i) not in dense_by_id], dtype=np.int64)
        if len(missing):
            for i, s in zip(missing.tolist(), (self.dense.vectors(missing) @ qvec).tolist(), strict=False):
                dense_by_id[i] = s
        de = np.array([dense_by_id[int(i)] for i in pool], dtype=np.float32)
        if fusion == "rrf":
            fused = _rrf(kw, de)
        elif fusion == "weighted":
            fused = (1.0 - dense_weight) * _max_norm(kw) + dense_weight * _minmax(de)
        else:
            raise ValueError(f"fusion must be 'weighted' or 'rrf', got {fusion!r}")
        order = np.lexsort((-de, -kw, -fused))[:top_k]  # ties: keyword, then dense
        return [
            self._hit(int(pool[j]), float(fused[j]), {"keyword": float(kw[j]), "dense": float(de[j]), "fused": float(fused[j])})
            for j in order
        ]

    def _hit(self, i: int, score: float, scores: dict[str, float]) -> Hit:
        full = {"keyword": 0.0, "dense": 0.0, "fused": score}
        full.update(scores)
        return Hit(chunk=self.chunks[i], score=score, scores=full)


def _top(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")].astype(np.int64)


def _max_norm(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    top = float(x.max()) if len(x) else 0.0
    return x / top if top > 0 else np.zeros_like(x)


def _minmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _rrf(kw: npt.NDArray[np.float32], de: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    def ranks(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        r = np.empty(len(x), np.float32)
        r[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
        return r

    kw_part = np.where(kw > 0, 1.0 / (RRF_K + ranks(kw)), 0.0)
    return (kw_part + 1.0 / (RRF_K + ranks(de))).astype(np.float32)
