"""A request's work stops when its client goes away.

Answers are driven step by step in the threadpool (``QAEngine.steps`` / ``QAEngine.stream``):
between steps the route checks that the client is still there, and when it is not, the engine's
iterator is closed — an LLM composer then closes its HTTP stream to the model, so no tokens are
generated for nobody. A streamed response (SSE) closes the same way when Starlette stops sending
because the client disconnected. The extractive composer's work is bounded by the request limits
(``ZHIWEN_MAX_QUESTION_CHARS``, ``ZHIWEN_MAX_TOP_K``) and takes one step.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Generator

import anyio
from fastapi import Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from service.answering.types import Answer
from service.api.errors import ApiError

log = logging.getLogger(__name__)


class ClientGone(ApiError):
    """The client disconnected before its answer was ready (the work was stopped). Answered
    499 (nginx' "client closed request") for the logs and metrics: nobody reads it."""

    def __init__(self) -> None:
        super().__init__(499, "client_closed_request", "the client disconnected before the answer")


async def _close(items: Generator[object, None, None]) -> None:
    # shielded: this runs while the request is being cancelled
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(items.close)


async def answer_while_connected(
    request: Request, items: Generator[str | Answer, None, None]
) -> Answer:
    """The final ``Answer`` of ``items``; ``ClientGone`` when the client left first."""
    try:
        async for item in iterate_in_threadpool(items):
            if isinstance(item, Answer):
                return item
            if await request.is_disconnected():
                log.info("client disconnected: answer stopped")
                raise ClientGone
        raise RuntimeError("the engine ends every answer with an Answer")
    finally:
        await _close(items)


async def events_while_connected(events: Generator[str, None, None]) -> AsyncIterator[str]:
    """``events`` produced in the threadpool, closed when the response stops (client gone)."""
    try:
        async for event in iterate_in_threadpool(events):
            yield event
    finally:
        await _close(events)
