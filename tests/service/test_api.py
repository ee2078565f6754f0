"""The HTTP API over a real server and the real index of data/reports."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from service.answering.types import NO_CONTENT, NOT_FOUND

from .conftest import BrokenServer

ANSWERABLE = "九水街道党工委获得了什么荣誉称号？"
ANSWERABLE_DOC = "000_cfe86b6ecbc402ed"
UNANSWERABLE = "九水街道2020年的财政收入是多少？"
PASSAGE_FIELDS = {"doc_id", "title", "chunk_id", "text", "start", "end", "score", "scores", "ocr_confidence",
                  "matched_terms"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message"}}``, JSON, and no stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def assert_passage(p: dict[str, Any], report_texts: dict[str, str]) -> None:
    assert set(p) == PASSAGE_FIELDS
    assert set(p["scores"]) == {"keyword", "dense", "fused"}
    assert 0 <= p["start"] < p["end"] <= len(report_texts[p["doc_id"]])
    assert report_texts[p["doc_id"]][p["start"] : p["end"]] == p["text"]
    assert p["chunk_id"].startswith(p["doc_id"] + "#")
    assert p["title"]


# -- health ---------------------------------------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_reports_the_loaded_index(
    client: httpx.Client, report_texts: dict[str, str]
) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["model"] == "m3e-small"
    assert body["documents"] == len(report_texts)
    assert body["chunks"] > body["documents"]
    assert body["index"]["format_version"] >= 1


def test_openapi_and_docs(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/search", "/v1/ask", "/v1/documents", "/v1/documents/{doc_id}"):
        assert path in spec["paths"]
    # the limits from settings are published in the schema
    ask = spec["components"]["schemas"]["AskRequest"]["properties"]
    assert ask["question"]["maxLength"] == 1000
    assert {"type": "integer", "minimum": 1, "maximum": 50}.items() <= ask["top_k"]["anyOf"][
        0
    ].items()
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_schema_reference_resolves(client: httpx.Client) -> None:
    # POST/PUT /v1/documents referenced a DocumentIn the document did not define (issue 18)
    spec = client.get("/openapi.json").json()
    refs = set(_refs(spec))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], ref
    for path, method in (("/v1/documents", "post"), ("/v1/documents/{doc_id}", "put")):
        body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body["required"] == ["text"] and body["additionalProperties"] is False


# -- search ---------------------------------------------------------------------------------------


def test_search_returns_cited_spans(client: httpx.Client, report_texts: dict[str, str]) -> None:
    r = client.post("/v1/search", json={"query": "九水街道党工委 干事创业好班子", "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"results", "took_ms"}
    assert body["took_ms"] >= 0
    results = body["results"]
    assert 1 <= len(results) <= 3
    for p in results:
        assert_passage(p, report_texts)
    assert results[0]["doc_id"] == ANSWERABLE_DOC
    assert "干事创业好班子" in results[0]["text"]
    scores = [p["score"] for p in results]
    assert scores == sorted(scores, reverse=True)


def test_search_default_top_k_is_10(client: httpx.Client) -> None:
    r = client.post("/v1/search", json={"query": "社区"})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 10


def test_search_accepts_the_longest_query(client: httpx.Client) -> None:
    r = client.post("/v1/search", json={"query": "街" * 1000, "top_k": 50})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) <= 50


# -- ask ------------------------------------------------------------------------------------------


def marked_sentences(answer: str) -> list[str]:
    """Split an answer after each run of [n] markers; every piece must end with markers."""
    return [s for s in re.split(r"(?<=\])(?!\[)", answer) if s.strip()]


def test_ask_answers_with_citations(client: httpx.Client, report_texts: dict[str, str]) -> None:
    r = client.post("/v1/ask", json={"question": ANSWERABLE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "answer_id",
        "answer",
        "answerable",
        "confidence",
        "citations",
        "passages",
        "composer_used",
        "warnings",
        "took_ms",
        "curated",
        "answer_kind",
        "groups",
        "question_places",
        "filtered_out",
    }
    assert body["answerable"] is True and body["curated"] is None
    assert body["answer_kind"] == "fact" and body["groups"] == [] and body["filtered_out"] is False
    # the fitted answerability model's probability, at or above its refusal threshold
    from service.answering.answerability import packaged_model

    assert packaged_model().threshold <= body["confidence"] <= 1.0
    assert body["composer_used"] == "extractive"
    assert "干事创业好班子" in body["answer"]
    assert NOT_FOUND not in body["answer"]
    # each sentence ends with [n], and every marker names a citation
    for sentence in marked_sentences(body["answer"]):
        assert re.search(r"(\[\d+\])+\s*$", sentence), sentence
    numbers = {c["n"] for c in body["citations"]}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])} <= numbers
    assert body["citations"] and body["citations"][0]["doc_id"] == ANSWERABLE_DOC
    assert 1 <= len(body["passages"]) <= 5
    for p in body["passages"]:
        assert_passage(p, report_texts)


def test_citation_offsets_index_the_served_documents(
    client: httpx.Client, report_texts: dict[str, str]
) -> None:
    """quote == GET /v1/documents/{doc_id}.text[start:end] for every citation."""
    questions = [
        ANSWERABLE,
        "九水街道共有多少处安全隐患被整改？",
        "哪个街道的大馒头成为上合峰会专供产品？",
    ]
    checked = 0
    for question in questions:
        body = client.post("/v1/ask", json={"question": question, "top_k": 8}).json()
        for c in body["citations"]:
            doc = client.get(f"/v1/documents/{c['doc_id']}").json()
            assert doc["text"][c["start"] : c["end"]] == c["quote"]
            assert report_texts[c["doc_id"]][c["start"] : c["end"]] == c["quote"]
            assert c["title"] == doc["title"]
            assert c["quote"].strip()
            checked += 1
    assert checked >= len(questions)


def test_ask_without_an_answer_says_so(client: httpx.Client, report_texts: dict[str, str]) -> None:
    r = client.post("/v1/ask", json={"question": UNANSWERABLE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answerable"] is False
    assert NOT_FOUND in body["answer"]
    from service.answering.answerability import packaged_model

    # refused by a rule (no confidence) or by the model (below its threshold)
    assert body["confidence"] is None or 0.0 <= body["confidence"] < packaged_model().threshold
    assert body["passages"], "the closest passages are still listed"
    for p in body["passages"]:
        assert_passage(p, report_texts)


@pytest.mark.parametrize("question", ["？", "什么？", "有多少？", "🙂🙂🙂", "\u200b\u200b"])
def test_ask_without_content_asks_for_a_real_question(client: httpx.Client, question: str) -> None:
    r = client.post("/v1/ask", json={"question": question})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answerable"] is False and body["answer"] == NO_CONTENT
    assert body["citations"] == [] and body["passages"] == [] and body["confidence"] is None
    # the chat endpoint answers the same way
    chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]})
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"].startswith(NO_CONTENT)


def test_ask_llm_without_configuration_falls_back(client: httpx.Client) -> None:
    r = client.post("/v1/ask", json={"question": ANSWERABLE, "composer": "llm", "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["composer_used"] == "extractive"
    assert any("llm" in w for w in body["warnings"])
    assert "干事创业好班子" in body["answer"]


# -- documents ------------------------------------------------------------------------------------


def test_list_documents(client: httpx.Client, report_texts: dict[str, str]) -> None:
    r = client.get("/v1/documents")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["documents"]) == len(report_texts)
    ids = [d["doc_id"] for d in body["documents"]]
    assert ids == sorted(report_texts)
    for d in body["documents"]:
        assert set(d) == {"doc_id", "title", "metadata", "length"}
        assert d["length"] == len(report_texts[d["doc_id"]])
        assert d["title"]


def test_get_document(client: httpx.Client, report_texts: dict[str, str]) -> None:
    r = client.get(f"/v1/documents/{ANSWERABLE_DOC}")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["text"] == report_texts[ANSWERABLE_DOC]
    assert doc["length"] == len(doc["text"])
    assert isinstance(doc["metadata"], dict)


@pytest.mark.parametrize("doc_id", ["no-such-report", "000_cfe86b6ecbc402ed.txt", "%E4%B8%AD"])
def test_unknown_document_is_404(client: httpx.Client, doc_id: str) -> None:
    error = assert_error(client.get(f"/v1/documents/{doc_id}"), 404, "not_found")
    assert "document" in error["message"]


# -- errors ---------------------------------------------------------------------------------------

# (endpoint, body, the field the message must name)
INVALID: list[tuple[str, Any, str]] = [
    ("/v1/ask", {"question": ""}, "question"),
    ("/v1/ask", {"question": "   "}, "question"),
    ("/v1/ask", {"question": " \t\n　\u3000 "}, "question"),
    ("/v1/ask", {"question": "问" * 1001}, "question"),
    ("/v1/ask", {"question": ANSWERABLE, "top_k": 0}, "top_k"),
    ("/v1/ask", {"question": ANSWERABLE, "top_k": 51}, "top_k"),
    ("/v1/ask", {"question": ANSWERABLE, "top_k": "5"}, "top_k"),
    ("/v1/ask", {"question": ANSWERABLE, "top_k": 2.5}, "top_k"),
    ("/v1/ask", {"question": ANSWERABLE, "top_k": True}, "top_k"),
    ("/v1/ask", {"question": 42}, "question"),
    ("/v1/ask", {"question": None}, "question"),
    ("/v1/ask", {"question": ["a"]}, "question"),
    ("/v1/ask", {}, "question"),
    ("/v1/ask", {"question": ANSWERABLE, "composer": "gpt"}, "composer"),
    ("/v1/ask", {"question": ANSWERABLE, "topk": 3}, "topk"),
    ("/v1/ask", ["question"], "body"),
    ("/v1/search", {"query": ""}, "query"),
    ("/v1/search", {"query": "\n\n"}, "query"),
    ("/v1/search", {"query": "x" * 1001}, "query"),
    ("/v1/search", {"query": "社区", "top_k": 0}, "top_k"),
    ("/v1/search", {"query": "社区", "top_k": 51}, "top_k"),
    ("/v1/search", {"query": "社区", "top_k": -3}, "top_k"),
    ("/v1/search", {"query": "社区", "top_k": "ten"}, "top_k"),
    ("/v1/search", {"q": "社区"}, "query"),
    ("/v1/search", "社区", "body"),
]


@pytest.mark.parametrize(("path", "body", "field"), INVALID, ids=lambda v: repr(v)[:40])
def test_invalid_requests_are_422_naming_the_field(
    client: httpx.Client, path: str, body: Any, field: str
) -> None:
    error = assert_error(client.post(path, json=body), 422, "validation_error")
    assert field in error["message"], error
    assert field in {d["field"] for d in error["details"]}


@pytest.mark.parametrize("path", ["/v1/ask", "/v1/search"])
@pytest.mark.parametrize(
    "raw", [b'{"question": "x",', b"{not json}", b"", b"\xff\xfe\x00garbage"], ids=repr
)
def test_malformed_json_is_422(client: httpx.Client, path: str, raw: bytes) -> None:
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    error = assert_error(r, 422, "validation_error")
    assert "body" in error["message"]


def test_non_json_content_type_is_422(client: httpx.Client) -> None:
    r = client.post("/v1/search", content="query=社区", headers={"content-type": "text/plain"})
    assert_error(r, 422, "validation_error")


def test_oversized_body_is_413(client: httpx.Client) -> None:
    r = client.post("/v1/ask", json={"question": "问" * (1024 * 1024)})
    assert_error(r, 413, "payload_too_large")


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    r = client.get("/v1/ask")
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers["allow"]


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")


# -- metrics --------------------------------------------------------------------------------------


def _server_timing(response: httpx.Response) -> dict[str, float]:
    out = {}
    for part in response.headers["server-timing"].split(","):
        name, _, dur = part.strip().partition(";dur=")
        out[name] = float(dur)
    return out


def test_search_and_ask_report_their_stages(client: httpx.Client) -> None:
    """Each answering stage a request ran is in its Server-Timing header and in /metrics, so
    the time a query takes can be split into model, retrieval, ranking and HTTP."""
    search = _server_timing(client.post("/v1/search", json={"query": "九水街道整改了多少处安全隐患", "top_k": 3}))
    assert {"encode", "keyword", "dense", "sentences", "fusion", "rerank", "app"} <= set(search)
    assert "compose" not in search
    assert all(ms >= 0 for ms in search.values())
    assert search["app"] >= search["encode"]
    ask = _server_timing(client.post("/v1/ask", json={"question": "九水街道整改了多少处安全隐患？"}))
    assert {"encode", "keyword", "dense", "compose", "app"} <= set(ask)
    assert "server-timing" not in client.get("/healthz").headers  # nothing answered, nothing to say
    text = client.get("/metrics").text
    for name in ("encode", "rerank", "compose"):
        assert re.search(rf'zhiwen_stage_duration_seconds_count\{{stage="{name}"\}} [1-9]', text), name


def test_metrics_are_labelled_by_route_template(client: httpx.Client) -> None:
    client.get(f"/v1/documents/{ANSWERABLE_DOC}")
    client.get("/v1/documents/no-such-report")
    client.post("/v1/search", json={"query": "社区", "top_k": 1})
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'route="/v1/documents/{doc_id}"' in text
    assert ANSWERABLE_DOC not in text and "no-such-report" not in text  # never the raw path
    assert re.search(
        r'zhiwen_http_requests_total\{method="GET",route="/v1/documents/\{doc_id\}",status="404"\} '
        r"[1-9]",
        text,
    )
    assert re.search(
        r'zhiwen_http_request_duration_seconds_bucket\{le="[^"]+",method="POST",'
        r'route="/v1/search",status="200"\}',
        text,
    )
    assert "zhiwen_index_ready 1.0" in text


# -- a server whose index is missing or corrupt ---------------------------------------------------


def test_broken_index_is_reported_by_readyz(broken_server: BrokenServer) -> None:
    error = assert_error(broken_server.readyz, 503, "index_unavailable")
    assert broken_server.expected_reason in error["message"], error
    assert broken_server.readyz.headers.get("retry-after")


def test_broken_index_keeps_serving(broken_server: BrokenServer) -> None:
    with httpx.Client(base_url=broken_server.url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        for response in (
            c.post("/v1/search", json={"query": "社区"}),
            c.post("/v1/ask", json={"question": ANSWERABLE}),
            c.get("/v1/documents"),
            c.get(f"/v1/documents/{ANSWERABLE_DOC}"),
        ):
            error = assert_error(response, 503, "index_unavailable")
            assert broken_server.expected_reason in error["message"]
        assert "zhiwen_index_ready 0.0" in c.get("/metrics").text
