"""The Milvus backend answers the retrieval seam as the local one does, and its store keeps
readers on whole report versions (issue 14).

Real Milvus Lite 2.5.1 on a database file in a temporary folder, one per module (its child
process is stopped by the fixture's finalizer, whatever the tests did); the index is the bundled
reports' (81 chunks), copied in once by ``migrate``; the write-protocol tests use stores of their
own (other collection prefixes) in the same database. Every Milvus call has a timeout, and so has
each test, so a stuck engine fails a test instead of hanging the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.backends.milvus.connection import MilvusConfig, MilvusConnection
from indexer.backends.milvus.rows import StoreNames
from indexer.backends.milvus.store import MilvusStore
from indexer.errors import IndexLoadError

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
def milvus_searcher(migrated: Any, milvus: MilvusConnection, embedder: Any) -> Any:
    from indexer.backends.milvus.view import open_searcher

    return open_searcher(MilvusStore(milvus), embedder)


@pytest.fixture(scope="module")
def questions(dev_questions: list[dict[str, Any]]) -> list[str]:
    return [q["question"] for q in dev_questions]


def test_migrate_copies_every_chunk_and_sentence_once(migrated: Any, milvus: MilvusConnection,
                                                      searcher: Any, index_dir: Path) -> None:
    from indexer.migrate import copy_snapshot

    n_sentences = sum(len(c.sentences) for c in searcher.chunks)
    assert (migrated.reports, migrated.chunks, migrated.sentences) == (6, 81, n_sentences)
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


def test_a_store_that_was_never_filled_names_the_commands(milvus: MilvusConnection, embedder: Any) -> None:
    from indexer.backends.milvus.view import open_searcher

    other = _connection(milvus, "never_copied")
    try:
        with pytest.raises(IndexLoadError, match="zhiwen migrate"):
            open_searcher(MilvusStore(other), embedder)
    finally:
        other.close()  # (the Lite engine stops with the last connection: the module's)


def test_collection_names_and_config_checks() -> None:
    names = StoreNames.of("zhiwen")
    assert names.all() == ("zhiwen_chunks", "zhiwen_sentences", "zhiwen_reports", "zhiwen_live", "zhiwen_meta")
    with pytest.raises(ValueError, match="prefix"):
        MilvusConfig("http://127.0.0.1:19530", prefix="zhi-wen")
    with pytest.raises(ValueError, match="36 characters"):
        MilvusConfig("/tmp/" + "a" * 40 + ".db")
    with pytest.raises(ValueError, match="36 characters"):
        MilvusConfig("/tmp/知问.db")


# -- the write protocol -------------------------------------------------------------------------
def test_the_lite_engine_stops_with_the_last_connection_not_the_first(milvus: MilvusConnection) -> None:
    """Several knowledge bases of one process share a Milvus Lite file: closing one's connection
    must not stop the engine under the others (the last one closed stops it: the module's)."""
    other = _connection(milvus, "second")
    assert other.client.has_collection("nothing_here") is False
    other.close()
    other.close()  # (twice: counted once)
    assert milvus.client.has_collection("nothing_here") is False  # still answers


def _connection(milvus: MilvusConnection, prefix: str) -> MilvusConnection:
    return MilvusConnection(MilvusConfig(milvus.config.uri, prefix=prefix, timeout_s=TIMEOUT_S))


@pytest.fixture
def small_store(milvus: MilvusConnection, embedder: Any, tmp_path: Path) -> Iterator[tuple[MilvusStore, Path]]:
    """A store of its own, built from a folder of two reports by ``index_folder``."""
    from indexer.backends.milvus.writer import index_folder

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "one.txt").write_text("海泊河街道新建巷网会客议事厅\n\n街道在辖区新建巷网会客议事厅，居民每月在这里议事一次。\n",
                                    encoding="utf-8")
    (corpus / "two.txt").write_text("湖岛街道整治小区\n\n湖岛街道今年整治老旧小区十二个，安装路灯三百盏。\n", encoding="utf-8")
    conn = _connection(milvus, f"t{tmp_path.name[-12:].replace('-', '_')}")
    store = MilvusStore(conn)
    index_folder(store, corpus, embedder, max_chars=300, overlap=100)
    try:
        yield store, corpus
    finally:
        store.drop()
        conn.close()


def _view(store: MilvusStore, embedder: Any) -> Any:
    from indexer.backends.milvus.view import MilvusView

    return MilvusView(store, embedder)


def test_index_folder_is_incremental(small_store: tuple[MilvusStore, Path], embedder: Any) -> None:
    from indexer.backends.milvus.writer import index_folder

    store, corpus = small_store
    before = store.live()
    assert sorted(e.source for e in before.values()) == ["one.txt", "two.txt"]
    unchanged = index_folder(store, corpus, embedder, max_chars=300, overlap=100)
    assert (unchanged.added, unchanged.replaced, unchanged.removed, unchanged.chunks) == ((), (), (), 0)
    assert store.live() == before

    (corpus / "two.txt").write_text("湖岛街道整治小区\n\n湖岛街道今年整治老旧小区十五个。\n", encoding="utf-8")
    (corpus / "one.txt").unlink()
    (corpus / "three.txt").write_text("水清沟街道开办夜校\n\n水清沟街道开办居民夜校，开设书法课。\n", encoding="utf-8")
    changed = index_folder(store, corpus, embedder, max_chars=300, overlap=100)
    assert (changed.added, changed.replaced, changed.removed) == (("three.txt",), ("two.txt",), ("one.txt",))
    searcher = _view(store, embedder).refresh()
    texts = " ".join(r.text for r in searcher.reports.values())
    assert "十五个" in texts and "十二个" not in texts and "议事厅" not in texts and "夜校" in texts
    assert store.generations() == {e.gen for e in store.live().values()}  # old rows swept


def test_staged_rows_are_invisible_until_the_switch(small_store: tuple[MilvusStore, Path], embedder: Any) -> None:
    import dataclasses

    from indexer.backends.milvus.writer import MilvusWriter
    from indexer.types import Report

    store, _ = small_store
    view = _view(store, embedder)
    first = view.refresh()
    writer = MilvusWriter.open(store, embedder)
    old = store.live()["one"]
    report = Report("one", "海泊河街道新建巷网会客议事厅", "海泊河街道新建巷网会客议事厅\n\n议事厅改为每周开放一次。\n",
                    {"source": "one.txt"})
    [version] = writer.versions([report], "one.txt", "d" * 64, old.seq)
    store.stage(version.rows)  # a writer that dies here leaves only unreferenced rows
    assert view.refresh() is None  # nothing visible changed
    hits = first.search("议事厅 每周开放", top_k=5)
    assert all(h.chunk.doc_id != "one" or "每周" not in h.chunk.text for h in hits)
    assert store.sweep_orphans() == 0  # too young: it may be a write in progress
    assert store.sweep_orphans(grace_s=0) == 1
    assert store.generations() == {e.gen for e in store.live().values()}

    [version] = writer.versions([report], "one.txt", "d" * 64, old.seq)
    writer.write([version])
    served = view.refresh()
    assert served is not None and "每周" in served.reports["one"].text
    assert [c.doc_id for c in served.chunks] == [c.doc_id for c in first.chunks]  # same order
    assert dataclasses.asdict(store.live()["one"])["gen"] == version.entry.gen


def test_two_writers_of_one_report_leave_one_whole_version(small_store: tuple[MilvusStore, Path],
                                                           embedder: Any) -> None:
    """Both stage complete versions; the later switch wins; the other's rows are orphans."""
    from indexer.backends.milvus.writer import MilvusWriter
    from indexer.types import Report

    store, _ = small_store
    a, b = MilvusWriter.open(store, embedder), MilvusWriter.open(store, embedder)
    seq = store.live()["two"].seq
    mine = [w.versions([Report("two", "湖岛", f"湖岛街道整治小区\n\n{text}\n", {"source": "two.txt"})],
                       "two.txt", "e" * 64, seq)[0]
            for w, text in ((a, "版本甲：整治小区二十个。"), (b, "版本乙：整治小区三十个，另有四个在建。"))]
    for v in mine:
        store.stage(v.rows)
    store.switch([mine[0].entry])
    store.switch([mine[1].entry])  # b switched last
    served = _view(store, embedder).refresh()
    text = served.reports["two"].text
    chunks = " ".join(c.text for c in served.chunks if c.doc_id == "two")
    assert "版本乙" in text and "版本甲" not in text and "版本甲" not in chunks
    assert store.sweep_orphans(grace_s=0) >= 1  # a's version and the replaced original
    assert store.generations() == {e.gen for e in store.live().values()}


def test_live_changes_check_before_writing(small_store: tuple[MilvusStore, Path], embedder: Any) -> None:
    from indexer.backends.milvus.writer import MilvusWriter
    from indexer.changes import Delete, Put
    from indexer.errors import DocumentExists, DocumentNotFound, NothingToIndex

    store, _ = small_store
    writer = MilvusWriter.open(store, embedder)
    before = store.live()
    with pytest.raises(DocumentExists):
        writer.apply([Put("one", "议事厅照常开放。", must="new")])
    with pytest.raises(DocumentNotFound):
        writer.apply([Delete("nobody")])
    writer.apply([Delete("one")])
    with pytest.raises(NothingToIndex):
        writer.apply([Delete("two")])
    assert set(store.live()) == set(before) - {"one"}
    added = writer.apply([Put("four", "四方街道开放图书角。", title="图书角")])
    assert added.reports_added == ("four",) and added.files == {"four.txt": "created"}
    assert "图书角" in _view(store, embedder).refresh().reports["four"].text


def test_scoring_the_chunks_of_many_reports_at_once(milvus: MilvusConnection, embedder: Any, tmp_path: Path) -> None:
    """Candidates from 70 reports: one flat filter (Milvus Lite fails on ~50 ``or`` clauses)."""
    from indexer.backends.milvus.view import open_searcher
    from indexer.backends.milvus.writer import index_folder

    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(70):
        (corpus / f"r{i:02d}.txt").write_text(f"第{i}号报道\n\n社区今年新建口袋公园{i}处，居民议事{i + 3}次。\n",
                                              encoding="utf-8")
    conn = _connection(milvus, "many_reports")
    store = MilvusStore(conn)
    try:
        index_folder(store, corpus, embedder, max_chars=300, overlap=100)
        searcher = open_searcher(store, embedder)
        everything = np.arange(len(searcher.chunks), dtype=np.int64)
        assert len({c.doc_id for c in searcher.chunks}) == 70
        query = "口袋公园 居民议事"
        assert (searcher.keyword_source.query(query).scores(everything) > 0).all()
        per_chunk = searcher.vectors.query(embedder.encode_queries([query])[0]).sentence_scores(everything)
        assert per_chunk is not None and all(len(s) and (s > 0).all() for s in per_chunk)
    finally:
        store.drop()
        conn.close()


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_a_filtered_search_over_milvus_finds_the_same_hits(milvus_searcher: Any, searcher: Any, mode: str,
                                                           questions: list[str]) -> None:
    """Filters are applied inside Milvus' searches (a doc_id filter), as inside the local ones."""
    reports = sorted(searcher.reports)
    for q, within in zip(questions, [{reports[i % len(reports)], reports[(i + 2) % len(reports)]}
                                     for i in range(len(questions))], strict=True):
        local = searcher.search(q, top_k=5, mode=mode, within=within)
        remote = milvus_searcher.search(q, top_k=5, mode=mode, within=within)
        assert {h.chunk.doc_id for h in remote} <= within
        assert [h.chunk.chunk_id for h in remote] == [h.chunk.chunk_id for h in local], q
