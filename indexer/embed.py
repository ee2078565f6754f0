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

Also the steps both backends share to turn reports into vectors: :func:`chunk_reports` and
:func:`embed_chunks_and_sentences` (each distinct text encoded once, longest first, in batches).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from embeddings.progress import report as report_progress
from indexer.types import Chunk, Report

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


EMBED_BATCH = 64


def chunk_reports(embedder: Embedder, reports: Sequence[Report], *, max_chars: int, overlap: int,
                  progress: bool = False) -> list[Chunk]:
    """Chunks of ``reports`` within ``max_chars`` and the model's token limit."""
    if not reports:
        return []
    from indexer.ingest.chunking import chunk_report

    chunks: list[Chunk] = []
    report_progress("chunk", 0, len(reports))
    for report in progress_bar(reports, progress, "chunking", unit="report"):
        chunks += chunk_report(report, max_chars=max_chars, overlap=overlap, token_len=embedder.token_len,
                               max_tokens=embedder.max_seq_length)
    return chunks


def embed_chunks_and_sentences(embedder: Embedder, chunks: Sequence[Chunk], scheme: str, *,
                               progress: bool = False) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Chunk vectors and the vectors of every chunk's sentences (chunk after chunk), made the way
    ``scheme`` says (:mod:`indexer.embed`)."""
    from embeddings import SpanEmbedder, can_pool_spans

    if scheme == "separate":
        return embed_chunks(embedder, chunks, progress=progress), embed_sentences(embedder, chunks, progress=progress)
    if scheme == "composed":
        return embed_composed(embedder, chunks, progress=progress)
    if scheme != "pooled" or not can_pool_spans(embedder):
        sentence_scheme(embedder, scheme)  # raises with the reason
    vectors, sentences = cast(SpanEmbedder, embedder).encode_documents_with_spans(
        [c.index_text for c in chunks], [sentence_spans(c) for c in chunks], progress=progress)
    return vectors.astype(np.float32, copy=False), sentences.astype(np.float32, copy=False)


def sentence_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """Where each of ``chunk.sentences`` sits in ``chunk.index_text`` (context, "\\n", the
    sentences' cleaned text one after another)."""
    at = len(chunk.context) + 1 if chunk.context and chunk.sentences else 0
    spans = []
    for s in chunk.sentences:
        spans.append((at, at + len(s.text)))
        at += len(s.text)
    return spans


def _longest_first(texts: Sequence[str]) -> list[int]:
    # one length order over the whole build: batches pad little (the model sorts only within
    # what it is given, which here is one EMBED_BATCH slice)
    return sorted(range(len(texts)), key=lambda i: -len(texts[i]))


def _encode_sorted(embedder: Embedder, texts: Sequence[str], batch: int, progress: bool, desc: str) -> npt.NDArray[np.float32]:
    order = _longest_first(texts)
    ordered = [texts[i] for i in order]
    parts = [
        embedder.encode_documents(ordered[i : i + batch])
        for i in progress_bar(range(0, len(ordered), batch), progress, desc, unit="batch")
    ]
    out = np.empty((len(texts), embedder.dim), np.float32)
    if parts:
        out[order] = np.concatenate(parts)
    return out


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk], *, progress: bool = False) -> npt.NDArray[np.float32]:
    return _encode_sorted(embedder, [c.index_text for c in chunks], EMBED_BATCH, progress, "embedding")


def embed_sentences(embedder: Embedder, chunks: Sequence[Chunk], *, progress: bool = False) -> npt.NDArray[np.float32]:
    """Vectors of every chunk's sentences, chunk after chunk (each distinct text embedded once)."""
    texts = [s.text for c in chunks for s in c.sentences]
    if not texts:
        return np.zeros((0, embedder.dim), np.float32)
    vector = _encode_distinct(embedder, texts, progress)
    return vector(texts)


def _encode_distinct(embedder: Embedder, texts: Sequence[str],
                     progress: bool) -> Callable[[Sequence[str]], npt.NDArray[np.float32]]:
    """Each distinct text of ``texts`` encoded once (longest first, in sentence-sized batches);
    returns the lookup giving the rows of any of them."""
    unique = list(dict.fromkeys(texts))
    matrix = _encode_sorted(embedder, unique, EMBED_BATCH * 2, progress, "sentences")
    row = {t: i for i, t in enumerate(unique)}

    def vector(of: Sequence[str]) -> npt.NDArray[np.float32]:
        return matrix[[row[t] for t in of]].astype(np.float32, copy=False)

    return vector


def embed_composed(embedder: Embedder, chunks: Sequence[Chunk], *,
                   progress: bool = False) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Chunk and sentence vectors from one model pass over each distinct sentence and context.

    A sentence is encoded on its own (as ``separate`` does); a chunk's vector is the mean of its
    context's and sentences' vectors, each weighted by its length (the model mean-pools its token
    states, so this is the chunk's own pooling with each part read on its own), normalised.
    Overlapping chunks share sentences, so the model reads each piece of text once instead of
    about 1.5 times for the chunks plus once more for the sentences. A chunk with no sentences is
    encoded whole."""
    if not chunks:
        return np.zeros((0, embedder.dim), np.float32), np.zeros((0, embedder.dim), np.float32)
    # what the model reads for each chunk: its context and sentences, or its text when it has none
    parts_of = [([c.context] if c.context else []) + [s.text for s in c.sentences] if c.sentences
                else [c.index_text] for c in chunks]
    vector = _encode_distinct(embedder, [p for parts in parts_of for p in parts], progress)
    vectors = np.empty((len(chunks), embedder.dim), np.float32)
    for i, parts in enumerate(parts_of):
        mean = np.array([len(p) for p in parts], np.float32) @ vector(parts)
        vectors[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return vectors, vector([s.text for c in chunks for s in c.sentences])


def progress_bar(items: Any, enabled: bool, desc: str, unit: str = "file") -> Any:
    """``items`` behind a tqdm bar when ``enabled`` (long builds on a terminal), else as they are."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, leave=False)
