"""Operational endpoints: liveness, readiness and Prometheus metrics.

``/healthz`` is always open. With ``ZHIWEN_READ_API_KEYS_REQUIRED``, ``/readyz`` without a key says
only ready or not (the index's file names, hashes and changes need a read key), and ``/metrics``
needs a read key like every other read.

``/metrics`` holds the ``default`` knowledge base's counts (``zhiwen_index_documents`` /
``_chunks``, ``zhiwen_index_ready``) and request counts and latencies by route template and status
(no knowledge-base names, query strings or bodies). So it needs what reading ``default`` needs: open
while reads are open (anyone may read ``default`` then), else a ZHIWEN_API_KEYS key or a scoped key
that may read ``default`` — ``?kb=`` is ignored, so a key scoped to another base gets 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from service.api.auth import check_key, may_see_details
from service.api.deps import SettingsDep, StateDep
from service.api.errors import error_response, error_responses
from service.api.schemas.status import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    summary="Readiness: the index is loaded",
    description="Details (model, counts, the index's meta.json, why it is not ready) only when "
    "reads are open or a read key is sent.",
    responses=error_responses(403, 503),
    response_model=Readiness,
)
async def readyz(request: Request, state: StateDep, settings: SettingsDep) -> Readiness | JSONResponse:
    detailed = may_see_details(request, settings)
    engine = state.engine
    if engine is None:
        # not an exception: an unready service is an expected state, not an error to log
        reason = state.reason if detailed else "the service is not ready"
        return error_response(503, state.not_ready_code, reason, headers={"Retry-After": "5"})
    if state.kb is not None and state.kb.unavailable:
        reason = state.kb.unavailable if detailed else "the service is not ready"
        return error_response(503, "backend_unavailable", reason, headers={"Retry-After": "5"})
    if not detailed:
        return Readiness()
    searcher = engine.searcher
    return Readiness(
        model=engine.embedder.name,
        documents=len(searcher.reports),
        chunks=len(searcher.chunks),
        index=dict(searcher.meta),
    )


def require_default_read(request: Request, settings: SettingsDep) -> None:
    """Read access to ``default`` whatever ``?kb=`` says (the metrics are its counts)."""
    if settings.read_api_keys_required:
        check_key(request, settings, what="read", kb="default")


@router.get(
    "/metrics", summary="Prometheus metrics", include_in_schema=False,
    dependencies=[Depends(require_default_read)],
)
async def metrics(state: StateDep) -> Response:
    body, content_type = state.metrics.render()
    return Response(content=body, media_type=content_type)
