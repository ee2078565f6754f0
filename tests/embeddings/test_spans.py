"""Span vectors from a document's own forward pass (embeddings/spans.py), with the real model."""

from __future__ import annotations

import numpy as np

from embeddings.spans import TokenStates, pool_spans

CONTEXT = "九水街道 | 应急演练\n"
SENTENCES = ["今天上午下了暴雨。", "交通部门启动了应急预案，共出动人员三百名。", "市民出行基本正常。"]
TEXT = CONTEXT + "".join(SENTENCES)
SPANS = [(12, 21), (21, 42), (42, 51)]
assert [TEXT[a:b] for a, b in SPANS] == SENTENCES


def test_pool_spans_averages_the_tokens_starting_inside() -> None:
    states = np.array([[9, 9], [1, 0], [3, 0], [0, 2], [9, 9]], np.float32)
    offsets = np.array([[0, 0], [0, 1], [1, 2], [2, 4], [0, 0]], np.int64)  # [CLS] a b cd [SEP]
    vectors, missing = pool_spans(TokenStates(np.zeros(2, np.float32), states, offsets), [(0, 2), (2, 4), (4, 6)])
    # (0, 2): mean of (1, 0) and (3, 0) is (2, 0), normalised (1, 0); (2, 4): (0, 2) -> (0, 1);
    # (4, 6): past the last token (truncated) -> zero row, reported missing
    assert np.allclose(vectors, [[1, 0], [0, 1], [0, 0]])
    assert missing == [2]


def test_document_vectors_are_those_of_encode_documents(embedder) -> None:  # type: ignore[no-untyped-def]
    texts = [TEXT, "短文本。第二句。"]
    vectors, spans = embedder.encode_documents_with_spans(texts, [SPANS, [(0, 4), (4, 8)]])
    assert np.allclose(vectors, embedder.encode_documents(texts), atol=1e-6)
    assert spans.shape == (5, embedder.dim)
    assert np.allclose(np.linalg.norm(spans, axis=1), 1.0, atol=1e-5)


def test_a_pooled_span_is_close_to_the_span_encoded_alone(embedder) -> None:  # type: ignore[no-untyped-def]
    # Measured on the 363 chunk sentences of data/reports: cosine to the sentence encoded on its
    # own 0.65-0.97 (median 0.81); here 0.80-0.86. The bound only catches a wrong span (a
    # neighbour's tokens, or the context's) or pooling that is not the model's mean.
    _, pooled = embedder.encode_documents_with_spans([TEXT], [SPANS])
    alone = embedder.encode_documents([TEXT[a:b] for a, b in SPANS])
    cosines = (pooled * alone).sum(axis=1)
    assert cosines.min() > 0.6
    # not a sharper claim: pooled states carry their neighbours, so here the third sentence's
    # pooled vector is a little closer (0.82) to the second one alone than to itself alone (0.80)


def test_spans_past_the_token_limit_are_encoded_on_their_own() -> None:
    from embeddings import load_embedder

    small = load_embedder("m3e-small")
    small._max_seq_length = 16  # type: ignore[attr-defined]  # 14 characters fit, then [SEP]
    text = "一二三四五六七八九十。" * 3
    spans = [(0, 11), (11, 22), (22, 33)]
    before = small.model_calls
    vectors, pooled = small.encode_documents_with_spans([text], [spans])
    # one forward pass for the text, then on their own the span cut by truncation (its first
    # three characters were read) and the span past it
    assert small.model_calls - before == 3
    assert np.allclose(pooled[1:], small.encode_documents([text[11:22], text[22:33]]), atol=1e-6)
    assert np.allclose(vectors, small.encode_documents([text]), atol=1e-6)


def test_the_cache_serves_both_kinds_of_vector(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from embeddings import load_embedder

    cached = load_embedder("m3e-small", cache_path=tmp_path / "cache.sqlite")
    first = cached.encode_documents_with_spans([TEXT], [SPANS])
    calls = cached.model_calls
    again = cached.encode_documents_with_spans([TEXT], [SPANS])
    assert cached.model_calls == calls  # nothing sent to the model
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    cached.encode_documents([TEXT])  # the plain document cache holds the same vector
    assert cached.model_calls == calls
