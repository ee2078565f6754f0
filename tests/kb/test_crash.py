"""Kill -9 the server in the middle of an update, at each stage of the writer: the index left on
disk is the old or the new one (never a mix), and after a restart the interrupted change is
rolled forward and every acknowledged upload is there.

One corpus + index, one round per stage: a server started with the pause hook at that stage
completes one upload (acknowledged; its writer paused there and let go, while queries are still
answered), then is killed while paused in a second one. The next round's server is the restart
of the previous one; a last server (no hook) is the restart after the last kill.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from indexer.backends.local.build import is_up_to_date
from indexer.backends.local.journal import Journal, journal_path
from indexer.backends.local.snapshots import verify_checksums
from indexer.backends.local.store import load_index
from indexer.faults import STAGES
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.ingest.corpus import scan_corpus
from indexer.params import build_params
from tests.kb import NIGHT_MARKET_QUESTION, SAMPLES, KbDirs, make_kb
from tests.kb.conftest import AUTH, kill_hard, launch, wait_for_file, wait_ready
from tests.service.conftest import Server

PARAMS = build_params("m3e-small", DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, [])
TEXTS = list(SAMPLES.values())


@dataclass
class Round:
    """What one kill left behind, and what the restart after it found."""

    stage: str
    acked: str
    killed: str
    reads_while_paused: list[int] = field(default_factory=list)
    acked_version: str = ""
    on_disk: frozenset[str] = frozenset()  # reports of the live snapshot right after the kill
    live_after_kill: str = ""
    pending_after_kill: list[set[str]] = field(default_factory=list)
    stored: bool = False
    restart_status: dict[str, Any] = field(default_factory=dict)
    restart_reports: frozenset[str] = frozenset()


@dataclass
class Chain:
    dirs: KbDirs
    base: frozenset[str]
    rounds: dict[str, Round]


def _post(url: str, doc_id: str, text: str) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def post() -> None:
        try:
            out["response"] = httpx.post(f"{url}/v1/documents", json={"doc_id": doc_id, "text": text},
                                         headers=AUTH, timeout=300)
        except httpx.HTTPError as exc:  # the server was killed under it
            out["error"] = exc

    thread = threading.Thread(target=post)
    thread.start()
    return thread, out


def _reports_on_disk(dirs: KbDirs, embedder: Any) -> frozenset[str]:
    assert verify_checksums(dirs.index)
    return frozenset(load_index(dirs.index, embedder).reports)  # files, counts, model, dim


def _play(r: Round, n: int, server: Server, dirs: KbDirs, marker: Path, embedder: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        thread, out = _post(server.url, r.acked, TEXTS[n % len(TEXTS)])
        assert wait_for_file(marker, server) == r.stage
        r.reads_while_paused.append(client.post("/v1/search", json={"query": "九水街道"}).status_code)
        r.reads_while_paused.append(client.get("/v1/index").status_code)
        marker.unlink()
        thread.join(timeout=300)
        assert out["response"].status_code == 201, out["response"].text
        r.acked_version = out["response"].json()["index"]["version"]

        thread, out = _post(server.url, r.killed, TEXTS[(n + 1) % len(TEXTS)])
        assert wait_for_file(marker, server) == r.stage
    kill_hard(server)
    marker.unlink()
    thread.join(timeout=60)
    assert "response" not in out, "the killed upload must not have been acknowledged"
    r.on_disk = _reports_on_disk(dirs, embedder)
    r.live_after_kill = dirs.live_snapshot()
    r.pending_after_kill = [set(e.files) for e in Journal(journal_path(dirs.index)).pending()]
    r.stored = (dirs.corpus / f"{r.killed}.txt").exists()


def _restarted(r: Round, server: Server, dirs: KbDirs, embedder: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        r.restart_status = client.get("/v1/index").json()
        r.restart_reports = frozenset(d["doc_id"] for d in client.get("/v1/documents").json()["documents"])
    assert _reports_on_disk(dirs, embedder) == r.restart_reports


@pytest.fixture(scope="module")
def chain(index_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Chain]:
    tmp = tmp_path_factory.mktemp("crash")
    dirs = make_kb(index_dir, tmp / "kb")
    base = _reports_on_disk(dirs, embedder)
    marker = tmp / "paused"
    rounds = {s: Round(s, f"kb-acked-{n}", f"kb-killed-{n}") for n, s in enumerate(STAGES)}
    server: Server | None = None
    try:
        previous: Round | None = None
        for n, stage in enumerate([*STAGES, None]):
            hook = {"ZHIWEN_FAULT_PAUSE_AT": stage, "ZHIWEN_FAULT_PAUSE_MARKER": str(marker)} if stage else {}
            server = launch(dirs, tmp, **hook)
            wait_ready(server)
            if previous is not None:
                _restarted(previous, server, dirs, embedder)
            if stage is None:
                break
            _play(rounds[stage], n, server, dirs, marker, embedder)
            previous = rounds[stage]
        yield Chain(dirs, base, rounds)
    finally:
        if server is not None:
            server.stop()


@pytest.mark.parametrize("stage", STAGES)
def test_a_kill_leaves_the_old_or_the_new_index(stage: str, chain: Chain) -> None:
    r = chain.rounds[stage]
    assert r.reads_while_paused == [200, 200]
    before = set(STAGES[: STAGES.index(stage)])
    expected_old = chain.base | {x for s in before for x in (chain.rounds[s].acked, chain.rounds[s].killed)}
    old, new = expected_old | {r.acked}, expected_old | {r.acked, r.killed}
    if stage == "after_swap":
        assert r.on_disk == new
    else:
        assert r.on_disk == old and r.live_after_kill == r.acked_version
    # the upload was stored (and journaled) before any index work
    assert r.stored and r.pending_after_kill == [{f"{r.killed}.txt"}]


@pytest.mark.parametrize("stage", STAGES)
def test_a_restart_rolls_the_change_forward(stage: str, chain: Chain) -> None:
    r = chain.rounds[stage]
    upto = STAGES[: STAGES.index(stage) + 1]
    acknowledged = {chain.rounds[s].acked for s in upto}
    interrupted = {chain.rounds[s].killed for s in upto}
    assert acknowledged <= r.restart_reports  # nothing acknowledged is lost
    assert r.restart_reports == chain.base | acknowledged | interrupted
    assert r.restart_status["pending_changes"] == 0
    assert r.restart_status["reports"] == len(r.restart_reports)


def test_the_final_state_matches_the_corpus(chain: Chain, embedder: Any) -> None:
    dirs = chain.dirs
    searcher = load_index(dirs.index, embedder)
    assert verify_checksums(dirs.index)
    assert searcher.meta["sources"] == scan_corpus(dirs.corpus)
    assert is_up_to_date(dirs.corpus, dirs.index, PARAMS)
    assert not Journal(journal_path(dirs.index)).pending()
    leftovers = [p.name for p in dirs.root.glob(".index.*")] + [p.name for p in dirs.corpus.glob(".*")]
    assert not leftovers
    assert len(list((dirs.root / "index.snapshots").iterdir())) <= 2
    # an interrupted upload is searchable once rolled forward
    hits = searcher.search(NIGHT_MARKET_QUESTION, top_k=3)
    assert hits and hits[0].chunk.doc_id.startswith("kb-")
