"""Curated answers (FAQ): ``/v1/faq``. Staff add, import and delete question–answer pairs; a
question close enough to one (``service/answering/faq.py``) gets that answer from /v1/ask and
chat, marked ``curated``. Listing needs a read key where reads do; changes need a write key.

An import file is read in the thread pool within ``service.kb.faq_import_limits`` (rows, cells,
unpacked size), so a large or hostile one neither holds the event loop (health checks and
questions keep being answered) nor is parsed past its limit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from indexer.errors import WriterBusy
from service.answering.faq import (
    MAX_ANSWER_CHARS,
    MAX_QUESTION_CHARS,
    Curated,
    FaqError,
    FaqMatcher,
    FaqTooLarge,
    check,
    read_table,
)
from service.api.auth import ReadKey, WriteKey
from service.api.deps import EngineDep, KbDep, SettingsDep
from service.api.errors import ApiError, error_responses, printable
from service.api.schemas import NOT_BLANK_PATTERN
from service.kb import KnowledgeBase, KnowledgeBaseGone, faq_import_limits

router = APIRouter(prefix="/v1", tags=["faq"])


class CuratedIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=NOT_BLANK_PATTERN)]
    answer: Annotated[str, Field(min_length=1, max_length=MAX_ANSWER_CHARS, pattern=NOT_BLANK_PATTERN)]
    source: Annotated[str, Field(max_length=200)] = Field(default="", description="The report it comes from (doc_id).")


class CuratedItem(BaseModel):
    id: str
    question: str
    answer: str
    source: str
    created_at: str

    @classmethod
    def of(cls, c: Curated) -> CuratedItem:
        return cls(id=c.id, question=c.question, answer=c.answer, source=c.source, created_at=c.created_at)


class CuratedList(BaseModel):
    items: list[CuratedItem]
    threshold: float = Field(description="Cosine a question needs to a curated one to get its answer.")


class Skipped(BaseModel):
    row: int
    reason: str


class ImportResult(BaseModel):
    imported: int
    skipped: list[Skipped]


def _faq(engine: EngineDep) -> FaqMatcher:
    if engine.faq is None:
        raise ApiError(503, "faq_unavailable", "curated answers are not set up on this server")
    return engine.faq


@contextlib.contextmanager
def _curating(kb: KnowledgeBase) -> Iterator[None]:
    """A curated-answer change, refused while its knowledge base is being deleted (409, then 404)
    and waited for by the delete, so no change lands in a folder being removed."""
    try:
        with kb.curating():
            yield
    except KnowledgeBaseGone as exc:
        raise ApiError(exc.status, "conflict" if exc.status == 409 else "not_found", exc.message) from exc
    except WriterBusy as exc:
        raise ApiError(409, "write_in_progress", str(exc), headers={"Retry-After": "2"}) from exc


@router.get("/faq", summary="The curated answers", responses=error_responses(401, 403, 503), dependencies=[ReadKey])
def list_faq(engine: EngineDep) -> CuratedList:
    faq = _faq(engine)
    return CuratedList(items=[CuratedItem.of(c) for c in faq.store.all()], threshold=faq.threshold)


@router.post("/faq", summary="Add a curated answer", status_code=201,
             responses=error_responses(401, 403, 409, 422, 503), dependencies=[WriteKey])
def add_faq(body: CuratedIn, kb: KbDep) -> CuratedItem:
    faq = _faq(kb.engine)
    with _curating(kb):
        try:
            made = faq.store.add(body.question, body.answer, body.source)
        except FaqError as exc:
            raise ApiError(422, "validation_error", str(exc)) from exc
        faq.reload()
    return CuratedItem.of(made)


@router.delete("/faq/{faq_id}", summary="Delete a curated answer",
               responses=error_responses(401, 403, 404, 409, 503), dependencies=[WriteKey])
def delete_faq(faq_id: str, kb: KbDep) -> dict[str, str]:
    faq = _faq(kb.engine)
    with _curating(kb):
        if not faq.store.delete(faq_id):
            raise ApiError(404, "not_found", f"no curated answer {printable(faq_id)}")
        faq.reload()
    return {"deleted": faq_id}


@router.post(
    "/faq/import",
    summary="Import curated answers from a CSV or XLSX file",
    description="multipart/form-data with the file in field `file`: a header row naming the columns "
    "question and answer (or 问题 and 答案), optionally source (来源), then one curated answer a row. "
    "Rows that cannot be taken are listed with their row number and reason; the others are stored. "
    "A file over the import limits (ZHIWEN_FAQ_IMPORT_MAX_ROWS, _MAX_CELLS, _MAX_UNZIPPED_BYTES) is "
    "refused whole with 413, naming the limit and the row where reading stopped.",
    status_code=201,
    responses=error_responses(401, 403, 409, 413, 415, 422, 503),
    dependencies=[WriteKey],
    # the file described in its CSV form (an .xlsx workbook is taken too): a header row, then rows
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {"file": {"type": "string", "contentMediaType": "text/csv",
                                "pattern": r"^(question|问题),(answer|答案)(,(source|来源))?\r?\n[^\x00]*$"}}}}}}},
)
async def import_faq(request: Request, kb: KbDep, settings: SettingsDep) -> ImportResult:
    faq = _faq(kb.engine)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type",
                       'send multipart/form-data with a .csv or .xlsx file in field "file"')
    form = await request.form()
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        data, name = await upload.read(), upload.filename or "upload"
    elif isinstance(upload, str) and upload:  # a part without a file name arrives as text
        data, name = upload.encode("utf-8"), "upload.csv"
    else:
        raise ApiError(422, "validation_error", 'file: a .csv or .xlsx file is required in field "file"')
    try:
        rows = await run_in_threadpool(read_table, data, name, faq_import_limits(settings))
    except FaqTooLarge as exc:
        raise ApiError(413, "payload_too_large", f"file: {exc}") from exc
    except FaqError as exc:
        raise ApiError(422, "validation_error", f"file: {exc}") from exc
    good: list[tuple[str, str, str]] = []
    skipped: list[Skipped] = []
    for number, row in rows:
        try:
            good.append(check(row["question"], row["answer"], row["source"], f"row {number}"))
        except FaqError as exc:
            skipped.append(Skipped(row=number, reason=str(exc)))
    if good:
        def store() -> None:
            with _curating(kb):
                faq.store.add_many(good)
                faq.reload()

        await run_in_threadpool(store)
    return ImportResult(imported=len(good), skipped=skipped)
