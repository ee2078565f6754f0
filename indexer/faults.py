"""Fault injection for the index writers: pause one at a named stage so a test (or an operator
rehearsing recovery) can kill the process there. Off unless ``ZHIWEN_FAULT_PAUSE_AT`` names
stages; see docs/CONTRACTS.md.

The local writer: ``after_store`` (the file is stored), ``after_snapshot_write`` (the new snapshot
is written, not live), ``before_swap``, ``after_swap`` (live, not yet pruned). The Milvus writer:
``after_snapshot_write`` (the new version's rows are staged, invisible), ``before_swap`` (before
the ``live`` rows switch), ``after_swap`` (switched, the old rows not yet swept); it stores no
file, so it never pauses at ``after_store``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from indexer.durable import write_file_durably

log = logging.getLogger(__name__)

# Where a writer can be paused, in the order they occur.
STAGES = ("after_store", "after_snapshot_write", "before_swap", "after_swap")

Pause = Callable[[str], None]


def fault_pause(stages: Sequence[str], marker: Path | None) -> Pause | None:
    """The writer pause of ``ZHIWEN_FAULT_PAUSE_AT`` / ``_MARKER`` (None without stages: always,
    in production); used by the server and by ``zhiwen add/remove`` alike."""
    if not stages:
        return None
    log.warning("ZHIWEN_FAULT_PAUSE_AT=%s: the writer will pause there (fault injection)",
                ",".join(stages))
    return pause_hook(stages, marker)


def pause_hook(stages: Iterable[str], marker: Path | None = None, max_wait: float = 600.0) -> Pause:
    """A hook that stops a writer each time it reaches one of ``stages``. With ``marker`` it
    writes the stage name to that file on pausing and resumes when the file is deleted; without
    one it just waits ``max_wait`` seconds."""
    wanted = {s.strip() for s in stages if s.strip()}
    unknown = wanted - set(STAGES)
    if unknown:
        raise ValueError(f"unknown pause stage(s) {sorted(unknown)}; stages are {', '.join(STAGES)}")

    def pause(stage: str) -> None:
        if stage not in wanted:
            return
        log.warning("fault injection: writer paused at stage %s (pid %d)", stage, os.getpid())
        if marker is not None:
            # Written whole (temp file + rename): a watcher that sees the file sees the stage, never
            # an empty file caught between its creation and its write.
            write_file_durably(marker, stage.encode("utf-8"))
        deadline = time.monotonic() + max_wait
        while time.monotonic() < deadline:
            if marker is not None and not marker.exists():
                break
            time.sleep(0.05)
        log.warning("fault injection: writer resumed after stage %s", stage)

    return pause


def no_pause(stage: str) -> None:
    return None
