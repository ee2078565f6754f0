"""A request's work stops when its client goes away (``service/api/disconnect.py``).

A real ``zhiwen serve`` answers with the LLM composer from a local fake OpenAI-compatible server
(a remote LLM cannot run here) that streams a long reply slowly. The client leaves after the first
piece (streamed chat) or before the answer (``/v1/ask``); the fake server then sees zhiwen close
its connection long before the reply's end: the model is not kept generating for nobody. Counted,
not timed: the assertion is on how many pieces the model sent, the waits are generous bounds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.answering.fake_llm import FakeLLMServer, RecordedRequest, Script
from tests.service.conftest import Server, free_port, server_env, start_server, wait_for

MARKER = "fake-endless"
PIECES = 600  # 0.1 s apart: a minute of reply if nobody stopped it
QUESTION = "九水街道共有多少处安全隐患被整改？"
REPLY_PIECE = "九水街道共有172处安全隐患被整改。[1]"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        server.script(MARKER, Script(chunks=(REPLY_PIECE,) * PIECES, chunk_delay_s=0.1))
        yield server


@pytest.fixture(scope="module")
def llm_server(
    index_dir: Path, llm: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("disconnect")
    port = free_port()
    cmd = [sys.executable, "-m", "zhiwen.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = server_env(index_dir, tmp, ZHIWEN_LLM_BASE_URL=llm.base_url, ZHIWEN_LLM_MODEL=MARKER,
                     ZHIWEN_LLM_TIMEOUT_S="120")
    server = start_server(cmd, env, tmp / "server.log", port)
    try:
        wait_for(server, lambda r: r.status_code == 200, "ready")
        yield server
    finally:
        server.stop()


def wait_until_ended(llm: FakeLLMServer, already: int, server: Server) -> RecordedRequest:
    """The fake LLM's new request, once its reply ended (cut or completed)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        new = llm.requests_for(MARKER)[already:]
        if new and new[0].outcome != "pending":
            return new[0]
        time.sleep(0.1)
    pytest.fail(f"the LLM request never ended:\n{server.log()}")


def test_a_streamed_chat_left_after_the_first_piece_stops_the_model(
    llm_server: Server, llm: FakeLLMServer
) -> None:
    already = len(llm.requests_for(MARKER))
    body = {"model": "zhiwen-llm", "stream": True,
            "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{llm_server.url}/v1/chat/completions", json=body,
                      timeout=60) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if "172" in line:
                break  # the first piece of the answer arrived: leave
    request = wait_until_ended(llm, already, llm_server)
    assert request.outcome == "cut", request.pieces_sent
    assert request.pieces_sent < PIECES / 2


@pytest.mark.parametrize("path", ["/v1/ask", "/v1/chat/completions"])
def test_a_client_that_gives_up_waiting_stops_the_model(
    llm_server: Server, llm: FakeLLMServer, path: str
) -> None:
    already = len(llm.requests_for(MARKER))
    body = (
        {"question": QUESTION, "composer": "llm"} if path == "/v1/ask"
        else {"model": "zhiwen-llm", "messages": [{"role": "user", "content": QUESTION}]}
    )
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{llm_server.url}{path}", json=body, timeout=httpx.Timeout(60, read=3))
    request = wait_until_ended(llm, already, llm_server)
    assert request.outcome == "cut", request.pieces_sent
    assert request.pieces_sent < PIECES / 2
    # and the server goes on answering
    r = httpx.post(f"{llm_server.url}/v1/ask", json={"question": QUESTION}, timeout=60)
    assert r.status_code == 200 and "172" in r.json()["answer"]
