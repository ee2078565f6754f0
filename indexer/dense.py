"""Dense vector index: FAISS inner product over normalised vectors, ids = chunk ordinals."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

# Below this many vectors exact search is both fastest to build and exact; above it HNSW keeps
# query time flat (see docs/benchmarks.md).
EXACT_LIMIT = 200_000


def make_faiss_index(dim: int, n: int, kind: str = "auto", hnsw_m: int = 32) -> Any:
    """An empty id-mapped FAISS index for ``n`` vectors: "flat" (exact) or "hnsw"."""
    import faiss

    if kind == "auto":
        kind = "flat" if n <= EXACT_LIMIT else "hnsw"
    base: Any
    if kind == "flat":
        base = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = 80
        base.hnsw.efSearch = 96
    else:
        raise ValueError(f"unknown vector index kind '{kind}' (expected auto, flat or hnsw)")
    return faiss.IndexIDMap2(base)


class DenseIndex:
    """Thin wrapper so the rest of the code never touches FAISS types directly."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], kind: str = "auto") -> DenseIndex:
        n, dim = vectors.shape
        index = make_faiss_index(dim, n, kind)
        if n:
            index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.arange(n, dtype=np.int64))
        return cls(index)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: npt.NDArray[np.float32], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, scores) for one query vector; missing slots are dropped."""
        k = min(k, self.size)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.index.search(np.ascontiguousarray(query.reshape(1, -1), np.float32), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def vectors(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Stored vectors for ``ids`` (used to score candidates the ANN search did not return)."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self.index.reconstruct_batch(np.asarray(ids, np.int64)), np.float32)

    def all_vectors(self) -> npt.NDArray[np.float32]:
        return self.vectors(np.arange(self.size, dtype=np.int64))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        import faiss

        return cls(faiss.read_index(str(path)))
