"""2. Load: 10,000 POST /v1/search requests at 8 concurrent connections with wrk.

wrk (Debian package ``wrk``) runs 2 threads × 4 connections; a Lua script posts the 25 dev
questions round-robin and stops each thread after its share of responses, so the run is bounded
by count (and by a duration ceiling). Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import Context, dev_questions, ensure_index, serve, table, target

log = logging.getLogger(__name__)

NAME = "load"
TITLE = "2. Load test (wrk)"
THREADS = 2
CONNECTIONS = 8
CEILING_S = 900

LUA = r"""
-- POST /v1/search with the dev questions round-robin; stop after LIMIT responses per thread.
-- wrk's main thread sleeps for the whole -d duration even when every thread has stopped, so a
-- stopped thread leaves a marker file and the caller interrupts wrk (it then prints the summary).
local bodies = BODIES
local limit = LIMIT
local marker = MARKER
local threads = {}
sent, done_count, bad, id = 0, 0, 0, 0  -- globals: done() reads each thread's "bad" with get()

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  return wrk.format(nil, "/v1/search", nil, bodies[(sent % #bodies) + 1])
end

function response(status, headers, body)
  done_count = done_count + 1
  if status < 200 or status > 299 then bad = bad + 1 end
  if done_count == limit then
    local f = io.open(marker .. "." .. id, "w")
    if f then f:write(tostring(done_count)); f:close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do non2xx = non2xx + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, non2xx, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(path: Path, bodies: list[str], per_thread: int) -> Path:
    """Write the Lua script; returns the marker prefix its threads write to when done."""
    lua_bodies = "{" + ", ".join(_lua_string(b) for b in bodies) + "}"
    marker = path.with_suffix(".done")
    text = LUA.replace("BODIES", lua_bodies).replace("LIMIT", str(per_thread)).replace("MARKER", _lua_string(str(marker)))
    path.write_text(text, encoding="utf-8")
    return marker


def run_wrk(wrk: str, url: str, script: Path, marker: Path, threads: int, connections: int,
            ceiling_s: int) -> tuple[str, float]:
    """Run wrk until every thread has written its marker (or the ceiling), then interrupt it
    (this wrk process only) so it prints its summary; returns stdout and the seconds taken."""
    for old in marker.parent.glob(marker.name + ".*"):
        old.unlink()
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{ceiling_s}s", "--timeout", "30s", "--latency",
           "-s", str(script), url]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = 0.0
    while proc.poll() is None and time.perf_counter() - t0 < ceiling_s + 30:
        if len(list(marker.parent.glob(marker.name + ".*"))) >= threads:
            elapsed = time.perf_counter() - t0
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out, elapsed or time.perf_counter() - t0


def run(ctx: Context) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    work = ctx.scratch(NAME)
    index_dir = ctx.work / "index-reports"
    ensure_index(index_dir)
    total = 2_000 if ctx.quick else 10_000
    bodies = [json.dumps({"query": q, "top_k": 10}, ensure_ascii=False) for q in dev_questions()]
    script = work / "search.lua"
    marker = write_script(script, bodies, total // THREADS)
    with serve(index_dir, work / "serve.log") as srv:
        url = f"http://127.0.0.1:{srv.port}"
        # warm the server (model, threadpool) before the measured run
        warm = work / "warm.lua"
        warm_marker = write_script(warm, bodies, 50)
        run_wrk(wrk, url, warm, warm_marker, 1, 2, 120)
        out, elapsed = run_wrk(wrk, url, script, marker, THREADS, CONNECTIONS, CEILING_S)
    (work / "wrk.out").write_text(out, encoding="utf-8")
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out[-2000:]}")
    stats = json.loads(line[len("WRKJSON "):])
    seconds = min(stats["duration_us"] / 1e6, elapsed)  # wrk's own clock runs until interrupted
    errors = stats["non2xx"] + stats["connect"] + stats["read"] + stats["write"] + stats["timeout"]
    result = {
        "requests": stats["requests"], "wanted": total, "connections": CONNECTIONS, "threads": THREADS,
        "seconds": seconds, "rps": stats["requests"] / seconds, "errors": errors, "raw": stats,
        "p50_ms": stats["p50_us"] / 1000, "p90_ms": stats["p90_us"] / 1000, "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000, "wrk_output": out[-3000:],
    }
    result["targets"] = [
        target(f"wrk {total:,} × /v1/search at {CONNECTIONS} connections: errors", "0", errors,
               errors == 0 and stats["requests"] >= total),
    ]
    return result


def render(r: dict[str, Any]) -> str:
    raw = r["raw"]
    return "\n\n".join([
        f"`wrk -t{r['threads']} -c{r['connections']} --latency -s search.lua` against `zhiwen serve` on "
        "127.0.0.1 (index of data/reports), POST /v1/search with the 25 dev questions round-robin, top_k 10; "
        "the script stops each thread after its share of responses.",
        table(["requests", "seconds", "req/s", "non-2xx", "socket errors", "p50 ms", "p90 ms", "p99 ms", "max ms"],
              [[r["requests"], r["seconds"], r["rps"], raw["non2xx"],
                raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
                r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"]]]),
        f"**{r['requests']:,} requests, {r['errors']} errors, {r['rps']:.1f} req/s, p99 {r['p99_ms']:.0f} ms.**",
    ])
