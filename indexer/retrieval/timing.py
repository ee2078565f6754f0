"""Where one request's time goes: named stages, recorded only when someone is listening.

``recording()`` starts a record for the current context (a request, a benchmark call);
``stage(name)`` adds the time spent inside it to that record, and costs one context-variable
lookup when nothing records. The service turns a request's record into a ``Server-Timing``
header and a per-stage Prometheus histogram; the latency benchmark reads the same header, so
the split between model work, ranking, answering and HTTP comes from the requests measured.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_RECORD: ContextVar[dict[str, float] | None] = ContextVar("zhiwen_stage_seconds", default=None)


@contextlib.contextmanager
def recording() -> Iterator[dict[str, float]]:
    """Record the stages run in this context (and in threads it hands work to with its context,
    as Starlette's threadpool does) into the yielded dict: stage name -> seconds."""
    record: dict[str, float] = {}
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as ``name`` (added up when the stage runs more than once)."""
    record = _RECORD.get()
    if record is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        record[name] = record.get(name, 0.0) + time.perf_counter() - start
