"""How an index makes its chunk and sentence vectors (``sentences.npy``: small-to-big scoring and
the answerability feature ``sentence_cosine``), a setting recorded in meta.json's ``params`` so an
index never mixes two kinds of vector.

* ``separate`` (the default): chunks encoded whole, and every distinct sentence again on its own.
  Chunks overlap, so the model reads the text about 2.5 times.
* ``composed``: every distinct sentence and chunk context encoded on its own, once; a chunk's
  vector is the length-weighted mean of its context's and sentences' vectors (cosine 0.93 on
  average to the chunk read whole: length weights approximate it as well as token counts or the
  unnormalised means do). The model reads each piece of text once, so a build takes less model
  time than encoding the chunk texts alone. Sentence vectors are the ``separate`` ones.
* ``pooled``: chunks encoded whole; a sentence is the mean of its token states in its chunk's own
  forward pass (:mod:`embeddings.spans`).

Why ``separate`` stays the default (``zhiwen eval`` per scheme, README "Benchmarks"): retrieval is
the same with ``composed`` (CMRC 2018 DEV, first 1,000 questions: hybrid Hit@1 0.988 -> 0.989), but
with the answerability model refitted on TRIAL for it, the CMRC DEV leave-out run answers fewer
questions right (gold in the answer text 0.868 -> 0.846, left-out refused 0.939 -> 0.947), below
the 0.85 the answering issue asks for; ``pooled`` moved the dev-set figures. Feeding the model the
chunk vector's own cosine as ``passage_cosine`` (instead of the small-to-big score, which with
``composed`` chunks mostly repeats ``sentence_cosine``) and refitting both schemes did not close the
gap: at the same share of left-out questions refused on DEV (0.941), gold in the answer text was
0.868 for the shipped model, 0.861 for ``separate`` refitted on chunk cosines and 0.846 for
``composed`` refitted on them (per-question confidences of the three leave-out runs, 2026-12-01).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embeddings import Embedder

SENTENCE_SCHEMES = ("separate", "pooled", "composed")
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
        if DEFAULT_SENTENCE_VECTORS == "pooled" and not pools():
            return "separate"
        return DEFAULT_SENTENCE_VECTORS
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
