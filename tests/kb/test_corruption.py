"""A damaged index is named, not served: truncate or corrupt each index file in turn, and the
service's start-up (/readyz) says which file and what is wrong; `zhiwen index --repair` recovers.

The start-ups run the real app and lifespan in-process with the session's model (each costs a
second instead of a model load); one case runs a real server and the real CLI end to end.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from indexer.backends.local.build import build_index, is_up_to_date
from indexer.backends.local.journal import Journal, journal_path
from indexer.backends.local.snapshots import verify_checksums, write_checksums
from indexer.backends.local.store import load_index
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.ingest.corpus import scan_corpus
from indexer.params import build_params
from tests.kb import ELDERLY_V1, REPORTS_DIR, KbDirs, make_kb
from tests.kb.conftest import AUTH, RunApp, launch
from tests.service.conftest import ROOT, wait_for

FILES = [
    "meta.json",
    "reports.jsonl",
    "chunks.jsonl",
    "dense.faiss",
    "sentences.npy",
    "bm25/data.csc.index.npy",
    "bm25/indices.csc.index.npy",
    "bm25/indptr.csc.index.npy",
    "bm25/params.index.json",
    "bm25/vocab.index.json",
    "userdict.txt",
]
# flipped bytes that every format would still parse: only the checksums notice
CORRUPTED = ["reports.jsonl", "dense.faiss", "sentences.npy", "bm25/data.csc.index.npy", "userdict.txt"]
CASES = [(f, "truncated") for f in FILES] + [(f, "corrupted") for f in CORRUPTED]
PARAMS = build_params("m3e-small", DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, [])


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 8]) + data[middle + 8 :])


def assert_serves(run_app: RunApp, dirs: KbDirs, reports: int) -> None:
    with run_app(dirs) as (client, readyz):
        assert readyz.status_code == 200, readyz.text
        assert readyz.json()["documents"] == reports
        assert client.post("/v1/search", json={"query": "九水街道"}).json()["results"]


@pytest.mark.parametrize(("file", "how"), CASES, ids=[f"{f}-{h}" for f, h in CASES])
def test_start_up_names_the_damage_and_repair_recovers(
    file: str, how: str, tmp_path: Path, index_dir: Path, run_app: RunApp
) -> None:
    from zhiwen.cli import main

    dirs = make_kb(index_dir, tmp_path / "kb", snapshots=2)
    damaged = dirs.live_snapshot()
    damage(dirs.index / file, how)

    with run_app(dirs) as (client, readyz):
        assert readyz.status_code == 503, readyz.text
        error = readyz.json()["error"]
        assert error["code"] == "index_unavailable"
        assert error["message"].startswith(f"{file}: {how}"), error["message"]
        assert "zhiwen index --repair" in error["message"]
        # nothing is answered from it, and nothing is written into it
        assert client.post("/v1/search", json={"query": "九水街道"}).status_code == 503
        assert client.get("/v1/index").status_code == 503
        put = client.put("/v1/documents/kb-x", json={"text": ELDERLY_V1}, headers=AUTH)
        assert put.status_code == 503 and not (dirs.corpus / "kb-x.txt").exists()

    args = ["index", "--repair", "--corpus", str(dirs.corpus), "--index", str(dirs.index)]
    assert main(args) == 0
    assert dirs.live_snapshot() != damaged  # fell back to the older snapshot that verifies
    assert verify_checksums(dirs.index)
    assert is_up_to_date(dirs.corpus, dirs.index, PARAMS)
    assert_serves(run_app, dirs, reports=6)


def test_repair_rebuilds_when_no_snapshot_verifies(tmp_path: Path, embedder: Any, patched_model: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from zhiwen.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    small = min(REPORTS_DIR.glob("*.txt"), key=lambda p: p.stat().st_size)
    shutil.copy(small, corpus / small.name)
    build_index(corpus, tmp_path / "index", embedder)
    write_checksums(tmp_path / "index")
    damage(tmp_path / "index" / "chunks.jsonl", "truncated")

    assert main(["index", "--repair", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 0
    out = capsys.readouterr().out
    assert "chunks.jsonl: truncated" in out and "rebuilding from the corpus" in out
    searcher = load_index(tmp_path / "index", embedder)
    assert verify_checksums(tmp_path / "index")
    assert searcher.meta["sources"] == scan_corpus(corpus)
    assert len(list((tmp_path / "index.snapshots").iterdir())) == 1  # the broken one is gone


def test_repair_finishes_what_a_crashed_writer_left(tmp_path: Path, index_dir: Path, run_app: RunApp,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Leftovers of a writer killed mid-way: a staging folder, a half-written snapshot, a temp
    corpus file, and a journaled upload whose file was stored but never indexed."""
    from zhiwen.cli import main

    dirs = make_kb(index_dir, tmp_path / "kb")
    (dirs.root / ".index.staging-0badc0de").mkdir()
    (dirs.root / "index.snapshots" / ".tmp-20990101T000000-0badc0de").mkdir()
    (dirs.corpus / ".kb-half.txt.tmp-0badc0de").write_text("半", encoding="utf-8")
    data = ELDERLY_V1.encode()
    Journal(journal_path(dirs.index)).begin("put", {"kb-elderly.txt": hashlib.sha256(data).hexdigest()})
    (dirs.corpus / "kb-elderly.txt").write_bytes(data)

    assert main(["index", "--repair", "--corpus", str(dirs.corpus), "--index", str(dirs.index)]) == 0
    out = capsys.readouterr().out
    assert "removed 3 leftover(s)" in out and "rolled forward 1 interrupted change(s)" in out
    assert not [p for p in dirs.root.rglob(".*") if "0badc0de" in p.name]
    assert not Journal(journal_path(dirs.index)).pending()
    assert is_up_to_date(dirs.corpus, dirs.index, PARAMS)
    assert_serves(run_app, dirs, reports=7)
    # and a repair of a healthy index changes nothing
    version = dirs.live_snapshot()
    assert main(["index", "--repair", "--corpus", str(dirs.corpus), "--index", str(dirs.index)]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert dirs.live_snapshot() == version


def test_a_real_server_refuses_a_damaged_index_and_the_cli_repairs_it(
    tmp_path: Path, index_dir: Path, embedder: Any
) -> None:
    """End to end, in real processes: a user dictionary cut short (which the index would still
    load, tokenising queries differently from the index) is named by /readyz."""
    dirs = make_kb(index_dir, tmp_path / "kb", snapshots=2)
    damage(dirs.index / "userdict.txt", "truncated")
    server = launch(dirs, tmp_path)
    try:
        readyz = wait_for(server, lambda r: r.status_code != 503 or r.json()["error"]["code"] != "loading",
                          "done loading")
    finally:
        server.stop()
    assert readyz.status_code == 503
    assert readyz.json()["error"]["message"].startswith("userdict.txt: truncated (size expected")

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_CACHE_PATH=str(tmp_path / "e.sqlite"))
    result = subprocess.run(
        [sys.executable, "-m", "zhiwen.cli", "index", "--repair", "--quiet",
         "--corpus", str(dirs.corpus), "--index", str(dirs.index)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "userdict.txt: truncated" in result.stdout and "fell back to snapshot" in result.stdout
    assert verify_checksums(dirs.index)
    assert len(load_index(dirs.index, embedder).reports) == 6
