"""``GET /v1/documents`` and ``GET /v1/documents/{doc_id}``: the indexed reports."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.auth import ReadKey
from service.api.deps import EngineDep
from service.api.errors import ApiError, error_responses, printable
from service.api.schemas import DocumentDetail, DocumentList, DocumentSummary

router = APIRouter(prefix="/v1", tags=["documents"], dependencies=[ReadKey])


@router.get(
    "/documents", summary="List the indexed reports", responses=error_responses(401, 403, 503)
)
async def list_documents(engine: EngineDep) -> DocumentList:
    reports = sorted(engine.reports.values(), key=lambda r: r.doc_id)
    return DocumentList(
        documents=[DocumentSummary.from_report(r) for r in reports], total=len(reports)
    )


@router.get(
    "/documents/{doc_id}",
    operation_id="get_document",
    summary="One report: original text and metadata",
    description="Citation and passage offsets (start, end) index into `text`.",
    responses=error_responses(401, 403, 404, 422, 503),
)
async def get_document(doc_id: str, engine: EngineDep) -> DocumentDetail:
    report = engine.reports.get(doc_id)
    if report is None:
        raise ApiError(404, "not_found", f"unknown document: {printable(doc_id)}")
    return DocumentDetail.from_report(report)
