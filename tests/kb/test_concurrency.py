"""Queries keep being answered, each from one consistent snapshot, while a writer adds and
deletes reports; a second writer is turned away with 409 and changes nothing."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

from indexer.backends.local.journal import writer_lock
from tests.kb import SAMPLES
from tests.kb.conftest import AUTH, KbServer

# six writes (bounded): each changes the set of reports
WRITES = [
    ("add", "kb-elderly"),
    ("add", "kb-recycling"),
    ("delete", "kb-elderly"),
    ("add", "kb-night-market"),
    ("delete", "kb-recycling"),
    ("delete", "kb-night-market"),
]
QUERIES = ["智慧养老驿站 专职护理员", "垃圾分类积分超市 积分卡", "运河夜市 摊位", "九水街道党工委 荣誉称号"]
READERS = 4


@dataclass(frozen=True)
class Read:
    start: float
    end: float
    cited: frozenset[str]


def _doc_ids(client: httpx.Client) -> frozenset[str]:
    return frozenset(d["doc_id"] for d in client.get("/v1/documents").json()["documents"])


def test_readers_see_one_consistent_snapshot_during_writes(kb_server: KbServer) -> None:
    stop = threading.Event()
    reads: list[Read] = []
    failures: list[str] = []

    def reader(n: int) -> None:
        with kb_server.client() as client:
            i = n
            while not stop.is_set():
                query = QUERIES[i % len(QUERIES)]
                start = time.monotonic()
                try:
                    if i % 3 == 0:
                        r = client.post("/v1/ask", json={"question": query})
                        body = r.json()
                        cited = {c["doc_id"] for c in body.get("citations", [])}
                        cited |= {p["doc_id"] for p in body.get("passages", [])}
                    else:
                        r = client.post("/v1/search", json={"query": query, "top_k": 10})
                        cited = {p["doc_id"] for p in r.json().get("results", [])}
                except (httpx.HTTPError, ValueError) as exc:
                    failures.append(f"{query}: {exc!r}")
                    continue
                finally:
                    i += 1
                if r.status_code != 200:
                    failures.append(f"{query}: {r.status_code} {r.text[:200]}")
                    continue
                reads.append(Read(start, time.monotonic(), frozenset(cited)))

    with kb_server.client() as writer:
        states = [_doc_ids(writer)]
        windows: list[tuple[float, float]] = []
        threads = [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            for action, doc_id in WRITES:
                start = time.monotonic()
                if action == "add":
                    r = writer.post("/v1/documents", json={"doc_id": doc_id, "text": SAMPLES[doc_id]},
                                    headers=AUTH)
                    assert r.status_code == 201, r.text
                else:
                    r = writer.delete(f"/v1/documents/{doc_id}", headers=AUTH)
                    assert r.status_code == 200, r.text
                windows.append((start, time.monotonic()))
                states.append(_doc_ids(writer))
                time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)

    assert not failures, failures[:5]
    assert len(reads) >= 4 * len(WRITES), f"only {len(reads)} reads completed"
    for before, after, (action, doc_id) in zip(states[:-1], states[1:], WRITES, strict=True):
        assert (doc_id in after) == (action == "add") and (before ^ after) == {doc_id}
    # state k may be live from the start of write k-1 to the end of write k
    inf = float("inf")
    live = [
        (windows[k - 1][0] if k else -inf, windows[k][1] if k < len(windows) else inf, states[k])
        for k in range(len(states))
    ]
    for read in reads:
        possible = [s for lo, hi, s in live if lo <= read.end and hi >= read.start]
        assert any(read.cited <= s for s in possible), (
            f"a result cites {sorted(read.cited - frozenset().union(*possible))}, "
            "which did not exist while the request ran"
        )
    samples = set(SAMPLES)
    assert any(read.cited & samples for read in reads), "no read ever saw an added report"


def test_a_second_writer_gets_409_and_reads_go_on(kb_server: KbServer) -> None:
    dirs = kb_server.dirs
    with kb_server.client() as client:
        corpus, before = dirs.corpus_state(), client.get("/v1/index").json()["version"]
        # another process (e.g. `zhiwen add`) holds the writer lock
        with writer_lock(dirs.index):
            r = client.post("/v1/documents", json={"doc_id": "kb-elderly", "text": SAMPLES["kb-elderly"]},
                            headers=AUTH)
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] == "write_in_progress"
            assert "another writer" in r.json()["error"]["message"]
            assert r.headers["retry-after"]
            search = client.post("/v1/search", json={"query": "九水街道", "top_k": 3})
            assert search.status_code == 200 and search.json()["results"]
        assert dirs.corpus_state() == corpus
        assert client.get("/v1/index").json()["version"] == before
