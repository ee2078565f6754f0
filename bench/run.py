"""Run the benchmarks and write docs/benchmarks.md, docs/benchmarks/*.png, bench/results/*.json.

    python -m bench.run                 # all of them (``make bench``), about 90 minutes on 2 cores
    python -m bench.run --quick --out D # smaller sizes, ~10 minutes, everything written under D:
                                        # the harness check CI runs (``make bench-quick``)
    python -m bench.run --only scale    # one benchmark; the page keeps the others' last results

Every result file records the commit it ran at (and whether the tree had uncommitted changes),
the settings (service and scoring) and the machine, including its load average.

The in-process benchmarks run first, the served ones after. A benchmark that fails is recorded
with its error and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import (
    DOCS_FILE,
    PLOTS_DIR,
    RESULTS_DIR,
    ROOT,
    WORK_DIR,
    Context,
    commit,
    machine,
    settings_snapshot,
    table,
)

log = logging.getLogger("bench")

# in-process first, then the ones that start the service
ORDER = ("indexing", "ingestion", "int8", "scale", "scale_real", "latency", "scale_served", "load", "startup")


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{name}")


def run_one(name: str, ctx: Context, results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    log.info("== %s ==", name)
    start_load = machine()["load_average"]
    t0 = time.perf_counter()
    try:
        result = _module(name).run(ctx)
        result["ok"] = True
    except Exception as exc:  # record and go on: one broken benchmark must not hide the rest
        log.exception("benchmark %s failed", name)
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result["wall_s"] = time.perf_counter() - t0
    result["quick"] = ctx.quick
    result["machine"] = machine() | {"load_average_at_start": start_load}
    result["commit"] = commit()
    result["settings"] = settings_snapshot()
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    log.info("%s done in %.0fs", name, result["wall_s"])
    return result


def load_results(results_dir: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    out = {}
    for name in ORDER:
        path = results_dir / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _measured(t: dict[str, Any]) -> str:
    value, unit = t["measured"], t.get("unit", "")
    if unit == "×":
        return f"{value:,.2f}×"
    if unit == "points":
        return f"{value:+.2f} points"
    if unit in ("ms", "s"):
        return f"{value:.2f} {unit}"
    return f"{value:.3f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"


def render_page(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name in ORDER:
        r = results.get(name)
        if r is None:
            continue
        title = _module(name).TITLE
        if not r.get("ok"):
            rows.append([title, "–", f"failed: {r.get('error', '')[:120]}", False])
            continue
        for t in r.get("targets", []):
            rows.append([title, t["name"] + f" (target {t['target']})", _measured(t), t["met"]])
    first = next(iter(results.values()), {})
    m = first.get("machine", {})
    total = sum(r.get("wall_s", 0.0) for r in results.values())
    parts = [
        "# Benchmarks",
        "Written by `python -m bench.run` (`make bench`); raw figures in `bench/results/*.json`. "
        "Every target is a ratio of two measurements taken in the same run, or an absolute figure "
        "where the target is absolute. Tests never assert timings.",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB, "
        f"Python {m.get('python', '?')}, no GPU. Wall time of the benchmarks: {total / 60:.1f} minutes"
        + (" (`--quick`)" if any(r.get("quick") for r in results.values()) else "") + ".",
        "## Summary",
        table(["benchmark", "target", "measured", "met"], rows),
    ]
    for name in ORDER:
        r = results.get(name)
        if r is None:
            continue
        module = _module(name)
        load = r.get("machine", {}).get("load_average_at_start", ["?"])
        parts.append(f"## {module.TITLE}")
        if not r.get("ok"):
            parts.append(f"Failed: `{r.get('error')}` (see bench/results/{name}.json).")
            continue
        parts.append(module.render(r))
        at = r.get("commit", {})
        sha = str(at.get("sha", "unknown"))[:10] + (" with uncommitted changes" if at.get("dirty") else "")
        parts.append(f"<sub>Ran {r['machine'].get('date', '')} at commit {sha}, {r['wall_s']:.0f} s, load "
                     f"average at start {load[0] if load else '?'} on {r['machine'].get('cores', '?')} cores"
                     + (", `--quick`" if r.get("quick") else "") + "; settings in its result file.</sub>")
    from bench.notes import NOTES

    if NOTES.strip():
        parts.append(NOTES.strip())
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=ORDER, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(ORDER)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, to check the harness")
    parser.add_argument("--render", action="store_true", help="only rewrite the page from bench/results")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write results, page and plots under DIR instead of bench/results and docs/")
    args = parser.parse_args(argv)
    out = args.out.resolve() if args.out else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in ("faiss.loader", "sentence_transformers", "httpx", "bm25s", "jieba", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.chdir(ROOT)  # settings default to paths relative to the project (var/index, var/cache)
    results_dir = out / "results" if out else RESULTS_DIR
    page = out / "benchmarks.md" if out else DOCS_FILE
    ctx = Context(quick=args.quick, work=WORK_DIR, plots=out / "benchmarks" if out else PLOTS_DIR)
    failed = []
    if not args.render:
        t0 = time.perf_counter()
        for name in [n for n in ORDER if not args.only or n in args.only]:
            if not run_one(name, ctx, results_dir).get("ok"):
                failed.append(name)
        log.info("all done in %.1f minutes", (time.perf_counter() - t0) / 60)
    results = load_results(results_dir)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_page(results), encoding="utf-8")
    log.info("wrote %s", page)
    for name in ORDER:
        for t in results.get(name, {}).get("targets", []):
            print(f"{'MET ' if t['met'] else 'MISS'} {name:9} {t['name']}: {_measured(t)} (target {t['target']})")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
