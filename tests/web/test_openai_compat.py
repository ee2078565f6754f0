"""The OpenAI-compatible endpoint, driven by the official ``openai`` package against a real
server, plus the follow-up rewrite as pure functions."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, cast

import httpx
import openai
import pytest
from openai import OpenAI

from service.api.routes.chat import composer_for_model, sources_text, text_pieces
from tests.web.conftest import ApiServer

Q_SAFETY = "九水街道共有多少处安全隐患被整改？"  # dev02, gold 172处
Q_FISHERY = "王哥庄街道2018年渔业总产值是多少？"  # dev11, gold 5.73亿元
Q_FOLLOW = "那党建示范点是哪个社区？"  # dev12 asked elliptically, gold 唐家庄
Q_NONE = "九水街道2020年的财政收入是多少？"  # dev24, unanswerable

MARKER = re.compile(r"\[(\d+)\]")


def norm(text: str) -> str:
    """Compare as the dev set does: NFKC, whitespace removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def client(api: ApiServer) -> OpenAI:
    return OpenAI(base_url=f"{api.url}/v1", api_key="test", max_retries=0, timeout=120)


def _extra(obj: Any, name: str) -> Any:
    extra = obj.model_extra or {}
    return extra.get(name, getattr(obj, name, None))


def _check_citations(api: ApiServer, content: str, citations: list[dict[str, Any]]) -> None:
    assert citations, "an answer with [n] markers must carry citations"
    numbers = {c["n"] for c in citations}
    assert {int(n) for n in MARKER.findall(content)} <= numbers
    for c in citations:
        doc = httpx.get(f"{api.url}/v1/documents/{c['doc_id']}", timeout=30).json()
        assert doc["text"][c["start"] : c["end"]] == c["quote"]


# -- the SDK against the server --------------------------------------------------------------


def test_models_lists_the_default_composer_first(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "zhiwen-extractive"
    assert "zhiwen-llm" not in ids  # no LLM configured in the test server


def test_non_streaming_completion(client: OpenAI, api: ApiServer) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",  # any model id is accepted
        messages=[
            {"role": "system", "content": "你是助手。"},
            {"role": "user", "content": Q_SAFETY},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "zhiwen-extractive"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    content = choice.message.content or ""
    answer, _, sources = content.partition("\n\n来源：\n")
    assert "172处" in norm(answer)
    assert MARKER.search(answer)
    assert sources.startswith("[1] ")
    assert "」" in sources
    citations = _extra(completion, "citations")
    _check_citations(api, answer, citations)
    assert _extra(completion, "answerable") is True
    assert _extra(completion, "passages")
    assert _extra(completion, "retrieval_query") == Q_SAFETY
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_streaming_completion_matches_non_streaming(client: OpenAI, api: ApiServer) -> None:
    messages: list[Any] = [{"role": "user", "content": Q_SAFETY}]
    chunks = list(
        client.chat.completions.create(model="zhiwen-extractive", messages=messages, stream=True)
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content or "" for c in chunks]
    assert sum(1 for d in deltas if d) > 3, "the answer arrives in several pieces"
    content = "".join(deltas)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert "172处" in norm(content)
    assert MARKER.search(content)
    answer = content.partition("\n\n来源：\n")[0]
    _check_citations(api, answer, _extra(last, "citations"))
    assert _extra(last, "answer") == content
    whole = client.chat.completions.create(model="zhiwen-extractive", messages=messages)
    assert whole.choices[0].message.content == content
    # the last chunk carries the answer's shape as the completion does (the chat page's chips)
    for field in ("answer_kind", "groups", "question_places", "filtered_out"):
        assert _extra(last, field) == _extra(whole, field), field
    assert _extra(last, "question_places") == ["九水街道"]


def test_stream_is_server_sent_events_ending_with_done(api: ApiServer) -> None:
    body = {"messages": [{"role": "user", "content": Q_SAFETY}], "stream": True}
    with httpx.stream("POST", f"{api.url}/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_include_sources_false_leaves_the_plain_answer(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="zhiwen",
        messages=[{"role": "user", "content": Q_SAFETY}],
        extra_body={"include_sources": False, "top_k": 3},
    )
    content = completion.choices[0].message.content or ""
    assert "来源：" not in content
    assert "172处" in norm(content)
    assert len(_extra(completion, "passages")) <= 3


def test_follow_up_resolves_the_omitted_place(client: OpenAI) -> None:
    first = client.chat.completions.create(
        model="zhiwen-extractive", messages=[{"role": "user", "content": Q_FISHERY}]
    )
    first_text = first.choices[0].message.content or ""
    assert "5.73亿元" in norm(first_text)
    second = client.chat.completions.create(
        model="zhiwen-extractive",
        messages=[
            {"role": "user", "content": Q_FISHERY},
            {"role": "assistant", "content": first_text},
            {"role": "user", "content": Q_FOLLOW},
        ],
    )
    content = second.choices[0].message.content or ""
    assert "唐家庄" in norm(content)
    assert _extra(second, "retrieval_query") == "王哥庄街道党建示范点是哪个社区？"
    cited = {c["doc_id"] for c in _extra(second, "citations")}
    assert "002_8c245bf9f2fc8f5a" in cited


def test_follow_up_streaming(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="zhiwen-extractive",
        messages=[
            {"role": "user", "content": Q_FISHERY},
            {"role": "assistant", "content": "王哥庄街道2018年渔业总产值5.73亿元。[1]"},
            {"role": "user", "content": Q_FOLLOW},
        ],
        stream=True,
    )
    content = "".join(c.choices[0].delta.content or "" for c in stream)
    assert "唐家庄" in norm(content)


def test_unanswerable_question(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="zhiwen-extractive", messages=[{"role": "user", "content": Q_NONE}]
    )
    content = completion.choices[0].message.content or ""
    assert "资料中未找到" in content
    assert _extra(completion, "answerable") is False


def test_llm_model_without_an_llm_falls_back_with_a_warning(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="zhiwen-llm", messages=[{"role": "user", "content": Q_SAFETY}]
    )
    assert completion.model == "zhiwen-extractive"
    assert any("llm" in w for w in _extra(completion, "warnings"))
    assert "172处" in norm(completion.choices[0].message.content or "")


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "你好"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages.0.user.content"),
        ({"messages": [{"role": "user"}]}, "messages.0.user.content"),
        ({"messages": [{"role": "user", "content": "问\udc00"}]}, "messages.0.user.content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
            "messages.0.user.content",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": " "}, {"type": "text", "text": "\n\t"}]}]},
            "messages.0.user.content",
        ),
        ({"messages": [{"role": "robot", "content": "你好"}]}, "messages.0"),
        ({"messages": [{"role": "user", "content": "问" * 5000}]}, "messages.0.content"),
        # an earlier turn is bounded too (it feeds follow-up resolution and the searched query):
        # the ~90k-character history that kept a core busy for minutes is one 422
        (
            {
                "messages": [
                    {"role": "user", "content": "九水街道共有多少处安全隐患被整改" * 6000},
                    {"role": "user", "content": "还有呢？"},
                ]
            },
            "messages.0.content",
        ),
        ({"messages": [{"role": "user", "content": "你好"}], "top_k": 0}, "top_k"),
        ({"messages": [{"role": "user", "content": "你好"}], "top_k": 100000}, "top_k"),
        ({"messages": [{"role": "user", "content": "你好"}], "stream": "maybe"}, "stream"),
        # one strictness with /v1/ask and /v1/search: no strings for booleans or numbers
        ({"messages": [{"role": "user", "content": "你好"}], "stream": "yes"}, "stream"),
        ({"messages": [{"role": "user", "content": "你好"}], "top_k": "5"}, "top_k"),
        ({"messages": [{"role": "user", "content": "你好"}], "include_sources": "no"}, "include_sources"),
        ({}, "messages"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    api: ApiServer, body: dict[str, Any], field: str
) -> None:
    response = httpx.post(
        f"{api.url}/v1/chat/completions",
        content=json.dumps(body),  # ASCII-escaped, so a lone surrogate reaches the server
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]], error
    assert f"{field}: " in error["message"]


def test_sdk_raises_on_invalid_body(client: OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(
            model="zhiwen", messages=[{"role": "assistant", "content": "只有助手"}]
        )


def test_multipart_text_content_is_accepted(api: ApiServer) -> None:
    # a blank part beside the question is fine: the joined text is what is asked
    parts = [{"type": "text", "text": " "}, {"type": "text", "text": Q_SAFETY}]
    body = {"messages": [{"role": "user", "content": parts}], "top_k": 5.0}
    response = httpx.post(f"{api.url}/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200
    assert "172处" in norm(response.json()["choices"][0]["message"]["content"])


# -- pure helpers ----------------------------------------------------------------------------



def test_composer_for_model() -> None:
    assert composer_for_model("zhiwen-llm") == "llm"
    assert composer_for_model("zhiwen-extractive") == "extractive"
    assert composer_for_model("gpt-4o") is None
    assert composer_for_model(None) is None


def test_text_pieces_keep_markers_whole() -> None:
    text = "九水街道共有172处安全隐患被整改。[1][12]结束"
    pieces = list(text_pieces(text, size=4))
    assert "".join(pieces) == text
    assert "[1]" in pieces and "[12]" in pieces


def test_sources_text() -> None:
    from service.answering.types import Citation

    quote = "累计排查整改安全隐患172处，\n" + "长" * 80
    text = sources_text([Citation(1, "d", "九水街道年终盘点", quote, 0, len(quote))])
    assert text.startswith("\n\n来源：\n[1] 九水街道年终盘点 — 「累计排查整改安全隐患172处，")
    assert text.endswith("…」")
    assert sources_text([]) == ""


# -- the streaming path of an LLM composer, with fakes (no server, no model) --------------------

_REPORT_TEXT = "前言。王哥庄街道2018年渔业总产值5.73亿元。后记。"
_QUOTE = "王哥庄街道2018年渔业总产值5.73亿元。"


def _fake_engine(llm: Any) -> Any:
    from indexer.types import Chunk, Hit, Report
    from service.answering.engine import QAEngine
    from service.answering.types import Answer, Citation

    start = _REPORT_TEXT.index(_QUOTE)
    report = Report("r1", "王哥庄纪实", _REPORT_TEXT, {})
    hit = Hit(Chunk("r1#0", "r1", 0, len(_REPORT_TEXT), _REPORT_TEXT, "王哥庄纪实"), 1.0, {})
    citation = Citation(1, "r1", "王哥庄纪实", _QUOTE, start, start + len(_QUOTE))

    class Searcher:
        def __init__(self) -> None:
            self.reports = {"r1": report}
            self.chunks = [hit.chunk]
            self.places: frozenset[str] = frozenset()

        def search(self, query: str, top_k: int = 10, mode: str = "hybrid", within: object = None) -> list[Hit]:
            return [hit]

    class Extractive:
        name = "extractive"

        def compose(self, question: str, hits: Any, reports: Any) -> Answer:
            return Answer(_QUOTE + "[1]", True, (citation,), tuple(hits))

    composers = {"extractive": Extractive(), "llm": llm(citation)}
    return QAEngine(cast(Any, None), cast(Any, Searcher()), cast(Any, composers), "llm")


def _run_stream(llm: Any) -> tuple[list[dict[str, Any]], str]:
    from service.api.routes.chat import _resolve_turn, _stream_answer
    from service.api.schemas.chat import ChatCompletionRequest
    from zhiwen.settings import Settings

    engine = _fake_engine(llm)
    body = ChatCompletionRequest.model_validate(
        {"model": "zhiwen-llm", "messages": [{"role": "user", "content": Q_FISHERY}]}
    )
    settings = Settings.model_validate({"composer": "llm", "cache_path": None})
    events = list(_stream_answer(engine, _resolve_turn(body, engine, settings)))
    assert events[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if "choices" in c]
    return chunks, "".join(d.get("content") or "" for d in deltas)


def _llm(deltas: list[str], final_text: str | None, fail: bool = False) -> Any:
    from service.answering.types import Answer

    def make(citation: Any) -> Any:
        class LLM:
            name = "llm"

            def compose(self, question: str, hits: Any, reports: Any) -> Answer:
                raise AssertionError("the streaming path must call stream()")

            def stream(self, question: str, hits: Any, reports: Any) -> Iterator[str | Answer]:
                assert question == Q_FISHERY
                yield from deltas
                if fail:
                    raise RuntimeError("connection reset")
                assert final_text is not None
                yield Answer(final_text, True, (citation,), tuple(hits), composer="llm")

        return LLM()

    return make


def test_llm_deltas_are_streamed_then_citations() -> None:
    text = "王哥庄街道2018年渔业总产值为5.73亿元。[1]"
    chunks, content = _run_stream(_llm(["王哥庄街道", "2018年渔业总产值", "为5.73亿元。[1]"], text))
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:4]] == [
        "王哥庄街道",
        "2018年渔业总产值",
        "为5.73亿元。[1]",
    ]
    assert content == text + "\n\n来源：\n[1] 王哥庄纪实 — 「" + _QUOTE + "」"
    last = chunks[-1]
    assert last["model"] == "zhiwen-llm"
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["citations"][0]["quote"] == _QUOTE
    assert last["answer"] == content


def test_a_revised_llm_draft_is_followed_by_the_checked_answer() -> None:
    final = "王哥庄街道2018年渔业总产值为5.73亿元。[1]"
    chunks, content = _run_stream(_llm(["王哥庄街道产值很高。[2]", "另一句。"], final))
    assert content.startswith("王哥庄街道产值很高。[2]另一句。\n\n——\n核对出处后的回答：\n" + final)
    assert chunks[-1]["answer"].startswith(final)


def test_an_llm_failing_before_any_text_falls_back_to_extractive() -> None:
    chunks, content = _run_stream(_llm([], None, fail=True))
    assert content.startswith(_QUOTE + "[1]")
    assert chunks[-1]["model"] == "zhiwen-extractive"
    assert any("failed" in w for w in chunks[-1]["warnings"])


def test_an_llm_failing_mid_stream_sends_an_error_event() -> None:
    chunks, content = _run_stream(_llm(["王哥庄街道"], None, fail=True))
    assert content == "王哥庄街道"
    assert chunks[-1]["error"]["code"] == "internal_error"


# -- questions about several reports (issue 32) --------------------------------------------------
Q_LIST = "哪些街道开展了拆迁工作？"


def test_a_list_answer_is_text_with_a_line_and_markers_per_report(client: OpenAI, api: ApiServer) -> None:
    completion = client.chat.completions.create(model="zhiwen-extractive",
                                                messages=[{"role": "user", "content": Q_LIST}])
    content = completion.choices[0].message.content or ""
    answer = content.partition("\n\n来源：\n")[0]
    groups = _extra(completion, "groups")
    assert _extra(completion, "answer_kind") == "list"
    assert len(groups) >= 2
    lines = answer.splitlines()
    assert lines[0].endswith(f"有 {len(groups)} 份提到：")
    for i, (line, group) in enumerate(zip(lines[1:], groups, strict=True), 1):
        assert line.startswith(f"{i}. ")
        assert {int(n) for n in MARKER.findall(line)} == {c["n"] for c in group["citations"]}
        assert {c["doc_id"] for c in group["citations"]} == {group["doc_id"]}
    _check_citations(api, answer, _extra(completion, "citations"))
    ask = httpx.post(f"{api.url}/v1/ask", json={"question": Q_LIST}, timeout=120).json()
    assert ask["answer_kind"] == "list"
    assert [g["doc_id"] for g in ask["groups"]] == [g["doc_id"] for g in groups]
    assert ask["answer"] == answer


def test_a_filter_that_leaves_no_report_says_so_on_both_endpoints(client: OpenAI, api: ApiServer) -> None:
    filters = {"date_from": "1990-01-01", "date_to": "1990-12-31"}
    ask = httpx.post(f"{api.url}/v1/ask", json={"question": Q_SAFETY, "filters": filters}, timeout=120).json()
    assert ask["filtered_out"] is True and ask["answer_kind"] == "refusal"
    assert "筛选" in ask["answer"]
    completion = client.chat.completions.create(
        model="zhiwen-extractive", messages=[{"role": "user", "content": Q_SAFETY}],
        extra_body={"filters": filters})
    assert _extra(completion, "filtered_out") is True
    assert "筛选" in (completion.choices[0].message.content or "")


def test_question_places_follow_the_resolved_question(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="zhiwen-extractive", messages=[
        {"role": "user", "content": Q_FISHERY},
        {"role": "assistant", "content": "……"},
        {"role": "user", "content": Q_FOLLOW},
    ])
    assert _extra(completion, "question_places") == ["王哥庄街道"]
    fresh = client.chat.completions.create(model="zhiwen-extractive",
                                           messages=[{"role": "user", "content": Q_LIST}])
    assert _extra(fresh, "question_places") == []
