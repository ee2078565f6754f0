"""Upload jobs through the real server: ``Prefer: respond-async`` answers 202 with a job that
``GET /v1/jobs/{id}`` follows through its stages to the change the synchronous call would have
made; a failed job carries the synchronous error's status and code; after a restart a job left
running reads ``done`` when the index's recovery applied it and ``failed`` (``interrupted``)
when nothing of it was applied."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.indexer.documents import to_docx
from tests.kb import KbDirs, make_kb
from tests.kb.conftest import AUTH, launch, wait_ready
from tests.service.conftest import Server

ASYNC = {**AUTH, "Prefer": "respond-async"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
REPORT = "清溪街道开展夜间巡逻\n\n今年以来，清溪街道组建夜间巡逻队9支，累计巡逻1200小时，排查隐患86处。\n"


def wait_job(client: httpx.Client, location: str) -> dict[str, Any]:
    stages = []
    for _ in range(600):  # 600 × 0.2 s: a stuck job fails the test, never hangs it
        body: dict[str, Any] = client.get(location, headers=AUTH).json()
        stages.append(body["stage"])
        if body["state"] in ("done", "failed"):
            body["seen_stages"] = stages
            return body
        time.sleep(0.2)
    raise AssertionError(f"job {location} did not finish: {stages[-5:]}")


@pytest.fixture(scope="module")
def server(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, KbDirs, Path]]:
    root = tmp_path_factory.mktemp("jobs")
    dirs = make_kb(index_dir, root / "kb")
    jobs = root / "jobs"
    server = launch(dirs, root, ZHIWEN_JOBS_DIR=str(jobs))
    try:
        wait_ready(server)
        yield server, dirs, jobs
    finally:
        server.stop()


def test_an_upload_job_runs_through_its_stages_to_the_change(
    server: tuple[Server, KbDirs, Path], tmp_path: Path
) -> None:
    srv, _dirs, _jobs = server
    source = tmp_path / "清溪街道夜间巡逻.txt"
    source.write_text(REPORT, encoding="utf-8")
    with httpx.Client(base_url=srv.url, timeout=120) as client:
        started = client.post("/v1/documents", headers=ASYNC,
                              files={"file": ("清溪街道夜间巡逻.docx", to_docx(source), DOCX)})
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert location == f"/v1/jobs/{started.json()['job_id']}"
        assert started.json()["doc_id"] == "清溪街道夜间巡逻" and started.json()["state"] in ("queued", "running")
        job = wait_job(client, location)
        assert job["state"] == "done" and job["status"] == 201, job
        assert job["result"]["action"] == "created" and job["result"]["doc_id"] == "清溪街道夜间巡逻"
        assert set(job["seen_stages"]) <= {"", "read", "chunk", "embed", "publish"}
        answer = client.post("/v1/ask", json={"question": "清溪街道组建了多少支夜间巡逻队？"}).json()
        assert "9支" in answer["answer"], answer

        # the same name again, as a new report: the job fails as POST would (409 document_exists)
        again = client.post("/v1/documents", headers=ASYNC,
                            files={"file": ("清溪街道夜间巡逻.docx", to_docx(source), DOCX)})
        failed = wait_job(client, again.headers["location"])
        assert failed["state"] == "failed" and failed["status"] == 409 and failed["code"] == "document_exists"

        # a broken Word file: read inside the job, failed with the reader's 415
        broken = client.post("/v1/documents", headers=ASYNC,
                             files={"file": ("坏文件.docx", b"PK\x03\x04broken", DOCX)})
        bad = wait_job(client, broken.headers["location"])
        assert bad["state"] == "failed" and bad["code"] == "unsupported_media_type", bad

        # without waiting for a job (no Prefer), the call answers as before
        source.write_text(REPORT.replace("9支", "11支"), encoding="utf-8")
        put = client.put("/v1/documents/清溪街道夜间巡逻", headers=AUTH,
                         files={"file": ("清溪街道夜间巡逻.docx", to_docx(source), DOCX)})
        assert put.status_code == 200 and put.json()["action"] == "replaced"


def test_jobs_need_a_key_and_an_unknown_one_is_404(server: tuple[Server, KbDirs, Path]) -> None:
    srv, _dirs, _jobs = server
    assert httpx.get(f"{srv.url}/v1/jobs/{uuid.uuid4().hex}", timeout=30).status_code == 401
    missing = httpx.get(f"{srv.url}/v1/jobs/{uuid.uuid4().hex}", headers=AUTH, timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{srv.url}/v1/jobs/..%2f..%2fetc", headers=AUTH, timeout=30).status_code == 404


def _left_running(jobs: Path, file_name: str, data: bytes) -> str:
    """A job record as a server that stopped mid-upload leaves it."""
    import hashlib

    job_id = uuid.uuid4().hex
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / f"{job_id}.json").write_text(json.dumps({
        "id": job_id, "kb": "default", "doc_id": file_name.rsplit(".", 1)[0], "file_name": file_name,
        "sha256": hashlib.sha256(data).hexdigest(), "state": "running", "stage": "embed", "done": 64,
        "total": 300, "code": None, "message": "", "status": None, "created": time.time(),
        "finished": None, "result": None,
    }), encoding="utf-8")
    return job_id


def test_after_a_restart_a_job_left_running_is_done_or_failed_never_half(
    index_dir: Path, tmp_path: Path
) -> None:
    dirs = make_kb(index_dir, tmp_path / "kb")
    jobs = tmp_path / "jobs"
    stored = sorted(dirs.corpus.glob("*.txt"))[0]
    # one whose change the journal finished (its file holds the job's bytes), one never applied
    applied = _left_running(jobs, stored.name, stored.read_bytes())
    lost = _left_running(jobs, "从未收录的报告.docx", b"never stored")
    server = launch(dirs, tmp_path, ZHIWEN_JOBS_DIR=str(jobs))
    try:
        wait_ready(server)
        with httpx.Client(base_url=server.url, timeout=60, headers=AUTH) as client:
            done = client.get(f"/v1/jobs/{applied}").json()
            assert done["state"] == "done", done
            failed = client.get(f"/v1/jobs/{lost}").json()
            assert failed["state"] == "failed" and failed["code"] == "interrupted", failed
            assert client.get("/v1/documents/从未收录的报告").status_code == 404
            # resolved once, for good: the record on disk says so too
            assert json.loads((jobs / f"{lost}.json").read_text(encoding="utf-8"))["state"] == "failed"
    finally:
        server.stop()
