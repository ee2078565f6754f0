"""Cached indexes of BEIR corpora, so repeated benchmark runs embed the corpus once.

An index lives under ``<cache_dir>/<key>``, where the key hashes the corpus file's bytes and the
indexer's build parameters (pipeline version, model, chunker parameters). A change to any of them
yields a new key; ``<cache_dir>/<key>.json`` says what a key stands for.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.data import file_digest, load_beir_corpus

if TYPE_CHECKING:
    from embeddings import Embedder

log = logging.getLogger(__name__)


def cache_key(corpus_file: Path, params: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the corpus bytes and the build parameters."""
    h = hashlib.sha256(file_digest(corpus_file).encode())
    h.update(json.dumps(params, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def cached_beir_index(
    corpus_dir: Path,
    embedder: Embedder,
    cache_dir: Path,
    *,
    max_chars: int = 300,
    overlap: int = 100,
    progress: bool = False,
    rebuild: bool = False,
    exclude: frozenset[str] = frozenset(),
    sentence_vectors: str | None = None,
) -> Path:
    """The index directory of a BEIR corpus, built (chunk, embed, write) only when not cached;
    ``exclude`` names passages left out of it (leave-out evaluation)."""
    from indexer.backends.local.build import build_index_from_reports
    from indexer.backends.local.store import read_meta
    from indexer.embed import sentence_scheme
    from indexer.errors import IndexLoadError
    from indexer.params import build_params, recorded_params

    corpus_file = Path(corpus_dir) / "corpus.jsonl"
    scheme = sentence_scheme(embedder, sentence_vectors)
    params = build_params(embedder.name, max_chars, overlap, (), scheme)
    key = cache_key(corpus_file, {**params, "exclude": sorted(exclude)} if exclude else params)
    index_dir = Path(cache_dir) / key
    if not rebuild:
        try:
            if recorded_params(read_meta(index_dir)) == params:
                log.info("using cached index %s", index_dir)
                return index_dir
        except IndexLoadError:
            pass
    reports = [r for r in load_beir_corpus(corpus_dir) if r.doc_id not in exclude]
    log.info("indexing %d passages of %s into %s", len(reports), corpus_dir, index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    stats = build_index_from_reports(
        reports, index_dir, embedder, max_chars=max_chars, overlap=overlap, progress=progress,
        sentence_vectors=scheme,
    )
    info = {
        "corpus": str(corpus_file),
        "passages": len(reports),
        "excluded": len(exclude),
        "chunks": stats.chunks,
        "params": params,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(stats.seconds, 1),
    }
    (Path(cache_dir) / f"{key}.json").write_text(
        json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return index_dir
