"""Shared pieces of the benchmarks: paths, timing, percentiles, data sets and a served instance."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexer.types import Report

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"
PLOTS_DIR = ROOT / "docs" / "benchmarks"
WORK_DIR = ROOT / "var" / "bench"
REPORTS_DIR = ROOT / "data" / "reports"
SHARED = ROOT.parent / "shared"
DEV_QUESTIONS = SHARED / "eval" / "dev_questions.jsonl"
CMRC_DIR = SHARED / "benchmarks" / "cmrc2018"
PROJECT_CACHE = ROOT / "var" / "cache" / "embeddings.sqlite"
MODELS_DIR = ROOT / "var" / "models"


@dataclass
class Context:
    """What every benchmark gets: the mode and a scratch folder of its own."""

    quick: bool = False
    work: Path = WORK_DIR
    notes: list[str] = field(default_factory=list)
    plots: Path = PLOTS_DIR  # where a benchmark saves its figures (docs/benchmarks, or --out)

    def scratch(self, name: str) -> Path:
        """An empty folder for one benchmark under var/bench (gitignored)."""
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


# -- numbers ------------------------------------------------------------------------------------
def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds of a list of durations in seconds."""
    if not seconds:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"n": len(ms), "p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(ms.mean())}


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; 0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def machine() -> dict[str, Any]:
    """What the figures were measured on, including how busy the machine was."""
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_gib = int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in load_average()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def commit() -> dict[str, Any]:
    """The commit the benchmark ran at, and whether the work tree differed from it (figures of
    uncommitted code say so)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    sha = git("rev-parse", "HEAD")
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results", ":!docs")
    return {"sha": sha or "unknown", "dirty": bool(changed)}


def settings_snapshot() -> dict[str, Any]:
    """The settings a benchmark ran with: the service's (secrets masked, as pydantic dumps them)
    and every tuned number of retrieval and answering."""
    from service.answering.config import DEFAULT
    from zhiwen.settings import Settings

    return {"service": Settings().model_dump(mode="json"), "scoring": DEFAULT.as_dict()}


def versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# -- data ---------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def dev_questions() -> list[str]:
    return [row["question"] for row in read_jsonl(DEV_QUESTIONS)]


def distinct_questions(n: int) -> list[str]:
    """``n`` different questions: the dev questions, then CMRC DEV questions in file order, each
    once, so nothing a server keeps between requests answers one from an earlier one."""
    seen: dict[str, None] = dict.fromkeys(dev_questions())
    for row in read_jsonl(CMRC_DIR / "queries.jsonl"):
        if len(seen) >= n:
            break
        if str(row["_id"]).startswith("DEV"):
            seen.setdefault(str(row["text"]).strip(), None)
    return list(seen)[:n]


@dataclass(frozen=True)
class Beir:
    """A BEIR-layout set: passages as reports, queries, and the relevant passage ids."""

    reports: list[Report]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_cmrc(directory: Path = CMRC_DIR) -> Beir:
    reports = [
        Report(doc_id=row["_id"], title=row.get("title", ""), text=row["text"], meta={})
        for row in read_jsonl(directory / "corpus.jsonl")
    ]
    queries = {row["_id"]: row["text"] for row in read_jsonl(directory / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with (directory / "qrels.tsv").open(encoding="utf-8") as fh:
        next(fh)  # header
        for line in fh:
            qid, doc, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[doc] = int(score)
    return Beir(reports, queries, qrels)


# -- a served instance ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update({f"ZHIWEN_{k.upper()}": v for k, v in settings.items()})
    return env


def get_status(port: int, path: str, timeout: float = 2.0) -> int:
    """HTTP status of GET ``path`` on 127.0.0.1:``port`` (0 when nothing answers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return int(response.status)
    except OSError:
        return 0
    finally:
        conn.close()


@dataclass
class Served:
    """A running ``zhiwen serve`` on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    live_s: float  # spawn -> /healthz 200
    ready_s: float  # spawn -> /readyz 200
    log_path: Path


@contextlib.contextmanager
def serve(index_dir: Path, log_path: Path, *, timeout_s: float = 300.0, **settings: str) -> Iterator[Served]:
    """Start ``zhiwen serve`` on a free loopback port with ``index_dir``; yield once /readyz says
    200; stop it (this process only, by its id) on exit."""
    port = free_port()
    env = child_env(index_dir=str(index_dir), host="127.0.0.1", port=str(port), log_level="warning", **settings)
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        t0 = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            live = ready = None
            while time.perf_counter() - t0 < timeout_s:
                if process.poll() is not None:
                    raise RuntimeError(f"zhiwen serve exited with {process.returncode}; see {log_path}")
                if live is None and get_status(port, "/healthz", 1.0) == 200:
                    live = time.perf_counter() - t0
                if live is not None and get_status(port, "/readyz", 1.0) == 200:
                    ready = time.perf_counter() - t0
                    break
                time.sleep(0.05)
            if ready is None or live is None:
                raise RuntimeError(f"zhiwen serve not ready within {timeout_s:.0f}s; see {log_path}")
            yield Served(port, process, live, ready, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def ensure_index(index_dir: Path) -> dict[str, Any]:
    """Build (or find up to date) the index of data/reports at ``index_dir`` with the project's
    embedding cache, as ``zhiwen index`` does."""
    from embeddings import load_embedder
    from indexer.backends.local.build import build_index

    embedder = load_embedder("m3e-small", cache_path=PROJECT_CACHE)
    stats = build_index(REPORTS_DIR, index_dir, embedder)
    return {"reports": stats.reports, "chunks": stats.chunks, "up_to_date": stats.up_to_date,
            "seconds": round(stats.seconds, 3)}


# -- markdown -----------------------------------------------------------------------------------
def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            if value != value:  # NaN
                return "–"
            if abs(value) >= 100:
                return f"{value:,.0f}"
            if abs(value) >= 10:
                return f"{value:.1f}"
            return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"
        if isinstance(value, bool):
            return "yes" if value else "**no**"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def target(name: str, wanted: str, measured: float, met: bool, unit: str = "") -> dict[str, Any]:
    return {"name": name, "target": wanted, "measured": measured, "unit": unit, "met": bool(met)}
