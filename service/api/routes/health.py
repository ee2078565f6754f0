"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service.api.deps import StateDep
from service.api.errors import error_response, error_responses
from service.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    summary="Readiness: the index is loaded",
    responses=error_responses(503),
    response_model=Readiness,
)
async def readyz(state: StateDep) -> Readiness | JSONResponse:
    engine = state.engine
    if engine is None:
        # not an exception: an unready service is an expected state, not an error to log
        return error_response(503, state.not_ready_code, state.reason, headers={"Retry-After": "5"})
    searcher = engine.searcher
    return Readiness(
        model=engine.embedder.name,
        documents=len(searcher.reports),
        chunks=len(searcher.chunks),
        index=dict(searcher.meta),
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    body, content_type = state.metrics.render()
    return Response(content=body, media_type=content_type)
