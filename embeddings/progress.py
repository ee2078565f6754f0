"""Progress of long work (reading, OCR, chunking, embedding, publishing) for whoever asked for it.

An ingestion job (``service.jobs``) sets a reporter with :func:`reporting`; the steps it runs
call :func:`report` with their stage and counts. The reporter lives in a context variable, so it
follows the job's thread and nothing else: a step called without one (``zhiwen index`` has its
progress bars, queries have none) costs one lookup. Lowest layer (embeddings), so every layer
above may report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

STAGES = ("read", "ocr", "chunk", "embed", "publish")


@dataclass(frozen=True)
class Progress:
    """Where long work is: its ``stage`` (one of :data:`STAGES`), ``done`` of ``total`` units
    (pages for ocr, texts for embed; 0 of 0 when a stage is not counted)."""

    stage: str
    done: int = 0
    total: int = 0


Reporter = Callable[[Progress], None]

_reporter: ContextVar[Reporter | None] = ContextVar("zhiwen_progress", default=None)


def report(stage: str, done: int = 0, total: int = 0) -> None:
    """Tell the current reporter, if any, where the work is."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter(Progress(stage, done, total))


def active() -> bool:
    """Whether someone is listening (a step may then work in smaller, counted pieces)."""
    return _reporter.get() is not None


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send the progress of the work run inside to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
