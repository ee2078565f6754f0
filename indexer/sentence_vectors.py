"""How an index makes its sentence vectors (``sentences.npy``: small-to-big scoring and the
answerability feature ``sentence_cosine``), a setting recorded in meta.json's ``params`` so an
index never mixes two kinds of sentence vector.

* ``separate``: every distinct sentence text encoded on its own, a second model pass over the text.
* ``pooled``: the mean of the sentence's token states in its chunk's own forward pass
  (:mod:`embeddings.spans`), one model pass per chunk. Chunk vectors are the same either way.

``separate`` stays the default: ``pooled`` builds at about the speed of encoding the chunks alone
but moves the quality figures (README, "Benchmarks": dev hybrid Hit@5 1.000 -> 0.957, CMRC answer
accuracy 0.793 -> 0.807, measured with ``zhiwen eval`` for both schemes back to back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embeddings import Embedder

SENTENCE_SCHEMES = ("separate", "pooled")
DEFAULT_SENTENCE_VECTORS = "separate"
# what an index made before the scheme was recorded used
UNRECORDED = "separate"


def sentence_scheme(embedder: Embedder, requested: str | None = None) -> str:
    """The scheme to build with: ``requested``, or the default when the embedder can pool (else
    "separate"); ``ValueError`` for an unknown scheme, or "pooled" on an embedder that gives no
    token states (the int8 ONNX backend)."""
    from embeddings import can_pool_spans

    def pools() -> bool:  # asked only when it matters: an unchanged corpus never loads the model
        return can_pool_spans(embedder)

    if requested is None:
        return "pooled" if DEFAULT_SENTENCE_VECTORS == "pooled" and pools() else "separate"
    if requested not in SENTENCE_SCHEMES:
        raise ValueError(f"sentence vectors {requested!r}: expected one of {', '.join(SENTENCE_SCHEMES)}")
    if requested == "pooled" and not pools():
        raise ValueError(f"sentence vectors 'pooled' need token states, which {embedder.name} does not give")
    return requested


def recorded_scheme(meta: Mapping[str, Any] | None) -> str:
    """The scheme the index with ``meta`` (its meta.json) was built with."""
    params = (meta or {}).get("params")
    value = params.get("sentence_vectors", UNRECORDED) if isinstance(params, Mapping) else UNRECORDED
    return str(value)
