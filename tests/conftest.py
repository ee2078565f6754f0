"""Session-wide fixtures: the real model and a real index of the bundled reports, built once.

Also the suite's guards against hanging or leaking (see docs/testing.md):

* every test is checked for threads and child processes it started and left running: after a
  grace period they fail that test by name (and processes are killed), instead of piling up or
  keeping pytest from exiting;
* when the session ends with a non-daemon thread still alive, the process exits anyway with the
  session's status, so ``make test`` can never wait forever on a thread nobody will stop;
* pytest-timeout (configured in pyproject.toml) fails a stuck test by name.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
REPORTS_DIR = ROOT / "data" / "reports"
SHARED = ROOT.parent / "shared"
DEV_QUESTIONS = SHARED / "eval" / "dev_questions.jsonl"


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from embeddings import load_embedder

    emb = load_embedder("m3e-small")
    emb.warm_up()
    return emb


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:  # type: ignore[no-untyped-def]
    """A real index of data/reports (the product's bundled corpus)."""
    from indexer.backends.local.build import build_index

    path = tmp_path_factory.mktemp("index") / "index"
    build_index(REPORTS_DIR, path, embedder)
    return path


@pytest.fixture(scope="session")
def searcher(index_dir: Path, embedder):  # type: ignore[no-untyped-def]
    from indexer.backends.local.store import load_index

    return load_index(index_dir, embedder)


@pytest.fixture(scope="session")
def dev_questions() -> Iterator[list[dict]]:  # type: ignore[type-arg]
    import json

    assert DEV_QUESTIONS.is_file(), f"dev questions not found at {DEV_QUESTIONS} (../shared must sit beside the project)"
    yield [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- leak and hang guards -----------------------------------------------------------------------

LEAK_GRACE_S = 30.0  # a busy machine may need a while to finish a thread or process that is ending
log = logging.getLogger(__name__)
_EXIT_STATUS = pytest.StashKey[int]()


def _must_end(thread: threading.Thread) -> bool:
    """A thread that would keep Python from exiting. Idle worker threads of a
    ``concurrent.futures`` pool (an asyncio loop's default executor, named ``asyncio_N``) are not:
    they belong to their pool, which Python shuts down and joins at exit on its own."""
    if thread.daemon or not thread.is_alive() or thread is threading.main_thread():
        return False
    target = getattr(thread, "_target", None)
    return getattr(target, "__module__", "") != "concurrent.futures.thread"


def _live_children() -> dict[int, psutil.Process]:
    children = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                children[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    return children


def _started_by(process: psutil.Process, owners: set[int]) -> bool:
    """Whether a process that was running before the test (a session's server, or Chromium,
    which starts utility and renderer processes as pages need them) started ``process``: it is
    that session fixture's, not a leak of the test."""
    try:
        return any(parent.pid in owners for parent in process.parents())
    except psutil.Error:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline())[:200]}"
    except psutil.Error:
        return f"pid {process.pid}"


@pytest.fixture(autouse=True)
def _no_leftover_threads_or_processes() -> Iterator[None]:
    """Fail the test that leaves a non-daemon thread or a child process running.

    Session- and module-scoped fixtures are set up before this function-scoped fixture, so what
    they start (the shared servers) is in the 'before' snapshot and is not blamed on a test."""
    threads_before = set(threading.enumerate())
    children_before = set(_live_children())
    yield
    deadline = time.monotonic() + LEAK_GRACE_S
    threads = [t for t in threading.enumerate() if t not in threads_before and _must_end(t)]
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    threads = [t for t in threads if t.is_alive()]
    leaked = {pid: p for pid, p in _live_children().items()
              if pid not in children_before and not _started_by(p, children_before)}
    if leaked:
        _, alive = psutil.wait_procs(list(leaked.values()), timeout=max(0.0, deadline - time.monotonic()))
        for process in alive:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(alive, timeout=10)
        leaked = {p.pid: p for p in alive}
    problems = [f"thread {t.name!r}" for t in threads] + [_describe(p) for p in leaked.values()]
    if problems:
        pytest.fail("the test left running: " + "; ".join(problems), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)
    leftover = _live_children()
    if leftover:
        for process in leftover.values():
            log.error("child process still running at session end, killed: %s", _describe(process))
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(list(leftover.values()), timeout=10)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    """Never wait on a thread at exit: Python joins every non-daemon thread before it exits, and
    one that nobody stops (a test's worker waiting for a file) would keep CI busy until its
    deadline instead of reporting. Name the threads, then leave with the session's status."""
    stuck = [t for t in threading.enumerate() if _must_end(t)]
    if not stuck:
        return
    status = config.stash.get(_EXIT_STATUS, 1) or 1
    names = ", ".join(repr(t.name) for t in stuck)
    sys.stderr.write(f"\nnon-daemon threads still running at exit ({names}): exiting anyway\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(status)
