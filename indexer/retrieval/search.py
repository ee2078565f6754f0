"""Hybrid search: BM25 and dense candidates, fused into one ranking with a per-hit breakdown.

Fusion (see README "Why this fusion"): each retriever's candidates are pooled, both scores are
computed for every pooled chunk, each is normalised per query (BM25 by its maximum; cosine by
min-max over the pool), and the fused score is a convex combination weighted towards BM25.
Reciprocal-rank fusion is available for comparison (``fusion="rrf"``).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from indexer.retrieval.scoring import DEFAULT, RetrievalConfig
from indexer.retrieval.seam import (
    KeywordQuery,
    KeywordSource,
    LocalVectors,
    VectorQuery,
    VectorSource,
    Vocabulary,
)
from indexer.retrieval.timing import stage
from indexer.text.zh import compatibility_to_unified
from indexer.types import Chunk, Hit, Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.retrieval.dense import DenseIndex
    from indexer.retrieval.keyword import KeywordIndex

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "keyword", "dense"]
MODES: tuple[str, ...] = ("hybrid", "keyword", "dense")


class Searcher:
    """One loaded, immutable index snapshot. Thread-safe for concurrent searches.

    BM25 and vector searches go to ``keyword_source`` and ``vectors`` (:mod:`indexer.retrieval.seam`),
    by default the snapshot's own files (``keyword``, ``dense``, ``sentence_vectors``); the Milvus
    backend (:mod:`indexer.backends.milvus.view`) passes its handles instead (and no ``dense``). ``keyword``
    gives the tokenizer and term statistics either way."""

    def __init__(
        self,
        reports: Sequence[Report],
        chunks: Sequence[Chunk],
        keyword: KeywordIndex | Vocabulary,
        dense: DenseIndex | None,
        embedder: Embedder,
        meta: dict[str, Any],
        *,
        path: Path | None = None,
        sentence_vectors: npt.NDArray[np.floating[Any]] | None = None,
        keyword_source: KeywordSource | None = None,
        vectors: VectorSource | None = None,
    ) -> None:
        self.reports: dict[str, Report] = {r.doc_id: r for r in reports}
        self.chunks: list[Chunk] = list(chunks)
        self.keyword = keyword
        self.dense = dense
        self.embedder = embedder
        self.meta = meta
        self.path = path
        self._lock = threading.Lock()
        counts = np.array([len(c.sentences) for c in self.chunks], dtype=np.int64)
        self._sent_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        total = int(self._sent_offsets[-1])
        self.sentence_vectors = sentence_vectors if sentence_vectors is not None and len(sentence_vectors) == total else None
        if keyword_source is None or vectors is None:
            if dense is None or not isinstance(keyword, KeywordSource):
                raise ValueError("a searcher without its own keyword and vector backends needs the "
                                 "snapshot's KeywordIndex and DenseIndex")
            keyword_source = keyword_source or keyword
            vectors = vectors or LocalVectors(dense, self.sentence_vectors, self._sent_offsets)
        self.keyword_source: KeywordSource = keyword_source
        self.vectors: VectorSource = vectors

    def sentence_vectors_for(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Sentence vectors of the chunks at ``rows`` (chunk after chunk), e.g. to carry them over
        into a new snapshot without re-embedding."""
        if self.dense is None:
            raise ValueError("this searcher's vectors are not local (Milvus backend)")
        dim = self.dense.dim
        if self.sentence_vectors is None or len(rows) == 0:
            n = sum(len(self.chunks[int(i)].sentences) for i in rows)
            return np.zeros((n, dim), np.float32)
        idx = np.concatenate([np.arange(self._sent_offsets[i], self._sent_offsets[i + 1]) for i in rows])
        return np.asarray(self.sentence_vectors[idx], np.float32)

    @functools.cached_property
    def places(self) -> frozenset[str]:
        """Place names the corpus knows: its reports' ``meta["places"]`` (found by the cleaner).
        Computed once per snapshot, for follow-up questions and the answer checks."""
        names: set[str] = set()
        for report in self.reports.values():
            places = report.meta.get("places") or []
            if isinstance(places, list):
                names.update(str(p) for p in places if p)
        return frozenset(names)

    @functools.cached_property
    def _rows_by_report(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            rows.setdefault(chunk.doc_id, []).append(i)
        return rows

    def rows_of(self, doc_ids: Collection[str]) -> npt.NDArray[np.int64]:
        """The chunk rows of these reports, ascending (unknown ids have none)."""
        found = [i for d in doc_ids for i in self._rows_by_report.get(d, ())]
        return np.array(sorted(found), np.int64)

    def matched_terms(self, query: str, chunk: Chunk) -> list[str]:
        """The query's keyword terms (as BM25 sees them) that ``chunk`` holds, in query order."""
        tokenizer = self.keyword.tokenizer
        held = set(tokenizer.tokens(chunk.index_text))
        return [t for t in dict.fromkeys(tokenizer.tokens(compatibility_to_unified(query))) if t in held]

    def get_report(self, doc_id: str) -> Report | None:
        return self.reports.get(doc_id)

    def search(
        self,
        query: str,
        top_k: int = 10,
        mode: str = "hybrid",
        *,
        scoring: RetrievalConfig = DEFAULT,
        within: Collection[str] | None = None,
    ) -> list[Hit]:
        """Top ``top_k`` chunks for ``query``; ``mode`` picks keyword-only, dense-only or hybrid,
        ``scoring`` the fusion and rerank settings (``indexer.retrieval.scoring``). ``within``: only the
        chunks of these reports are ranked (a metadata filter, :mod:`indexer.retrieval.filters`); none
        of them, no hits."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        rows = None if within is None else self.rows_of(within)
        n = len(self.chunks) if rows is None else len(rows)
        if n == 0 or not query.strip():
            return []
        # The readers' mapping, for the embedder: it sees raw text (report text was mapped when
        # read), and its vocabulary has no radicals (「⼯」「⺠」 are [UNK] to m3e-small).
        query = compatibility_to_unified(query)
        fusion, rerank = scoring.fusion, scoring.rerank
        pool_size = min(n, max(fusion.candidates, top_k))
        # Stages (``indexer.retrieval.timing``): the model, the two retrievers and sentence scoring are the
        # work any answer needs; fusion and rerank are this ranker's own.
        kwq = vq = None
        if mode != "dense":
            with stage("keyword"):
                kwq = self.keyword_source.query(query)
        if mode != "keyword":
            with stage("encode"):
                qvec = self.embedder.encode_queries([query])[0]
            vq = self.vectors.query(qvec)

        if mode == "keyword":
            assert kwq is not None
            with stage("keyword"):
                ids, scores = kwq.top(top_k, rows)
            return [self._hit(int(i), float(s), {"keyword": float(s)}) for i, s in zip(ids, scores, strict=True)]
        assert vq is not None
        with stage("dense"):
            d_ids, d_scores = vq.top(pool_size, rows)
        if mode == "dense":
            with stage("sentences"):
                best, per_sentence = self._small_to_big(d_ids, d_scores, vq)
            order = np.argsort(-best, kind="stable")[:top_k]
            return [
                self._hit(int(d_ids[j]), float(best[j]), {"dense": float(best[j])}, per_sentence[j]) for j in order
            ]
        assert kwq is not None
        with stage("keyword"):
            k_ids, k_scores = kwq.top(pool_size, rows)
            pool = np.unique(np.concatenate([k_ids, d_ids]).astype(np.int64))
            kw = kwq.scores(pool)
        with stage("dense"):
            dense_by_id = dict(zip(d_ids.tolist(), d_scores.tolist(), strict=False))
            missing = np.array([i for i in pool if int(i) not in dense_by_id], dtype=np.int64)
            if len(missing):
                for i, s in zip(missing.tolist(), vq.scores(missing).tolist(), strict=False):
                    dense_by_id[i] = s
        with stage("sentences"):
            de, per_sentence = self._small_to_big(pool, np.array([dense_by_id[int(i)] for i in pool], np.float32), vq)
        with stage("fusion"):
            if fusion.method == "rrf":
                fused = _rrf(kw, de, fusion.rrf_k)
            elif fusion.method == "weighted":
                # within a filter, the best keyword match is the best among the reports searched
                top_in = None if rows is None else (float(k_scores[0]) if len(k_scores) else 0.0)
                confidence = self.keyword_confidence(query, kwq, top_in)
                weight = adaptive_weight(fusion.dense_weight, confidence, fusion.confidence_tau)
                fused = (1.0 - weight) * _max_norm(kw) + weight * _minmax(de)
            else:
                raise ValueError(f"fusion must be 'weighted' or 'rrf', got {fusion.method!r}")
            depth = max(top_k, rerank.depth) if rerank.enabled else top_k
            order = np.lexsort((-de, -kw, -fused))[:depth]  # ties: keyword, then dense
            hits = [
                self._hit(
                    int(pool[j]), float(fused[j]),
                    {"keyword": float(kw[j]), "dense": float(de[j]), "fused": float(fused[j])}, per_sentence[j],
                )
                for j in order
            ]
        if rerank.enabled and fusion.method == "weighted":
            from indexer.retrieval.evidence import analyse_question, evidence_rerank

            with stage("rerank"):
                info = analyse_question(query, self.keyword.tokenizer, self.keyword.idf)
                semantic = adaptive_weight(rerank.semantic_weight, confidence, fusion.confidence_tau)
                hits = evidence_rerank(
                    info, hits, self.reports, semantic_weight=semantic, alpha=rerank.alpha, cfg=scoring.evidence
                )
        return hits[:top_k]

    def keyword_confidence(self, query: str, handle: KeywordQuery | None = None, best: float | None = None,
                           within: Collection[str] | None = None) -> float:
        """How much of the query the best keyword match covers: top BM25 score (``best``; else
        the best among the reports ``within``, or of the whole index) over the sum of the query
        terms' IDFs (the score of a chunk holding each term once at average length)."""
        if best is None:
            handle = handle or self.keyword_source.query(query)
            if within is None:
                best = handle.best
            else:
                _, top = handle.top(1, self.rows_of(within))
                best = float(top[0]) if len(top) else 0.0
        tokens = dict.fromkeys(self.keyword.tokenizer.tokens(query))
        bound = sum(self.keyword.idf(t) for t in tokens)
        return best / bound if bound > 0 and self.chunks else 0.0

    def _small_to_big(
        self, ids: npt.NDArray[np.int64], chunk_scores: npt.NDArray[np.float32], vq: VectorQuery
    ) -> tuple[npt.NDArray[np.float32], list[tuple[float, ...]]]:
        """Dense score of each chunk = max(chunk cosine, best sentence cosine), and the sentence
        cosines themselves: a paraphrase matching one sentence is not diluted by the rest."""
        per_chunk = vq.sentence_scores(ids) if len(ids) else None
        if per_chunk is None:
            return chunk_scores.astype(np.float32), [() for _ in ids]
        best = chunk_scores.astype(np.float32).copy()
        per_sentence: list[tuple[float, ...]] = []
        for j, part in enumerate(per_chunk):
            per_sentence.append(tuple(float(x) for x in part))
            if len(part):
                best[j] = max(best[j], float(part.max()))
        return best, per_sentence

    def _hit(self, i: int, score: float, scores: dict[str, float], sentence_scores: tuple[float, ...] = ()) -> Hit:
        full = {"keyword": 0.0, "dense": 0.0, "fused": score}
        full.update(scores)
        return Hit(chunk=self.chunks[i], score=score, scores=full, sentence_scores=sentence_scores)


def adaptive_weight(base: float, confidence: float, tau: float) -> float:
    """Dense weight for one query: ``base`` while keyword evidence is solid (confidence ≥ tau),
    rising towards 1 as it vanishes — paraphrased questions share no words with their answer."""
    if tau <= 0:
        return base
    return base + (1.0 - base) * max(0.0, 1.0 - confidence / tau)


def _max_norm(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    top = float(x.max()) if len(x) else 0.0
    return x / top if top > 0 else np.zeros_like(x)


def _minmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _rrf(kw: npt.NDArray[np.float32], de: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.float32]:
    def ranks(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        r = np.empty(len(x), np.float32)
        r[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
        return r

    kw_part = np.where(kw > 0, 1.0 / (k + ranks(kw)), 0.0)
    return (kw_part + 1.0 / (k + ranks(de))).astype(np.float32)
