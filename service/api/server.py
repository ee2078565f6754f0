"""The HTTP server's own edge: what uvicorn answers before a request reaches the app.

uvicorn answers a request it cannot parse (a malformed request line, ``Content-Length: -1``,
oversized headers) with a plain-text 400 of its own, and waits as long as a client likes for the
rest of a request's headers or body. ``guarded_protocol`` is uvicorn's h11 protocol with:

* the service's JSON error body (``{"error": {"code", "message"}}``) on those 400s;
* a deadline for each request's headers (``header_timeout_s`` from the first byte, or from the
  connection when nothing came yet) and for its body (``body_timeout_s`` after the headers): a
  client too slow for either gets 408 ``request_timeout`` and the connection is closed.

Idle keep-alive connections are closed by uvicorn's own ``timeout_keep_alive``. Deployments behind a
reverse proxy should bound these at the proxy too (README, "Security").
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5  # how often a connection checks its deadlines


def error_bytes(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response with the service's error body; the connection closes."""
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode()
    reason = {400: "Bad Request", 408: "Request Timeout"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _GuardedH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0
    body_timeout_s: float = 20.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        # when the request being read began (None: no request is being read)
        self._reading_since: float | None = loop.time()
        self._deadline_check = loop.call_later(CHECK_EVERY_S, self._check_deadlines)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline_check.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_since is None and self.conn.their_state is h11.IDLE:
            self._reading_since = asyncio.get_running_loop().time()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._reading_since = None  # the whole request is in (or the connection is done)

    def _check_deadlines(self) -> None:
        if self.transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        since, state = self._reading_since, self.conn.their_state
        if since is not None:
            waited = loop.time() - since
            if state is h11.IDLE and waited > self.header_timeout_s:
                return self._time_out(f"the request headers did not arrive within "
                                      f"{self.header_timeout_s:g} s")
            if state is h11.SEND_BODY and waited > self.header_timeout_s + self.body_timeout_s:
                return self._time_out(f"the request body did not arrive within "
                                      f"{self.body_timeout_s:g} s")
        self._deadline_check = loop.call_later(CHECK_EVERY_S, self._check_deadlines)

    def _time_out(self, message: str) -> None:
        log.warning("closing a connection from %s: %s", _peer(self.client), message)
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # nothing of a response sent yet
            self.transport.write(error_bytes(408, "request_timeout", message))
        self.transport.close()  # connection_lost tells a waiting app (http.disconnect)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(error_bytes(400, "bad_request", f"malformed HTTP request: {msg}"))
        self.transport.close()


def _peer(client: Any) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"


def guarded_protocol(header_timeout_s: float, body_timeout_s: float) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with these deadlines."""
    return type(
        "GuardedH11Protocol",
        (_GuardedH11Protocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
