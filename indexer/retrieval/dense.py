"""Dense vector index: FAISS inner product over normalised vectors, ids = chunk ordinals."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
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
BUILT_KINDS = ("flat", "hnsw", "ivf")
SEARCH_TIME = ("hnsw_ef_search", "ivf_nprobe")  # applied at load, no rebuild needed


@dataclass(frozen=True)
class VectorIndexParams:
    """Which vector index to build and how to tune it (``ZHIWEN_VECTOR_INDEX`` and friends, read
    by the CLI and the service and passed down). ``kind="auto"`` keeps exact search up to
    ``exact_limit`` vectors and builds ``large_kind`` above; "ivf" builds far faster on few cores
    (it trains a k-means quantiser instead of a graph); recall and latency of each on real vectors
    are in docs/benchmarks.md (bench/scale_real.py). The defaults are the ones the project shipped
    before they were settings: an index whose meta.json records no vector index was built so."""

    kind: str = "auto"
    exact_limit: int = EXACT_LIMIT
    large_kind: str = "hnsw"  # the kind "auto" picks above exact_limit
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 96
    ivf_nlist: int | None = None  # None: a power of two near sqrt(n)
    ivf_nprobe: int = 32
    ivf_train_per_list: int = 40  # training sample = nlist * this (k-means wants >= 39)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown vector index kind '{self.kind}' (expected {', '.join(KINDS)})")
        if self.large_kind not in BUILT_KINDS:
            raise ValueError(f"unknown large_kind '{self.large_kind}' (expected {', '.join(BUILT_KINDS)})")
        for name in ("exact_limit", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe",
                     "ivf_train_per_list"):
            if getattr(self, name) < (0 if name == "exact_limit" else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.ivf_nlist is not None and self.ivf_nlist < 1:
            raise ValueError(f"ivf_nlist must be positive, got {self.ivf_nlist}")

    def kind_for(self, kind: str | None, n: int) -> str:
        """The kind built for ``n`` vectors when ``kind`` (default: this object's) is asked for."""
        kind = self.kind if kind is None else kind
        if kind not in KINDS:
            raise ValueError(f"unknown vector index kind '{kind}' (expected {', '.join(KINDS)})")
        if kind == "auto":
            return "flat" if n <= self.exact_limit else self.large_kind
        return kind

    def nlist_for(self, n: int) -> int:
        if self.ivf_nlist:
            return self.ivf_nlist
        # a small index gets at most one list per vector (IVF over a few vectors is merely exact)
        return max(1, min(n, int(min(65536, max(16, 2 ** round(math.log2(max(math.sqrt(max(n, 1)), 1.0))))))))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def build_key(self) -> dict[str, Any]:
        """The parameters that shape the built index (not the search-time efSearch, nprobe): an
        index built with other ones is rebuilt from its stored vectors."""
        return {k: v for k, v in asdict(self).items() if k not in SEARCH_TIME}

    def record(self, built: str, n: int) -> dict[str, Any]:
        """What meta.json keeps about the vector index: the kind built, the knobs that shaped it
        and the parameters asked for (:func:`recorded` reads it back)."""
        out: dict[str, Any] = {"kind": built}
        if built == "hnsw":
            out |= {"hnsw_m": self.hnsw_m, "hnsw_ef_construction": self.hnsw_ef_construction,
                    "hnsw_ef_search": self.hnsw_ef_search}
        elif built == "ivf":
            out |= {"ivf_nlist": self.nlist_for(n), "ivf_nprobe": self.ivf_nprobe}
        return out | {"params": self.as_dict()}


def recorded(meta: dict[str, Any]) -> dict[str, Any]:
    """The vector index recorded in an index's meta.json. An index written before it was
    recorded was built with the defaults of then, which are today's (exact up to
    ``EXACT_LIMIT`` vectors, HNSW above): that is what is returned for it, marked
    ``"recorded": False``."""
    found = meta.get("vector_index")
    if isinstance(found, dict) and found.get("kind") in BUILT_KINDS:
        return found
    n = int((meta.get("counts") or {}).get("chunks", 0))
    return DEFAULT_PARAMS.record(DEFAULT_PARAMS.kind_for("auto", n), n) | {"recorded": False}


def same_build(meta: dict[str, Any], params: VectorIndexParams) -> bool:
    """Whether the index of ``meta`` was built with ``params``' build-time parameters."""
    old = dict(recorded(meta).get("params") or {})
    return {k: v for k, v in old.items() if k not in SEARCH_TIME} == params.build_key()


DEFAULT_PARAMS = VectorIndexParams()


def make_faiss_index(
    dim: int, n: int, kind: str | None = None, hnsw_m: int | None = None,
    params: VectorIndexParams = DEFAULT_PARAMS,
) -> Any:
    """An empty id-mapped FAISS index for ``n`` vectors: "flat" (exact), "hnsw" or "ivf"
    ("ivf" must be trained before vectors are added: ``DenseIndex.build`` does it); ``kind``
    defaults to ``params.kind``."""
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
        cls, vectors: npt.NDArray[np.float32], kind: str | None = None,
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
                raise ValueError(f"an IVF index of ivf_nlist {nlist} lists needs at least {nlist} vectors, "
                                 f"got {n}")
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

    def _base(self) -> Any:
        import faiss

        inner = self.index.index if hasattr(self.index, "index") else self.index
        return faiss.downcast_index(inner)

    @property
    def kind(self) -> str:
        """"flat", "hnsw" or "ivf": what the FAISS file holds."""
        import faiss

        base = self._base()
        if isinstance(base, faiss.IndexHNSW):
            return "hnsw"
        if isinstance(base, faiss.IndexIVF):
            return "ivf"
        return "flat"

    def search_params(self) -> dict[str, int]:
        """The search-time knob of this index (efSearch or nprobe), as the FAISS file has it."""
        base, kind = self._base(), self.kind
        if kind == "hnsw":
            return {"hnsw_ef_search": int(base.hnsw.efSearch)}
        if kind == "ivf":
            return {"ivf_nlist": int(base.nlist), "ivf_nprobe": int(base.nprobe)}
        return {}

    def set_search(self, params: VectorIndexParams) -> None:
        """Apply ``params``' search-time knob (efSearch for HNSW, nprobe for IVF) to this index."""
        base, kind = self._base(), self.kind
        if kind == "hnsw":
            base.hnsw.efSearch = params.hnsw_ef_search
        elif kind == "ivf":
            base.nprobe = min(params.ivf_nprobe, int(base.nlist))

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
