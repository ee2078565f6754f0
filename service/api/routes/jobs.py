"""``GET /v1/jobs/{job_id}``: an upload job's state, stage and progress (:mod:`service.jobs`).

Jobs are started by ``POST``/``PUT /v1/documents`` with ``Prefer: respond-async``. Reading one
needs a write key, like the upload that made it (its record names a report and a file).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from service.api.auth import WriteKey
from service.api.errors import ApiError, error_responses
from service.jobs import Job, digest

router = APIRouter(prefix="/v1", tags=["documents"])


class JobStatus(BaseModel):
    """Where an upload job is."""

    job_id: str
    state: Literal["queued", "running", "done", "failed"]
    stage: str = Field(description="read, ocr, chunk, embed or publish (empty before it starts).")
    done: int = Field(description="Units of the stage done: pages for ocr, texts for embed.")
    total: int = Field(description="Units of the stage in all (0 when the stage is not counted).")
    kb: str
    doc_id: str
    file_name: str
    status: int | None = Field(description="The HTTP status the synchronous call would have answered.")
    code: str | None = Field(description="A failed job's error code (`interrupted`: the server stopped).")
    message: str
    created: float
    finished: float | None
    result: dict[str, Any] | None = Field(description="A done job's change (the body of POST/PUT).")


def job_body(job: Job) -> dict[str, Any]:
    return JobStatus(job_id=job.id, state=job.state, stage=job.stage, done=job.done,  # type: ignore[arg-type]
                     total=job.total, kb=job.kb, doc_id=job.doc_id, file_name=job.file_name,
                     status=job.status, code=job.code, message=job.message, created=job.created,
                     finished=job.finished, result=dict(job.result) if job.result else None
                     ).model_dump(mode="json")


@router.get(
    "/jobs/{job_id}",
    summary="An upload job",
    description="State, stage (read, ocr, chunk, embed, publish) with counts, and when done the "
    "change made. A job the server was running when it stopped reads `done` if the index's "
    "recovery applied it, else `failed` with code `interrupted`. Needs an API key.",
    response_model=JobStatus,
    responses=error_responses(401, 403, 404),
    dependencies=[WriteKey],
)
async def get_job(request: Request, job_id: str = Path(max_length=64)) -> dict[str, Any]:
    state = request.app.state.zhiwen

    def applied(job: Job) -> bool:
        """Whether the stored file of the job's report holds its bytes (the change was made)."""
        kbs = state.kbs
        kb = kbs.get(job.kb) if kbs is not None else None
        folder = kb.corpus_dir if kb is not None else None
        if folder is None:
            return False
        try:
            return digest((folder / job.file_name).read_bytes()) == job.sha256
        except OSError:
            return False

    job = state.jobs.get(job_id, applied) if state.jobs is not None else None
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id[:64]!r}")
    return job_body(job)
