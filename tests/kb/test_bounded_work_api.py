"""Work that blocks others (issue 36), through a real server: the XLSX row bomb is refused while
/healthz keeps answering (the import is read off the event loop), and uploads over an OCR or
paragraph budget are refused early — the message tells how far reading got — after which a write
to the same knowledge base goes through (the writer was released)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bombs import many_paragraphs_docx, pictures_pdf, xlsx_bomb
from tests.indexer.documents import blank_pdf
from tests.kb import ELDERLY_QUESTION, ELDERLY_V1, make_kb
from tests.kb.conftest import AUTH, KbServer, launch, wait_ready

BOMB_ROWS = 600_000
# The server reads up to this many rows (the default is 5,000), so that refusing the bomb takes
# long enough — seconds — for requests to arrive while it is read.
IMPORT_ROWS = 200_000


@pytest.fixture(scope="module")
def bounded_server(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KbServer]:
    tmp = tmp_path_factory.mktemp("bounded-server")
    dirs = make_kb(index_dir, tmp / "kb")
    server = launch(dirs, tmp, ZHIWEN_FAQ_IMPORT_MAX_ROWS=str(IMPORT_ROWS),
                    ZHIWEN_FAQ_IMPORT_MAX_CELLS=str(10 * IMPORT_ROWS),
                    ZHIWEN_FAQ_IMPORT_MAX_UNZIPPED_BYTES=str(200_000_000))
    try:
        wait_ready(server)
        yield KbServer(server.url, dirs, server)
    finally:
        server.stop()


def test_the_xlsx_bomb_is_refused_and_healthz_answers_while_it_is_read(bounded_server: KbServer) -> None:
    bomb = xlsx_bomb(BOMB_ROWS)
    assert len(bomb) < 300_000
    outcome: dict[str, httpx.Response] = {}
    finished = threading.Event()

    def upload() -> None:
        try:
            with bounded_server.client() as client:
                outcome["import"] = client.post("/v1/faq/import", headers=AUTH,
                                                files={"file": ("bomb.xlsx", bomb)})
        finally:
            finished.set()

    importer = threading.Thread(target=upload, daemon=True)
    answered_meanwhile = 0
    with httpx.Client(base_url=bounded_server.url, timeout=30) as client:
        importer.start()
        while not finished.is_set():
            health = client.get("/healthz")
            assert health.status_code == 200
            if not finished.is_set():  # answered before the import's answer came
                answered_meanwhile += 1
    importer.join(timeout=60)
    assert not importer.is_alive()

    response = outcome["import"]
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["message"] == (f"file: bomb.xlsx: more than {IMPORT_ROWS:,} rows (reading stopped at row "
                                f"{IMPORT_ROWS + 2:,}; at most {IMPORT_ROWS:,} in one import: max_rows)")
    # on the event loop, no health check would be answered between the upload and its refusal
    assert answered_meanwhile >= 3, answered_meanwhile
    with bounded_server.client() as client:
        assert client.get("/v1/faq").json()["items"] == []  # nothing of the refused file was stored


@pytest.mark.parametrize(("name", "make", "status", "message"), [
    ("blank.pdf", lambda: blank_pdf(500), 413,
     "blank.pdf: 500 of its 500 pages have no text layer, more than the limit of 50 pages read by OCR "
     "(max_ocr_pages)"),
    ("frames.pdf", lambda: pictures_pdf(20), 415,
     "frames.pdf: no text on pages 1–5: 5 pages in a row without a text layer where OCR found nothing "
     "(max_blank_pages); refused after reading 5 of 20 pages by OCR"),
    ("long.docx", lambda: many_paragraphs_docx(10_000), 413,
     "long.docx: more than 5,000 paragraphs and table rows (max_docx_paragraphs): refused on counting "
     "5,001, before reading any"),
])
def test_an_upload_over_a_budget_is_refused_early_and_the_next_write_goes_through(
        bounded_server: KbServer, name: str, make: object, status: int, message: str) -> None:
    data = make()  # type: ignore[operator]
    with bounded_server.client() as client:
        before = client.get("/v1/documents").json()["documents"]
        refused = client.post("/v1/documents", headers=AUTH, files={"file": (name, data)})
        assert refused.status_code == status, refused.text
        assert refused.json()["error"]["message"] == message
        assert client.get("/v1/documents").json()["documents"] == before

        written = client.post("/v1/documents", headers=AUTH, json={"doc_id": "after-refusal", "text": ELDERLY_V1})
        assert written.status_code == 201, written.text
        try:
            answer = client.post("/v1/ask", json={"question": ELDERLY_QUESTION}).json()
            assert any(c["doc_id"] == "after-refusal" for c in answer["citations"]), answer
        finally:
            assert client.delete("/v1/documents/after-refusal", headers=AUTH).status_code == 200
