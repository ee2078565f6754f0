"""Live index changes (indexer/backends/local/update.py, indexer/backends/local/writer.py, indexer/backends/local/journal.py), in-process with the real model.

Each test works on its own copy of data/reports and of the session's index snapshot.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.backends.local.build import build_index, is_up_to_date
from indexer.backends.local.journal import Journal, journal_path, writer_lock
from indexer.backends.local.snapshots import CHECKSUMS, verify_checksums, write_checksums
from indexer.backends.local.store import load_index
from indexer.backends.local.writer import LiveIndex
from indexer.changes import Delete, Put
from indexer.durable import write_file_durably
from indexer.embed import recorded_scheme
from indexer.errors import (
    DocumentConflict,
    DocumentExists,
    DocumentNotFound,
    IndexLoadError,
    InvalidDocument,
    NotText,
    WriterBusy,
)
from indexer.faults import pause_hook
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.ingest.corpus import scan_corpus
from indexer.params import build_params
from tests.kb import ELDERLY_V1, ELDERLY_V2, RECYCLING, KbDirs, make_kb

PARAMS = build_params("m3e-small", DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, [])


@pytest.fixture
def kb(tmp_path: Path, index_dir: Path) -> KbDirs:
    return make_kb(index_dir, tmp_path / "kb")


@pytest.fixture
def live(kb: KbDirs, embedder) -> LiveIndex:  # type: ignore[no-untyped-def]
    return LiveIndex(kb.corpus, kb.index, embedder, lock_timeout=1.0)


def _consistent(kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    """The live index verifies and is exactly the index of the corpus folder."""
    assert verify_checksums(kb.index)
    searcher = load_index(kb.index, embedder)
    assert searcher.meta["sources"] == scan_corpus(kb.corpus)
    assert is_up_to_date(kb.corpus, kb.index, PARAMS)
    assert not Journal(journal_path(kb.index)).pending()


# -- changes ------------------------------------------------------------------------------------


def test_add_embeds_only_the_new_report_and_reuses_stored_vectors(live: LiveIndex, kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    before = load_index(kb.index, embedder)
    calls = embedder.model_calls
    result = live.apply([Put("kb-elderly", ELDERLY_V1)])

    assert result.changed and result.files == {"kb-elderly.txt": "created"}
    assert result.reports_added == ("kb-elderly",)
    assert result.reused == len(before.chunks)
    assert result.chunks == len(before.chunks) + result.chunks_added
    assert (kb.corpus / "kb-elderly.txt").read_text(encoding="utf-8") == ELDERLY_V1
    after = load_index(kb.index, embedder)
    # only the new report went through the model: its chunks and their (distinct) sentences
    assert recorded_scheme(after.meta) == "separate"
    new_chunks = [c for c in after.chunks if c.doc_id == "kb-elderly"]
    assert len(new_chunks) == result.chunks_added >= 1
    sentences = {s.text for c in new_chunks for s in c.sentences}
    assert embedder.model_calls - calls == result.embedded == len(new_chunks) + len(sentences)
    assert result.version == after.meta["snapshot"] != before.meta["snapshot"]
    # unchanged chunks keep their vectors bit for bit, in the same order
    n = len(before.chunks)
    assert [c.chunk_id for c in after.chunks[:n]] == [c.chunk_id for c in before.chunks]
    np.testing.assert_array_equal(after.dense.all_vectors()[:n], before.dense.all_vectors())
    rows = np.arange(n, dtype=np.int64)
    np.testing.assert_array_equal(after.sentence_vectors_for(rows), before.sentence_vectors_for(rows))
    hits = after.search("智慧养老驿站 专职护理员", top_k=3)
    assert hits[0].chunk.doc_id == "kb-elderly"
    _consistent(kb, embedder)


def test_replace_then_delete(live: LiveIndex, kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    first = live.apply([Put("kb-elderly", ELDERLY_V1)])
    replaced = live.apply([Put("kb-elderly", ELDERLY_V2)])
    assert replaced.files == {"kb-elderly.txt": "replaced"}
    assert replaced.reports_updated == ("kb-elderly",) and not replaced.reports_added
    assert replaced.chunks_removed == first.chunks_added
    searcher = load_index(kb.index, embedder)
    assert "24名专职护理员" in searcher.reports["kb-elderly"].text
    assert not any("18名专职护理员" in c.text for c in searcher.chunks)

    deleted = live.apply([Delete("kb-elderly")])
    assert deleted.files == {"kb-elderly.txt": "deleted"}
    assert deleted.reports_removed == ("kb-elderly",)
    assert deleted.embedded == 0
    assert not (kb.corpus / "kb-elderly.txt").exists()
    assert "kb-elderly" not in load_index(kb.index, embedder).reports
    _consistent(kb, embedder)


def test_unchanged_text_writes_no_snapshot(live: LiveIndex, kb: KbDirs) -> None:
    live.apply([Put("kb-elderly", ELDERLY_V1)])
    version = kb.live_snapshot()
    again = live.apply([Put("kb-elderly", ELDERLY_V1)])
    assert not again.changed and again.files == {"kb-elderly.txt": "unchanged"}
    assert kb.live_snapshot() == version


def test_only_two_snapshots_are_kept(live: LiveIndex, kb: KbDirs) -> None:
    live.apply([Put("kb-elderly", ELDERLY_V1)])
    live.apply([Put("kb-recycling", RECYCLING)])
    live.apply([Delete("kb-elderly")])
    snaps = sorted(p.name for p in (kb.root / "index.snapshots").iterdir())
    assert len(snaps) == 2 and kb.live_snapshot() in snaps
    assert not list(kb.root.glob(".index.staging-*"))


def test_incremental_update_equals_a_full_build(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """Adding a file live gives the index `zhiwen index` would build from the same corpus."""
    from tests.kb import REPORTS_DIR

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    first = sorted(REPORTS_DIR.glob("*.txt"))[1]
    (corpus / first.name).write_bytes(first.read_bytes())
    build_index(corpus, tmp_path / "index", embedder)
    LiveIndex(corpus, tmp_path / "index", embedder).apply([Put("kb-recycling", RECYCLING)])
    build_index(corpus, tmp_path / "full", embedder)

    live_idx, full = load_index(tmp_path / "index", embedder), load_index(tmp_path / "full", embedder)
    assert live_idx.reports == full.reports
    assert sorted(live_idx.chunks, key=lambda c: c.chunk_id) == sorted(full.chunks, key=lambda c: c.chunk_id)
    for key in ("sources", "params", "corpus_hash", "skipped"):
        assert live_idx.meta[key] == full.meta[key], key
    assert live_idx.meta["tokenizer"] == full.meta["tokenizer"]
    order = {c.chunk_id: i for i, c in enumerate(full.chunks)}
    rows = np.array([order[c.chunk_id] for c in live_idx.chunks])
    np.testing.assert_allclose(live_idx.dense.all_vectors(), full.dense.all_vectors()[rows], atol=1e-5)


# -- refusals: nothing stored -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (Put("../x", "正文内容"), InvalidDocument, "invalid doc_id"),
        (Put("a/b", "正文内容"), InvalidDocument, "invalid doc_id"),
        (Put(".hidden", "正文内容"), InvalidDocument, "invalid doc_id"),
        (Put("kb-empty", " \n\n "), InvalidDocument, "empty"),
        (Put("kb-binary", "abc\x00\x01\x02\x03" * 50), NotText, "not a text file"),
        (Put("000_cfe86b6ecbc402ed", ELDERLY_V1, must="new"), DocumentExists, "already exists"),
        # the id of one report of a file that holds several
        (Put("004_f6854607940c3363-2", ELDERLY_V1), DocumentConflict, "already belongs to"),
        (Delete("004_f6854607940c3363-2"), DocumentConflict, "one of 2 reports"),
        (Delete("kb-nothing"), DocumentNotFound, "unknown document"),
    ],
)
def test_refused_changes_store_nothing(live: LiveIndex, kb: KbDirs, change: Put | Delete,
                                       error: type[Exception], words: str) -> None:
    corpus, version = kb.corpus_state(), kb.live_snapshot()
    with pytest.raises(error, match=words):
        live.apply([change])
    assert kb.corpus_state() == corpus
    assert kb.live_snapshot() == version
    assert not Journal(journal_path(kb.index)).pending()


def test_second_writer_is_refused_while_the_lock_is_held(live: LiveIndex, kb: KbDirs) -> None:
    corpus = kb.corpus_state()
    with writer_lock(kb.index), pytest.raises(WriterBusy, match=r"another writer.*pid"):
        live.apply([Put("kb-elderly", ELDERLY_V1)], lock_timeout=0.3)
    assert kb.corpus_state() == corpus


def test_a_failed_update_restores_the_file(live: LiveIndex, kb: KbDirs, monkeypatch: pytest.MonkeyPatch) -> None:
    import indexer.embed

    original = (kb.corpus / "000_cfe86b6ecbc402ed.txt").read_bytes()
    corpus, version = kb.corpus_state(), kb.live_snapshot()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(indexer.embed, "embed_chunks", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        live.apply([Put("000_cfe86b6ecbc402ed", ELDERLY_V1)])
    assert (kb.corpus / "000_cfe86b6ecbc402ed.txt").read_bytes() == original
    assert kb.corpus_state() == corpus and kb.live_snapshot() == version
    assert not Journal(journal_path(kb.index)).pending()


# -- crash recovery -----------------------------------------------------------------------------


def test_a_stored_but_unindexed_change_is_rolled_forward(live: LiveIndex, kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    """A writer that died after storing the file (journal entry begun, never done)."""
    data = ELDERLY_V1.encode()
    import hashlib

    Journal(journal_path(kb.index)).begin("put", {"kb-elderly.txt": hashlib.sha256(data).hexdigest()})
    write_file_durably(kb.corpus / "kb-elderly.txt", data)

    result = live.replay()
    assert result is not None and result.reports_added == ("kb-elderly",)
    assert len(result.replayed) == 1
    _consistent(kb, embedder)
    assert live.replay() is None


def test_the_next_write_rolls_forward_a_crashed_delete(live: LiveIndex, kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    name = "001_d4093c45d226763b.txt"
    before = hashlib.sha256((kb.corpus / name).read_bytes()).hexdigest()
    Journal(journal_path(kb.index)).begin("delete", {name: None}, previous={name: before})
    # the writer died before deleting the file; the next writer finishes the job
    result = live.apply([Put("kb-recycling", RECYCLING)])
    assert not (kb.corpus / name).exists()
    assert "001_d4093c45d226763b" in result.reports_removed
    assert "kb-recycling" in result.reports_added
    _consistent(kb, embedder)


def test_a_store_that_never_completed_is_discarded(live: LiveIndex, kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    """Died mid-write: the temp file is there, the real file never was; nothing to index."""
    Journal(journal_path(kb.index)).begin("put", {"kb-elderly.txt": "0" * 64})
    (kb.corpus / ".kb-elderly.txt.tmp-1234abcd").write_text(ELDERLY_V1[:50], encoding="utf-8")
    staging = kb.root / ".index.staging-deadbeef"
    staging.mkdir()
    version = kb.live_snapshot()

    result = live.replay()
    assert result is not None and not result.changed
    assert kb.live_snapshot() == version
    assert not (kb.corpus / ".kb-elderly.txt.tmp-1234abcd").exists()
    assert not staging.exists()
    _consistent(kb, embedder)


def test_pause_hook_waits_for_its_marker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown pause stage"):
        pause_hook(["after_lunch"])
    marker = tmp_path / "paused"
    # max_wait bounds the pause even if this test fails before it removes the marker, and the
    # worker is a daemon: a failing assertion can never leave pytest waiting on it at exit.
    pause = pause_hook(["before_swap"], marker, max_wait=60)
    pause("after_store")  # not a chosen stage: returns at once
    assert not marker.exists()
    worker = threading.Thread(target=pause, args=("before_swap",), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        # The marker appears whole (written to a temp file, then renamed): never empty.
        assert marker.read_text() == "before_swap"
        assert worker.is_alive()
    finally:
        marker.unlink(missing_ok=True)
        worker.join(timeout=30)
    assert not worker.is_alive()


# -- journal and checksums ----------------------------------------------------------------------


def test_journal_ignores_a_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    first = journal.begin("put", {"a.txt": "1" * 64}, doc_id="a")
    second = journal.begin("delete", {"b.txt": None}, doc_id="b")
    journal.done([first.op_id], "v2")
    with (tmp_path / "j.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"op": "done", "id": "' + second.op_id[:4])  # power cut mid-append
    assert [e.op_id for e in journal.pending()] == [second.op_id]
    journal.compact()
    lines = (tmp_path / "j.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["id"] for x in lines] == [second.op_id]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_checksums_name_the_damaged_file(kb: KbDirs, damage: str) -> None:
    assert verify_checksums(kb.index)
    target = kb.index / "bm25" / "data.csc.index.npy"
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
        expected = r"bm25/data\.csc\.index\.npy: truncated \(size expected"
    elif damage == "flip":
        middle = len(data) // 2
        target.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
        expected = r"bm25/data\.csc\.index\.npy: corrupted \(sha256 expected"
    else:
        target.unlink()
        expected = r"bm25/data\.csc\.index\.npy: missing"
    with pytest.raises(IndexLoadError, match=expected):
        verify_checksums(kb.index)


def test_an_index_without_checksums_still_loads(kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    (kb.index / CHECKSUMS).unlink()
    assert verify_checksums(kb.index) is False
    write_checksums(kb.index)
    assert verify_checksums(kb.index) is True


def test_a_title_becomes_the_first_line_and_ids_are_stable(live: LiveIndex, kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    from indexer.ingest.corpus import default_doc_id, document_text

    body = ELDERLY_V1.split("\n", 1)[1].lstrip()
    assert document_text(body, "青山湾社区启用“智慧养老驿站”").startswith("青山湾社区启用“智慧养老驿站”\n\n")
    assert document_text(ELDERLY_V1, "青山湾社区启用“智慧养老驿站”") == ELDERLY_V1  # already there
    assert document_text("一\r\n二\r三") == "一\n二\n三\n"
    assert default_doc_id(ELDERLY_V1) == default_doc_id(ELDERLY_V1) != default_doc_id(RECYCLING)

    live.apply([Put("kb-titled", body, title="青山湾社区启用“智慧养老驿站”")])
    assert load_index(kb.index, embedder).reports["kb-titled"].title == "青山湾社区启用“智慧养老驿站”"


def test_a_missing_corpus_folder_is_refused(kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    from indexer.errors import CorpusUnavailable

    live = LiveIndex(kb.root / "nowhere", kb.index, embedder)
    with pytest.raises(CorpusUnavailable, match="does not exist"):
        live.apply([Put("kb-elderly", ELDERLY_V1)])
