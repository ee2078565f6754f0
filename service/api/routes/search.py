"""``POST /v1/search``: the passages closest to a query."""

from __future__ import annotations

import time

from fastapi import APIRouter

from service.api.auth import ReadKey
from service.api.deps import EngineDep, SettingsDep, enforce_limits
from service.api.errors import error_responses
from service.api.schemas import Facets, SearchRequest, SearchResponse, selected_reports

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[ReadKey])


# A plain ``def``: FastAPI runs it in the threadpool, so model inference never blocks the loop.
@router.post(
    "/search",
    summary="Search passages (hybrid BM25 + dense)",
    responses=error_responses(401, 403, 422, 503),
)
def search(body: SearchRequest, engine: EngineDep, settings: SettingsDep) -> SearchResponse:
    start = time.perf_counter()
    top_k = enforce_limits(settings, "query", body.query, body.top_k, settings.default_top_k)
    hits = engine.search(body.query, top_k, selected_reports(body.filters, engine.reports))
    took_ms = (time.perf_counter() - start) * 1000
    response = SearchResponse.from_hits(hits, engine.reports, round(took_ms, 2))
    if body.explain:
        for passage, hit in zip(response.results, hits, strict=True):
            passage.matched_terms = engine.searcher.matched_terms(body.query, hit.chunk)
    return response


@router.get(
    "/facets",
    summary="What reports can be filtered by: places, formats, dates",
    description="The values `filters` takes in /v1/search, /v1/ask and chat, with how many "
    "reports have each.",
    responses=error_responses(401, 403, 503),
)
def facets(engine: EngineDep) -> Facets:
    return Facets.of(list(engine.reports.values()))
