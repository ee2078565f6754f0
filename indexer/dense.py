"""Dense vector index: FAISS inner product over normalised vectors, ids = chunk ordinals."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

# Below this many vectors exact search is both fastest to build and exact; above it an ANN index
# keeps query time flat (see docs/benchmarks.md).
EXACT_LIMIT = 200_000
KINDS = ("auto", "flat", "hnsw", "ivf")


@dataclass(frozen=True)
class VectorIndexParams:
    """How the vector index is chosen and tuned. The defaults keep exact search up to
    ``exact_limit`` vectors and HNSW above; "ivf" builds far faster on few cores (it trains a
    k-means quantiser instead of a graph) at a similar recall, see docs/benchmarks.md."""

    exact_limit: int = EXACT_LIMIT
    large_kind: str = "hnsw"  # the kind "auto" picks above exact_limit
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 96
    ivf_nlist: int | None = None  # None: a power of two near sqrt(n)
    ivf_nprobe: int = 32
    ivf_train_per_list: int = 40  # training sample = nlist * this (k-means wants >= 39)

    def kind_for(self, kind: str, n: int) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown vector index kind '{kind}' (expected {', '.join(KINDS)})")
        if kind == "auto":
            return "flat" if n <= self.exact_limit else self.large_kind
        return kind

    def nlist_for(self, n: int) -> int:
        if self.ivf_nlist:
            return self.ivf_nlist
        return int(min(65536, max(16, 2 ** round(math.log2(max(math.sqrt(max(n, 1)), 1.0))))))


DEFAULT_PARAMS = VectorIndexParams()


def make_faiss_index(
    dim: int, n: int, kind: str = "auto", hnsw_m: int | None = None,
    params: VectorIndexParams = DEFAULT_PARAMS,
) -> Any:
    """An empty id-mapped FAISS index for ``n`` vectors: "flat" (exact), "hnsw" or "ivf"
    ("ivf" must be trained before vectors are added: ``DenseIndex.build`` does it)."""
    import faiss

    kind = params.kind_for(kind, n)
    base: Any
    if kind == "flat":
        base = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, hnsw_m or params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = params.hnsw_ef_construction
        base.hnsw.efSearch = params.hnsw_ef_search
    else:
        quantizer = faiss.IndexFlatIP(dim)
        base = faiss.IndexIVFFlat(quantizer, dim, params.nlist_for(n), faiss.METRIC_INNER_PRODUCT)
        base.nprobe = params.ivf_nprobe  # faiss's Python wrapper keeps ``quantizer`` alive
    return faiss.IndexIDMap2(base)


class DenseIndex:
    """Thin wrapper so the rest of the code never touches FAISS types directly."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def build(
        cls, vectors: npt.NDArray[np.float32], kind: str = "auto",
        params: VectorIndexParams = DEFAULT_PARAMS,
    ) -> DenseIndex:
        import faiss

        n, dim = vectors.shape
        index = make_faiss_index(dim, n, kind, params=params)
        data = np.ascontiguousarray(vectors, np.float32)
        base = faiss.downcast_index(index.index)
        if isinstance(base, faiss.IndexIVF):
            nlist = int(base.nlist)
            if n < nlist:
                raise ValueError(f"an IVF index of {nlist} lists needs at least {nlist} vectors, got {n}")
            # a fixed-seed sample: the same vectors give the same index
            sample = np.random.default_rng(0).choice(n, min(n, nlist * params.ivf_train_per_list), replace=False)
            index.train(data[np.sort(sample)])
        if n:
            index.add_with_ids(data, np.arange(n, dtype=np.int64))
        if isinstance(base, faiss.IndexIVF):
            base.make_direct_map()  # so stored vectors can be read back (``vectors``)
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
