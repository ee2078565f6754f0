"""Vectors of character spans of a text, pooled from the token states of the text's own forward pass.

Why: an index stores a vector per chunk and one per sentence of the chunk. Encoding every sentence
again on its own costs about twice the chunk encoding; the chunk's forward pass already holds a
state for every token, so a sentence's vector is the mean of the states of the tokens that start
inside its span, L2-normalised like the chunk's own (mean-pooled, normalised) vector. The states
are contextual (the sentence is read inside its chunk), so the vector is close to, not equal to,
the sentence encoded alone (tests/embeddings/test_spans.py measures how close).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from embeddings.cache import EmbeddingCache, Vectors, cache_key

log = logging.getLogger(__name__)

Span = tuple[int, int]  # [start, end) character offsets into the text the model sees


@dataclass(frozen=True)
class TokenStates:
    """One text's forward pass: its vector as ``encode_documents`` gives it, and each token's
    state with its character offsets (special tokens have an empty ``(0, 0)`` span)."""

    vector: Vectors  # (dim,), normalised
    states: npt.NDArray[np.float32]  # (tokens, dim)
    offsets: npt.NDArray[np.int64]  # (tokens, 2)


def pool_spans(tokens: TokenStates, spans: Sequence[Span]) -> tuple[Vectors, list[int]]:
    """Normalised mean of the token states starting inside each span, and the indexes of spans the
    model did not read whole (cut by truncation) or no token starts in (blank): their rows are
    zero, for the caller to fill."""
    dim = tokens.states.shape[1]
    out = np.zeros((len(spans), dim), np.float32)
    missing: list[int] = []
    starts, ends = tokens.offsets[:, 0], tokens.offsets[:, 1]
    real = ends > starts  # special tokens ([CLS], [SEP]) cover no character
    read_to = int(ends[real].max()) if real.any() else 0  # truncation ends the text here
    for i, (a, b) in enumerate(spans):
        inside = real & (starts >= a) & (starts < b)
        if b > read_to or not inside.any():
            missing.append(i)
            continue
        vector = tokens.states[inside].mean(axis=0)
        out[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return out, missing


def span_cache_key(model: str, text: str, spans: Sequence[Span]) -> str:
    """Cache key of the span vectors of ``text``: they depend on the text and on the spans."""
    return cache_key(f"{model}\x00spans", f"{text}\x00{list(spans)}")


def encode_with_spans(
    texts: Sequence[str],
    spans: Sequence[Sequence[Span]],
    *,
    model: str,
    dim: int,
    run_tokens: Callable[[list[str]], list[TokenStates]],
    encode_alone: Callable[[list[str]], Vectors],
    cache: EmbeddingCache | None = None,
    group: int = 256,
    progress: bool = False,
) -> tuple[Vectors, Vectors]:
    """Vectors of ``texts`` and of their ``spans`` (all spans, text after text), from one forward
    pass per text. ``run_tokens`` runs a group of texts through the model; ``encode_alone``
    encodes the span texts no token covers (the text was truncated). Texts go to the model
    longest first across all of them, in groups of ``group`` (so token states of a large build
    are never all in memory); with a ``cache``, a text whose vector and span vectors are both
    cached costs no model time."""
    n_spans = [len(s) for s in spans]
    chunk_out = np.zeros((len(texts), dim), np.float32)
    span_out: list[Vectors] = [np.zeros((k, dim), np.float32) for k in n_spans]
    todo = list(range(len(texts)))
    if cache is not None and texts:
        keys = [cache_key(model, t) for t in texts]
        skeys = [span_cache_key(model, t, s) for t, s in zip(texts, spans, strict=True)]
        found = cache.get_many(list(dict.fromkeys([*keys, *skeys])))
        todo = []
        for i, (k, sk) in enumerate(zip(keys, skeys, strict=True)):
            if k in found and sk in found:
                chunk_out[i] = found[k]
                span_out[i] = found[sk].reshape(n_spans[i], dim)
            else:
                todo.append(i)
    todo.sort(key=lambda i: -len(texts[i]))
    fallback: list[tuple[int, int]] = []  # (text, span) pairs to encode alone
    groups = range(0, len(todo), group)
    if progress:
        from tqdm import tqdm

        groups = tqdm(groups, desc="embedding", unit="group", leave=False)
    for start in groups:
        part = todo[start : start + group]
        for i, tokens in zip(part, run_tokens([texts[i] for i in part]), strict=True):
            chunk_out[i] = tokens.vector
            span_out[i], missing = pool_spans(tokens, spans[i])
            fallback += [(i, j) for j in missing]
    if fallback:
        log.info("%d spans past the model's token limit (or blank): encoded on their own", len(fallback))
        alone = encode_alone([texts[i][slice(*spans[i][j])] for i, j in fallback])
        for (i, j), vector in zip(fallback, alone, strict=True):
            span_out[i][j] = vector
    if cache is not None and todo:
        cache.put_many((cache_key(model, texts[i]), chunk_out[i]) for i in todo)
        cache.put_many((span_cache_key(model, texts[i], spans[i]), span_out[i].reshape(-1)) for i in todo)
    spans_matrix = np.concatenate(span_out) if span_out else np.zeros((0, dim), np.float32)
    return chunk_out, spans_matrix.astype(np.float32, copy=False)
