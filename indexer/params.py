"""What an index is built with, for every backend: the pipeline version, the build parameters
two indexes must share for one to reuse the other's rows, and the version id an index's meta
gives."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from indexer.embed import DEFAULT_SENTENCE_VECTORS, recorded_scheme

# Bump when reading/cleaning/chunking logic changes so existing indexes are rebuilt, not reused.
# 3: the readers map CJK Radicals Supplement characters (「⺠」→「民」) to unified ideographs.
# 4: Word and Markdown table rows are one sentence each, never joined to the next row or taken
#    for a heading (meta "rows").
PIPELINE_VERSION = 4


def build_params(model: str, max_chars: int, overlap: int, user_words: Sequence[str],
                 sentence_vectors: str = DEFAULT_SENTENCE_VECTORS) -> dict[str, Any]:
    """What an index is built with; two indexes share rows only when these are equal.
    ``sentence_vectors`` is one of :data:`indexer.embed.SENTENCE_SCHEMES`."""
    return {
        "pipeline_version": PIPELINE_VERSION,
        "model": model,
        "chunker": {"max_chars": max_chars, "overlap": overlap},
        "extra_user_words": hashlib.sha256("\n".join(sorted(user_words)).encode()).hexdigest()[:16],
        "sentence_vectors": sentence_vectors,
    }


def recorded_params(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The params an index's meta.json records, with its sentence-vector scheme as
    :func:`~indexer.embed.recorded_scheme` reads it (an index from before the scheme
    was recorded made them "separate")."""
    if not meta or not isinstance(meta.get("params"), dict):
        return None
    return {**meta["params"], "sentence_vectors": recorded_scheme(meta)}


def snapshot_version(meta: Mapping[str, Any]) -> str:
    """The version id of an index: its meta's ``snapshot`` (a local snapshot's name, or the
    signature of what Milvus shows), else when it was made."""
    return str(meta.get("snapshot") or meta.get("created_at") or "")
