"""The Milvus backend answers the retrieval seam as the local one does (issue 14, step 2).

Real Milvus Lite 2.5.1 on a database file in a temporary folder, one per module (its child
process is stopped by the fixture's finalizer, whatever the tests did); the index is the bundled
reports' (81 chunks), copied in once by ``migrate``. Every Milvus call has a timeout, and so has
each test, so a stuck engine fails a test instead of hanging the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.errors import IndexLoadError
from indexer.milvus import MilvusConfig, MilvusConnection, collection_names

pytestmark = pytest.mark.timeout(300)

TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusConnection]:
    db = tmp_path_factory.mktemp("milvus") / "zhiwen.db"
    conn = MilvusConnection(MilvusConfig(str(db), prefix="test", timeout_s=TIMEOUT_S))
    try:
        yield conn
    finally:
        conn.close()  # stops the Milvus Lite child process


@pytest.fixture(scope="module")
def migrated(milvus: MilvusConnection, index_dir: Path) -> Any:
    from indexer.migrate import copy_snapshot

    return copy_snapshot(milvus, index_dir)


@pytest.fixture(scope="module")
def milvus_searcher(migrated: Any, milvus: MilvusConnection, index_dir: Path, embedder: Any) -> Any:
    from indexer.store import load_index

    return load_index(index_dir, embedder, milvus=milvus)


@pytest.fixture(scope="module")
def questions(dev_questions: list[dict[str, Any]]) -> list[str]:
    return [q["question"] for q in dev_questions]


def test_migrate_copies_every_chunk_and_sentence_once(migrated: Any, milvus: MilvusConnection,
                                                      searcher: Any, index_dir: Path) -> None:
    from indexer.migrate import copy_snapshot

    n_sentences = sum(len(c.sentences) for c in searcher.chunks)
    assert (migrated.chunks, migrated.sentences) == (len(searcher.chunks), n_sentences) == (81, n_sentences)
    assert milvus.row_count(migrated.collections.chunks) == 81
    assert milvus.row_count(migrated.collections.sentences) == n_sentences
    again = copy_snapshot(milvus, index_dir)  # complete collections are left as they are
    assert not again.copied and again.collections == migrated.collections


def test_bm25_equals_the_local_scores(milvus_searcher: Any, searcher: Any, questions: list[str]) -> None:
    everything = np.arange(len(searcher.chunks), dtype=np.int64)
    for q in questions:
        local, remote = searcher.keyword_source.query(q), milvus_searcher.keyword_source.query(q)
        np.testing.assert_allclose(remote.scores(everything), local.scores(everything), atol=1e-4, err_msg=q)
        assert remote.best == pytest.approx(local.best, abs=1e-4), q
        l_ids, l_scores = local.top(10)
        r_ids, r_scores = remote.top(10)
        np.testing.assert_allclose(r_scores, l_scores, atol=1e-4, err_msg=q)
        # the same chunks, except those tied with the last one (either may be cut)
        if len(l_scores):
            edge = float(l_scores[-1])
            clear = {int(i) for i, s in zip(l_ids, l_scores, strict=True) if s > edge + 1e-4}
            assert clear <= {int(i) for i in r_ids}, q


def test_no_query_token_scores_nothing(milvus_searcher: Any) -> None:
    handle = milvus_searcher.keyword_source.query("的 了 吗？")  # stopwords and punctuation only
    assert len(handle.top(5)[0]) == 0
    assert handle.best == 0.0
    assert handle.scores(np.arange(3, dtype=np.int64)).tolist() == [0.0, 0.0, 0.0]


def test_vectors_equal_the_local_ones(milvus_searcher: Any, searcher: Any, embedder: Any,
                                      questions: list[str]) -> None:
    n = len(searcher.chunks)
    some = np.array([0, 5, 17, 40, n - 1], dtype=np.int64)
    for q, vector in zip(questions, embedder.encode_queries(questions), strict=True):
        local, remote = searcher.vectors.query(vector), milvus_searcher.vectors.query(vector)
        l_ids, l_scores = local.top(20)
        r_ids, r_scores = remote.top(20)
        assert r_ids.tolist() == l_ids.tolist(), q
        np.testing.assert_allclose(r_scores, l_scores, atol=1e-5)
        np.testing.assert_allclose(remote.scores(some), local.scores(some), atol=1e-6)
        for r, lo in zip(remote.sentence_scores(some), local.sentence_scores(some), strict=True):
            assert len(r) == len(lo)
            np.testing.assert_allclose(r, lo, atol=1e-5)


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_a_searcher_over_milvus_finds_the_same_hits(milvus_searcher: Any, searcher: Any, mode: str,
                                                    questions: list[str]) -> None:
    for q in questions:
        local = searcher.search(q, top_k=10, mode=mode)
        remote = milvus_searcher.search(q, top_k=10, mode=mode)
        assert [h.chunk.chunk_id for h in remote] == [h.chunk.chunk_id for h in local], q
        np.testing.assert_allclose([h.score for h in remote], [h.score for h in local], atol=1e-4)


def test_loading_a_snapshot_that_was_never_copied_names_the_command(
    milvus: MilvusConnection, index_dir: Path, embedder: Any
) -> None:
    from indexer.store import load_index

    other = MilvusConnection(MilvusConfig(milvus.config.uri, prefix="never_copied", timeout_s=TIMEOUT_S))
    try:
        with pytest.raises(IndexLoadError, match="zhiwen migrate"):
            load_index(index_dir, embedder, milvus=other)
    finally:
        other.client.close()  # the Lite engine belongs to the module's connection


def test_collection_names_and_config_checks() -> None:
    names = collection_names("zhiwen", "20261201T042204-82c11586")
    assert names.chunks == "zhiwen_20261201T042204_82c11586_chunks"
    assert names.sentences == "zhiwen_20261201T042204_82c11586_sentences"
    with pytest.raises(ValueError, match="prefix"):
        MilvusConfig("http://127.0.0.1:19530", prefix="zhi-wen")
    with pytest.raises(ValueError, match="36 characters"):
        MilvusConfig("/tmp/" + "a" * 40 + ".db")
    with pytest.raises(ValueError, match="36 characters"):
        MilvusConfig("/tmp/知问.db")
