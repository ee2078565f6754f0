"""Where a served request spends its time: py-spy samples of the server under a fixed load.

py-spy (PyPI ``py-spy``) attaches to the server process by its id and writes collapsed stacks
(``frame;frame;... count``); samples of threads waiting (event loop in ``select``, idle workers)
are dropped, and each remaining sample is attributed to the first matching bucket below,
innermost stage first, so the shares add up to 100 % of the busy samples.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# a sample whose innermost frame is one of these is a thread waiting, not working
IDLE_LEAVES = ("select (selectors.py", "wait (threading.py", "get (queue.py", "_worker (concurrent/futures")
# bucket -> substrings of a frame ("function (file:line)"); checked in this order
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("query encoding (model forward)", ("forward (torch/", "forward (transformers/", "_inference (sentence_transformers")),
    ("query encoding (tokenizer, other)", ("encode_queries (embeddings/",)),
    ("BM25 scoring", ("scores (indexer/retrieval/keyword.py",)),
    ("FAISS search / reconstruct", ("search (indexer/retrieval/dense.py", "vectors (indexer/retrieval/dense.py")),
    ("evidence re-ranking", ("evidence_rerank (indexer/retrieval/evidence.py",)),
    ("fusion and hit building", ("search (indexer/retrieval/search.py",)),
    ("answer composition", ("compose (service/answering", "check_citations (service/answering/engine.py")),
    ("response models and JSON", ("from_hits (service/", "from_answer (service/", "serialize_response (fastapi",
                                  "jsonable_encoder (fastapi", "render (starlette", "render (fastapi")),
    ("request parsing and validation", ("request_body_to_args (fastapi", "solve_dependencies (fastapi", "body (starlette")),
    ("HTTP server and event loop", ("uvicorn/", "asyncio/", "h11", "httptools", "starlette/", "anyio/")),
)


def _py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.is_file() else shutil.which("py-spy")


def available() -> bool:
    return _py_spy() is not None


def profile(pid: int, out: Path, load: Callable[[], Any], rate: int = 200) -> dict[str, Any]:
    """Sample ``pid`` while ``load()`` runs; return the bucket shares and the hottest frames."""
    exe = _py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    cmd = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate), "-o", str(out), "--nonblocking"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach
    try:
        load()
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if not out.is_file():
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"py-spy wrote no profile: {stderr[-500:]}")
    return breakdown(out.read_text(encoding="utf-8", errors="replace"))


def breakdown(raw: str) -> dict[str, Any]:
    buckets: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any(leaf in frames[-1] for leaf in IDLE_LEAVES):
            continue
        total += count
        for frame in set(frames):
            if "(" in frame and ("zhiwen" not in frame and "process " not in frame):
                inclusive[frame.split(" (")[0] + " (" + frame.split(" (", 1)[1].split(":")[0] + ")"] += count
        for name, needles in BUCKETS:
            if any(n in f for f in frames for n in needles):
                buckets[name] += count
                break
        else:
            buckets["other"] += count
    share = {k: v / total for k, v in buckets.most_common()} if total else {}
    hottest = [(frame, n / total) for frame, n in inclusive.most_common(40)] if total else []
    return {"samples": total, "share": share, "hottest": hottest}
