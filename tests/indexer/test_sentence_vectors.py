"""The sentence-vector scheme (indexer/embed.py, indexer/backends/local/build.py): pooled from each chunk's
own forward pass or encoded sentence by sentence, recorded in meta.json and never mixed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.backends.local.build import build_index, is_up_to_date
from indexer.backends.local.store import load_index, read_meta
from indexer.backends.local.writer import LiveIndex
from indexer.changes import Put
from indexer.embed import chunk_reports, embed_chunks_and_sentences, recorded_scheme, sentence_spans
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.ingest.corpus import read_reports, scan_corpus
from indexer.params import build_params
from tests.kb import RECYCLING, REPORTS_DIR


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in sorted(REPORTS_DIR.glob("*.txt"))[1:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _chunks(embedder, folder: Path):  # type: ignore[no-untyped-def]
    reports, _ = read_reports(folder, scan_corpus(folder))
    return chunk_reports(embedder, reports, max_chars=DEFAULT_MAX_CHARS, overlap=DEFAULT_OVERLAP)


def test_sentence_spans_locate_each_sentence_in_the_index_text(embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, REPORTS_DIR)
    assert chunks
    for chunk in chunks:
        spans = sentence_spans(chunk)
        assert [chunk.index_text[a:b] for a, b in spans] == [s.text for s in chunk.sentences]


def test_pooled_chunk_vectors_are_the_separate_ones(embedder, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, corpus)
    separate = embed_chunks_and_sentences(embedder, chunks, "separate")
    pooled = embed_chunks_and_sentences(embedder, chunks, "pooled")
    np.testing.assert_allclose(pooled[0], separate[0], atol=1e-6)  # chunk retrieval unchanged
    assert pooled[1].shape == separate[1].shape == (sum(len(c.sentences) for c in chunks), embedder.dim)
    # measured over data/reports: 0.65-0.97, median 0.81 (see tests/embeddings/test_spans.py)
    assert (pooled[1] * separate[1]).sum(axis=1).min() > 0.6


def test_composed_vectors_read_each_text_once(embedder, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, corpus)
    separate = embed_chunks_and_sentences(embedder, chunks, "separate")
    before = embedder.model_calls
    vectors, sentences = embed_chunks_and_sentences(embedder, chunks, "composed")
    pieces = {s.text for c in chunks for s in c.sentences} | {c.context for c in chunks if c.context}
    assert embedder.model_calls - before == len(pieces)  # no chunk text goes to the model
    np.testing.assert_allclose(sentences, separate[1], atol=1e-5)  # sentence scoring unchanged
    # a chunk is the length-weighted mean of its context and sentences, worked out here again
    chunk = next(c for c in chunks if c.context and len(c.sentences) > 2)
    parts = [chunk.context, *(s.text for s in chunk.sentences)]
    alone = embedder.encode_documents(parts)
    mean = np.array([len(p) for p in parts], np.float32) @ alone
    np.testing.assert_allclose(vectors[chunks.index(chunk)], mean / np.linalg.norm(mean), atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # close to the chunk read whole (over data/reports: cosine 0.92 to 0.98, median 0.94)
    assert (vectors * separate[0]).sum(axis=1).min() > 0.85


def test_the_index_records_its_scheme_and_a_change_keeps_it(embedder, corpus: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = tmp_path / "index"
    build_index(corpus, index, embedder, sentence_vectors="pooled")
    assert read_meta(index)["params"]["sentence_vectors"] == "pooled"
    # a build that names no scheme keeps the index's: nothing to do, and no model loaded for it
    from embeddings import load_embedder

    fresh = load_embedder("m3e-small")
    assert build_index(corpus, index, fresh).up_to_date
    assert fresh._model is None  # type: ignore[attr-defined]

    LiveIndex(corpus, index, embedder).apply([Put("kb-recycling", RECYCLING)])
    searcher = load_index(index, embedder)
    assert recorded_scheme(searcher.meta) == "pooled"
    rows = np.array([i for i, c in enumerate(searcher.chunks) if c.doc_id == "kb-recycling"])
    _, expected = embed_chunks_and_sentences(embedder, [searcher.chunks[i] for i in rows], "pooled")
    # sentences.npy is float16
    np.testing.assert_allclose(searcher.sentence_vectors_for(rows), expected, atol=2e-3)


def test_another_scheme_rebuilds_rather_than_mixes(embedder, corpus: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = tmp_path / "index"
    build_index(corpus, index, embedder, sentence_vectors="separate")
    stats = build_index(corpus, index, embedder, sentence_vectors="pooled")
    assert stats.reused == 0 and stats.embedded == stats.chunks
    assert read_meta(index)["params"]["sentence_vectors"] == "pooled"
    params = build_params(embedder.name, DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, [], "separate")
    assert not is_up_to_date(corpus, index, params)


def test_an_index_from_before_the_scheme_was_recorded_is_separate(embedder, corpus: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = tmp_path / "index"
    stats = build_index(corpus, index, embedder, sentence_vectors="separate")
    meta_file = Path(stats.path) / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    del meta["params"]["sentence_vectors"]
    meta_file.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    assert recorded_scheme(read_meta(index)) == "separate"
    assert is_up_to_date(corpus, index, build_params(embedder.name, DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, [],
                                                      "separate"))
    assert build_index(corpus, index, embedder).up_to_date


def test_an_unknown_scheme_is_refused(embedder, corpus: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="sentence vectors 'mean'"):
        build_index(corpus, tmp_path / "index", embedder, sentence_vectors="mean")
