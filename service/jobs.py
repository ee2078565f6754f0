"""Ingestion jobs: an upload run in the background, its progress readable while it runs.

``POST``/``PUT /v1/documents`` with ``Prefer: respond-async`` answer 202 at once with a job;
``GET /v1/jobs/{id}`` says its state (queued, running, done, failed), its stage (read, ocr,
chunk, embed, publish: :mod:`embeddings.progress`) with counts, and, when done, the change made
(the body the synchronous call would have answered) or, when failed, the error code and message.

Each job is a small JSON file in ``ZHIWEN_JOBS_DIR``, written atomically on every change of state
and at most every half second while it runs, so a job survives a restart of the server as a
record: one that was queued or running when the process stopped is resolved when next read —
``done`` if the index's recovery (the journal) finished its change, so the report's stored file
is the uploaded bytes, else ``failed`` with code ``interrupted``. A change is applied whole or not
at all (the live index's journal), never half.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.progress import Progress, reporting

log = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{32}$")
_WRITE_EVERY_S = 0.5
FINISHED = ("done", "failed")


@dataclass(frozen=True)
class Job:
    """One upload's job, as stored and as ``GET /v1/jobs/{id}`` shows it."""

    id: str
    kb: str
    doc_id: str
    file_name: str
    sha256: str  # of the bytes stored for the report: how a restart tells whether it was applied
    state: str = "queued"  # queued | running | done | failed
    stage: str = ""  # read | ocr | chunk | embed | publish
    done: int = 0
    total: int = 0
    code: str | None = None  # a failed job's error code (the API's codes, plus ``interrupted``)
    message: str = ""
    status: int | None = None  # the HTTP status the synchronous call would have answered
    created: float = 0.0
    finished: float | None = None
    result: Mapping[str, Any] | None = None


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class JobStore:
    """Jobs of this server, in memory while they run and on disk for good."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._jobs: dict[str, Job] = {}  # the jobs this process runs or ran
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def _write(self, job: Job) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".job-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(dataclasses.asdict(job), f, ensure_ascii=False)
            os.replace(tmp, self._path(job.id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._written[job.id] = time.monotonic()

    def _set(self, job_id: str, *, force: bool = False, **fields: Any) -> Job:
        with self._lock:
            job = dataclasses.replace(self._jobs[job_id], **fields)
            self._jobs[job_id] = job
            if force or time.monotonic() - self._written.get(job_id, 0.0) >= _WRITE_EVERY_S:
                try:
                    self._write(job)
                except OSError as exc:  # the record lags; the job itself goes on
                    log.warning("job %s: cannot write its record: %s", job_id, exc)
            return job

    def start(
        self, *, kb: str, doc_id: str, file_name: str, data: bytes,
        work: Callable[[], tuple[int, Mapping[str, Any]]],
        failure: Callable[[Exception], tuple[int, str, str]],
    ) -> Job:
        """Run ``work`` (it applies the change; returns the status and body of the synchronous
        answer) in a thread; its
        progress goes to the job. ``failure`` turns an exception into (status, code, message)."""
        job = Job(uuid.uuid4().hex, kb, doc_id, file_name, digest(data), created=time.time())
        with self._lock:
            self._jobs[job.id] = job
            self._write(job)

        def on_progress(p: Progress) -> None:
            self._set(job.id, stage=p.stage, done=p.done, total=p.total)

        def run() -> None:
            self._set(job.id, state="running", stage="read", force=True)
            try:
                with reporting(on_progress):
                    status, body = work()
            except Exception as exc:  # every failure is the job's, reported by its code
                status, code, message = failure(exc)
                self._set(job.id, state="failed", status=status, code=code, message=message,
                          finished=time.time(), force=True)
                return
            self._set(job.id, state="done", status=status, result=dict(body),
                      stage="publish", finished=time.time(), force=True)

        threading.Thread(target=run, name=f"job-{job.id[:8]}", daemon=True).start()
        return job

    def get(self, job_id: str, applied: Callable[[Job], bool]) -> Job | None:
        """Job ``job_id``, or None. One left queued or running by an earlier process is resolved
        now: ``done`` when ``applied`` (its report's stored file holds its bytes), else
        ``failed`` (``interrupted``)."""
        if not _ID.match(job_id):
            return None
        with self._lock:
            if job_id in self._jobs:
                return self._jobs[job_id]
        try:
            data = json.loads(self._path(job_id).read_text(encoding="utf-8"))
            job = Job(**data)
        except (OSError, ValueError, TypeError):
            return None
        if job.state not in FINISHED:
            if applied(job):
                job = dataclasses.replace(job, state="done", stage="publish", finished=time.time(),
                                          message="finished by the index's recovery after a restart")
            else:
                job = dataclasses.replace(job, state="failed", code="interrupted", finished=time.time(),
                                          message="the server stopped before this upload was applied; "
                                                  "nothing of it is in the index: upload it again")
            with self._lock:
                try:
                    self._write(job)
                except OSError as exc:
                    log.warning("job %s: cannot write its record: %s", job_id, exc)
        return job
