"""The indexes an evaluation searches: the QA set's index (without left-out reports when asked), a
BEIR corpus indexed once into the cache, and the same index copied into Milvus to score the two
backends side by side."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.data import EvalSet
    from indexer.backends.milvus.connection import MilvusConfig
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)


def warn_if_stale(meta: dict[str, Any], index_dir: Path) -> None:
    """An index built by an older pipeline scores the old code, not HEAD's: say so."""
    from indexer.params import PIPELINE_VERSION

    built = (meta.get("params") or {}).get("pipeline_version")
    if built != PIPELINE_VERSION:
        log.warning("%s was built by pipeline version %s, this code is version %s: the figures "
                    "are not this code's until `zhiwen index` (or `make eval`) rebuilds it",
                    index_dir, built, PIPELINE_VERSION)


def milvus_searcher(
    searcher: Searcher, config: MilvusConfig, stack: contextlib.ExitStack
) -> tuple[Searcher, dict[str, Any]]:
    """``searcher``'s index searched in Milvus, copied there first when Milvus lacks it: into
    collections of its own (``<prefix>_eval_*``), never a served store's."""
    import dataclasses

    from indexer.backends.milvus.connection import MilvusConnection
    from indexer.backends.milvus.store import MilvusStore
    from indexer.backends.milvus.view import open_searcher
    from indexer.migrate import copy_snapshot

    assert searcher.path is not None
    config = dataclasses.replace(config, prefix=f"{config.prefix}_eval")
    conn = stack.enter_context(MilvusConnection(config))
    copied = copy_snapshot(conn, searcher.path, replace=True)
    log.info("Milvus %s: collections %s_* (%s)", config.uri, config.prefix,
             "copied" if copied.copied else "already there")
    milvus = open_searcher(MilvusStore(conn), searcher.embedder)
    return milvus, {"uri": config.uri, "collection": copied.collections.chunks}


def open_searcher(
    eval_set: EvalSet,
    model: str,
    cache_dir: Path,
    *,
    exclude: frozenset[str] = frozenset(),
    progress: bool = False,
    max_chars: int = 300,
    overlap: int = 100,
    rebuild: bool = False,
    index_dir: Path | None = None,
    sentence_vectors: str | None = None,
) -> Searcher:
    """The index to evaluate on: ``index_dir`` for a QA set; for a BEIR set its corpus (without
    ``exclude``) indexed into ``cache_dir`` once and reused."""
    from embeddings import load_embedder
    from indexer.backends.local.store import load_index
    from indexer.errors import IndexLoadError

    # No embedding cache for queries: their latencies must measure the model, not a lookup.
    embedder = load_embedder(model)
    if eval_set.kind != "beir":
        source = index_dir or Path("var/index")
        if exclude:
            source = reduced_qa_index(source, exclude, Path(cache_dir), embedder, progress)
        return load_index(source, embedder)
    from eval.cache import cached_beir_index

    assert eval_set.corpus_dir is not None
    # Passages are embedded through a cache, so an index without the left-out documents costs
    # no second embedding pass.
    build_embedder = load_embedder(model, cache_path=Path(cache_dir) / "embeddings.sqlite")

    def build(again: bool) -> Path:
        assert eval_set.corpus_dir is not None
        return cached_beir_index(
            eval_set.corpus_dir, build_embedder, cache_dir, max_chars=max_chars, overlap=overlap,
            progress=progress, rebuild=again, exclude=exclude, sentence_vectors=sentence_vectors,
        )

    path = build(rebuild)
    try:
        return load_index(path, embedder)
    except IndexLoadError as exc:
        log.warning("cached index unusable (%s); rebuilding", exc)
        return load_index(build(True), embedder)


def reduced_qa_index(
    index_dir: Path, exclude: frozenset[str], cache_dir: Path, embedder: Any, progress: bool
) -> Path:
    """The QA index without the ``exclude`` reports, rebuilt under ``cache_dir`` from the reports
    ``index_dir`` holds, with its chunking parameters (its vectors are not loaded)."""
    import hashlib

    from indexer.backends.local.build import build_index_from_reports
    from indexer.backends.local.store import read_meta, read_reports
    from indexer.embed import recorded_scheme

    meta = read_meta(index_dir)
    chunker = meta.get("params", {}).get("chunker", {})
    key = hashlib.sha256("\n".join(sorted(exclude)).encode()).hexdigest()[:16]
    target = cache_dir / f"qa-leave-out-{key}"
    kept = [r for r in read_reports(index_dir) if r.doc_id not in exclude]
    build_index_from_reports(
        kept, target, embedder, progress=progress, sentence_vectors=recorded_scheme(meta),
        **{k: chunker[k] for k in ("max_chars", "overlap") if k in chunker},
    )
    return target
