"""5c. Served search at 100,000 chunks: ``/v1/search`` against the floor on a large index.

The corpus is section 5b's real Chinese text (CMRC 2018 passages, the bundled reports, People's
Daily 1998, product reviews) cut into its first 100,000 distinct sentences or clauses, each one
report and one chunk (10,000 in the quick run). The index is built by ``build_index_from_reports``
with the served model (m3e-small, fp32) and the default settings, so the vector index is what
``ZHIWEN_VECTOR_INDEX=auto`` picks at this size; the vectors go through an embedding cache under
var/bench, so reruns skip the encoding. Then ``zhiwen serve`` serves it and the questions of
section 1 (distinct: the dev questions, then CMRC DEV questions, each once) go through the
in-process floor and the served ``/v1/search`` one after the other, on the same machine load
(:func:`bench.latency.paired`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bench.common import WORK_DIR, Context, distinct_questions, serve, table, target

log = logging.getLogger(__name__)

NAME = "scale_served"
TITLE = "5c. Served search at 100,000 chunks"
FULL_SIZE = 100_000
QUICK_SIZE = 10_000
QUESTIONS = 205
QUICK_QUESTIONS = 65
CACHE = WORK_DIR / "cache" / "scale_served.sqlite"  # outside ctx.scratch: reruns keep it
RATIO_TARGET = 2.0


def run(ctx: Context) -> dict[str, Any]:
    from bench.latency import in_process_steps, paired
    from bench.scale_real import corpus, encode_corpus
    from embeddings import load_embedder
    from indexer.backends.local.build import build_index_from_reports

    size = QUICK_SIZE if ctx.quick else FULL_SIZE
    work = ctx.scratch(NAME)
    reports, unit = corpus(size, reach=FULL_SIZE)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    embedder = load_embedder("m3e-small", cache_path=CACHE)
    encoding = encode_corpus(reports, embedder)
    index_dir = work / "index"
    t0 = time.perf_counter()
    stats = build_index_from_reports(reports, index_dir, embedder)
    build_s = time.perf_counter() - t0
    meta = json.loads((index_dir / "meta.json").read_text(encoding="utf-8"))
    vector_index = meta.get("vector_index", {}).get("kind", "?")
    log.info("scale_served: %d chunks (%s), built in %.0f s", stats.chunks, vector_index, build_s)
    questions = distinct_questions(QUICK_QUESTIONS if ctx.quick else QUESTIONS)
    steps, torch_threads = in_process_steps(index_dir)
    steps = {k: v for k, v in steps.items() if k in ("floor", "encode", "search")}
    bodies = {"/v1/search": [json.dumps({"query": q, "top_k": 10}, ensure_ascii=False).encode() for q in questions]}
    with serve(index_dir, work / "serve.log", timeout_s=900.0) as srv:
        timed, stages = paired(steps, srv.port, questions, bodies, 1)
        ready_s = srv.ready_s
    floor = timed["floor"]["p50"]
    ratio = timed["served /v1/search"]["p50"] / floor
    result: dict[str, Any] = {
        "size": size, "unit": unit, "chunks": stats.chunks, "vector_index": vector_index,
        "encoding": encoding, "build_s": build_s, "ready_s": ready_s, "questions": int(timed["floor"]["n"]),
        "torch_threads": torch_threads, "in_process": timed, "stages": stages, "floor_p50": floor,
        "search_ratio": ratio,
    }
    result["targets"] = [
        target(f"/v1/search p50, 1 client, vs floor, {stats.chunks:,} chunks", f"≤ {RATIO_TARGET:g}×", ratio,
               ratio <= RATIO_TARGET, "×"),
    ]
    return result


def render(r: dict[str, Any]) -> str:
    from bench.latency import _render_stages, step_rows

    rows = step_rows(r["in_process"], r["floor_p50"])
    return "\n\n".join([
        f"{r['chunks']:,} chunks (one {r['unit']} each, section 5b's corpus), vector index "
        f"`{r['vector_index']}` (what `auto` picks at this size), built in {r['build_s']:.0f} s from cached "
        f"vectors; the server was ready in {r['ready_s']:.0f} s. {r['questions']} distinct questions, each "
        f"once, paired as in section 1; torch threads in the floor: {r['torch_threads']} (as served).",
        table(["step", "p50 ms", "p95 ms", "p99 ms", "× floor p50"], rows),
        *_render_stages(r),
        f"**/v1/search p50 at {r['chunks']:,} chunks = {r['search_ratio']:.2f}× the floor** "
        f"(target ≤ {RATIO_TARGET:g}×).",
    ])
