"""What the HTTP server answers before a request reaches the app (``service/api/server.py``):
unparseable requests get the JSON error body, and clients too slow to send their headers or body
are answered 408 and disconnected instead of holding a connection open.

The server runs without an index (nothing to load), with 1-second deadlines; the tests wait for
the server's answer with a generous socket timeout, they do not time it.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator

import pytest

from tests.service.conftest import Server, free_port, server_env, start_server, wait_for

WAIT_S = 60  # the longest a test waits for the server to answer (a busy machine, not a target)


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("edge")
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = server_env(tmp / "no-index", tmp, ZHIWEN_HEADER_TIMEOUT_S="1", ZHIWEN_BODY_TIMEOUT_S="1")
    server = start_server(cmd, env, tmp / "server.log", port)
    try:
        wait_for(server, lambda r: r.status_code == 503 and "index" in r.text, "up")
        yield server
    finally:
        server.stop()


def exchange(server: Server, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a new connection and read until the server closes it."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        if data:
            sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return status, headers, body


def error_code(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    return str(json.loads(body)["error"]["code"])


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ],
    ids=["request-line", "negative-content-length", "header-without-colon"],
)
def test_an_unparseable_request_gets_a_json_400(edge_server: Server, request_bytes: bytes) -> None:
    assert error_code(*exchange(edge_server, request_bytes), 400) == "bad_request"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"",  # connects, sends nothing
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # headers never finish
        b'POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
        b'Content-Length: 100\r\n\r\n{"query":',  # body never finishes
    ],
    ids=["nothing", "partial-headers", "partial-body"],
)
def test_a_client_too_slow_is_answered_408_and_disconnected(
    edge_server: Server, request_bytes: bytes
) -> None:
    assert error_code(*exchange(edge_server, request_bytes), 408) == "request_timeout"


def test_a_whole_request_is_answered_as_usual(edge_server: Server) -> None:
    status, _, body = exchange(
        edge_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_the_deadlines_are_settings() -> None:
    from pydantic import ValidationError

    from zhiwen.settings import Settings

    # the defaults the README documents
    assert (Settings().header_timeout_s, Settings().body_timeout_s) == (10.0, 20.0)
    with pytest.raises(ValidationError, match="header_timeout_s"):
        Settings(header_timeout_s=0)
