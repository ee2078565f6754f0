"""Filters on report metadata (issue 15): inside retrieval, on both search and answers.

A filter narrows what is ranked, not what is shown: a filtered query finds passages an
unfiltered top-k cuts, never a passage from outside the filter, and a filter that selects no
report gives no passages and a refusal. The indexer part runs on the session's searcher; the
API part on the session's real server.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from indexer.retrieval.filters import ReportFilter, allowed_reports
from indexer.types import Report

QUESTION = "街道党工委开展了哪些工作？"


def _places(reports: dict[str, Any], doc_id: str) -> list[str]:
    return list(reports[doc_id].meta.get("places") or [])


# -- the filter itself --------------------------------------------------------------------------
def test_each_criterion_must_hold_and_any_value_may_match() -> None:
    a = Report("a", "t", "x", {"places": ["九水街道", "李沧区"], "date": "2021-01-30", "format": "pdf"})
    b = Report("b", "t", "x", {"places": ["湖岛街道"]})
    assert allowed_reports([a, b], ReportFilter(places=("九水",))) == {"a"}  # without its suffix
    assert allowed_reports([a, b], ReportFilter(places=("湖岛街道", "九水街道"))) == {"a", "b"}
    assert allowed_reports([a, b], ReportFilter(date_from="2021-01-01", date_to="2021-12-31")) == {"a"}
    assert allowed_reports([a, b], ReportFilter(date_to="2020-12-31")) == set()  # b has no date
    assert allowed_reports([a, b], ReportFilter(formats=("txt",))) == {"b"}  # no format: plain text
    assert allowed_reports([a, b], ReportFilter(places=("九水",), formats=("txt",))) == set()
    assert allowed_reports([a, b], ReportFilter(doc_ids=("b",))) == {"b"}
    assert ReportFilter().empty and not ReportFilter(doc_ids=("b",)).empty


# -- inside retrieval ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_a_filtered_search_finds_passages_an_unfiltered_top_k_cuts(searcher: Any, mode: str) -> None:
    top = searcher.search(QUESTION, top_k=3, mode=mode)
    shown = {h.chunk.doc_id for h in top}
    others = sorted(set(searcher.reports) - shown)
    assert others, "the unfiltered top 3 already covers every report"
    for doc_id in others:
        hits = searcher.search(QUESTION, top_k=3, mode=mode, within={doc_id})
        assert hits and {h.chunk.doc_id for h in hits} == {doc_id}, doc_id
        assert not {h.chunk.chunk_id for h in hits} & {h.chunk.chunk_id for h in top}


def test_a_filter_that_selects_nothing_finds_nothing_and_the_answer_refuses(searcher: Any, embedder: Any) -> None:
    from service.answering.engine import engine_for

    assert searcher.search(QUESTION, top_k=5, within=frozenset()) == []
    assert searcher.search(QUESTION, top_k=5, within={"no-such-report"}) == []
    engine = engine_for(embedder, searcher, "extractive", None)
    answer = engine.ask(QUESTION, 5, within=frozenset())
    assert not answer.answerable and not answer.citations and not answer.passages


# -- the API ------------------------------------------------------------------------------------
def test_search_with_a_place_filter_returns_only_that_place(client: httpx.Client, searcher: Any) -> None:
    unfiltered = client.post("/v1/search", json={"query": QUESTION, "top_k": 10}).json()["results"]
    place = "湖岛"
    body = client.post("/v1/search", json={"query": QUESTION, "top_k": 10, "filters": {"places": [place]}})
    assert body.status_code == 200, body.text
    results = body.json()["results"]
    assert results
    for r in results:
        assert any(p.startswith(place) for p in _places(searcher.reports, r["doc_id"])), r["doc_id"]
    assert [r["doc_id"] for r in results] != [r["doc_id"] for r in unfiltered]


def test_ask_and_chat_keep_to_the_filter(client: httpx.Client, searcher: Any) -> None:
    doc_id = sorted(searcher.reports)[2]
    filters = {"doc_ids": [doc_id]}
    answer = client.post("/v1/ask", json={"question": QUESTION, "filters": filters}).json()
    assert {c["doc_id"] for c in answer["citations"]} <= {doc_id}
    assert {p["doc_id"] for p in answer["passages"]} <= {doc_id}
    chat = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": QUESTION}], "filters": filters}).json()
    assert {c["doc_id"] for c in chat["citations"]} <= {doc_id}
    assert {p["doc_id"] for p in chat["passages"]} <= {doc_id}


def test_a_filter_no_report_matches_gives_no_results_and_a_refusal(client: httpx.Client) -> None:
    filters = {"places": ["不存在街道"]}
    search = client.post("/v1/search", json={"query": QUESTION, "filters": filters})
    assert search.status_code == 200 and search.json()["results"] == []
    answer = client.post("/v1/ask", json={"question": QUESTION, "filters": filters}).json()
    assert answer["answerable"] is False and answer["citations"] == [] and answer["passages"] == []
    stream = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": QUESTION}], "filters": filters, "stream": True})
    events = [json.loads(line[6:]) for line in stream.text.splitlines()
              if line.startswith("data: {")]
    assert events and events[-1]["citations"] == [] and "没有任何报告" in events[-1]["answer"]
    assert events[-1]["filtered_out"] is True and answer["filtered_out"] is True


@pytest.mark.parametrize(("filters", "field"), [
    ({"date_from": "2021-02-30"}, "filters.date_from"),
    ({"formats": ["xls"]}, "filters.formats.0"),
    ({"places": "九水街道"}, "filters.places"),
    ({"place": ["九水街道"]}, "filters.place"),
    ({"doc_ids": [""]}, "filters.doc_ids.0"),
])
def test_a_bad_filter_is_a_422_naming_the_field(client: httpx.Client, filters: dict[str, Any], field: str) -> None:
    response = client.post("/v1/search", json={"query": QUESTION, "filters": filters})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(d["field"] == field for d in error["details"]), error


def test_facets_list_what_filters_take(client: httpx.Client, searcher: Any) -> None:
    facets = client.get("/v1/facets").json()
    names = {f["name"]: f["reports"] for f in facets["places"]}
    assert names["湖岛街道"] == 1 and "九水街道" in names
    assert {f["name"] for f in facets["formats"]} == {"txt"}
    assert facets["undated"] + (1 if facets["earliest"] else 0) <= len(searcher.reports)
    for place in list(names)[:3]:  # each listed place selects its reports
        results = client.post("/v1/search", json={"query": QUESTION, "filters": {"places": [place]}}).json()
        assert results["results"]


def test_a_filter_that_leaves_out_the_answer_is_refused(searcher: Any, embedder: Any) -> None:
    """Judged by the best match among the selected reports: the whole index's best match (the
    report left out) must not make a poor passage look answerable."""
    from service.answering.engine import engine_for

    engine = engine_for(embedder, searcher, "extractive", None)
    question = "王哥庄街道2018年渔业总产值是多少？"
    assert engine.ask(question, 5).answerable
    others = frozenset(d for d in searcher.reports if not d.startswith("002_"))
    answer = engine.ask(question, 5, within=others)
    assert not answer.answerable, answer.text
    assert {c.doc_id for c in answer.citations} <= others and {h.chunk.doc_id for h in answer.passages} <= others


def test_a_date_range_that_ends_before_it_starts_selects_nothing(client: httpx.Client) -> None:
    filters = {"date_from": "2021-03-01", "date_to": "2021-01-01"}
    search = client.post("/v1/search", json={"query": QUESTION, "filters": filters})
    assert search.status_code == 200 and search.json()["results"] == []
