"""Reports from Word, Markdown and web pages through the real server: answers cite the stored
text, and each report's original file is served with its content type."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import REPORTS_DIR
from tests.indexer.documents import blank_pdf, to_docx, to_markdown, write_mixed_corpus
from tests.kb import KbDirs
from tests.kb.conftest import AUTH, MAX_FILE, launch, wait_ready

REPORTS = sorted(REPORTS_DIR.glob("*.txt"))
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def mixed_server(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[tuple[str, KbDirs]]:  # type: ignore[no-untyped-def]
    from indexer.backends.local.build import build_index

    root = tmp_path_factory.mktemp("mixed-server")
    corpus = root / "corpus"
    write_mixed_corpus(corpus, REPORTS)
    dirs = KbDirs(root, corpus, root / "index")
    build_index(corpus, dirs.index, embedder)
    # per-format limits small enough to test (text and file bytes: tests/kb/conftest.py)
    server = launch(dirs, root, ZHIWEN_MAX_PDF_PAGES="2", ZHIWEN_MAX_IMAGE_PIXELS="1000000")
    try:
        wait_ready(server)
        yield server.url, dirs
    finally:
        server.stop()


def test_an_answer_from_a_word_report_cites_its_stored_text(mixed_server: tuple[str, KbDirs]) -> None:
    url, _dirs = mixed_server
    with httpx.Client(base_url=url, timeout=120) as client:
        body = client.post("/v1/ask", json={"question": "九水街道共有多少处安全隐患被整改？"}).json()
        assert body["answerable"] and "172处" in body["answer"], body
        for c in body["citations"]:
            text = client.get(f"/v1/documents/{c['doc_id']}").json()["text"]
            assert text[c["start"] : c["end"]] == c["quote"]
            assert c["page"] is None  # Word has no fixed pages
        assert body["citations"][0]["doc_id"] == REPORTS[0].stem


@pytest.mark.parametrize(
    ("index", "suffix", "media"),
    [(0, ".docx", DOCX), (1, ".md", "text/markdown"), (2, ".html", "text/html"), (3, ".txt", "text/plain")],
)
def test_the_original_file_is_served_with_its_type(mixed_server: tuple[str, KbDirs], index: int, suffix: str,
                                                   media: str) -> None:
    url, dirs = mixed_server
    doc_id = REPORTS[index].stem
    response = httpx.get(f"{url}/v1/documents/{doc_id}/file", timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert response.content == (dirs.corpus / f"{doc_id}{suffix}").read_bytes()


def test_a_missing_original_is_a_json_404(mixed_server: tuple[str, KbDirs]) -> None:
    url, _dirs = mixed_server
    response = httpx.get(f"{url}/v1/documents/no_such_report/file", timeout=60)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = httpx.get(f"{url}/v1/documents/..%2F..%2Fetc%2Fpasswd/file", timeout=60)
    assert response.status_code in (404, 422) and "error" in response.json()


def test_a_word_file_is_uploaded_replaced_by_markdown_and_deleted(mixed_server: tuple[str, KbDirs]) -> None:
    """The write endpoints take report files in any format, told by their bytes; replacing a
    report with another format swaps the stored file."""
    url, dirs = mixed_server
    source = REPORTS[4]  # 004 holds two reports; stored under a new id it is new text to find
    with httpx.Client(base_url=url, timeout=300, headers=AUTH) as client:
        created = client.post("/v1/documents", files={"file": ("kb-word.docx", to_docx(REPORTS[0]))})
        assert created.status_code == 201, created.text
        assert created.json()["source"] == "kb-word.docx" and created.json()["action"] == "created"
        assert (dirs.corpus / "kb-word.docx").is_file()
        assert client.get("/v1/documents/kb-word").json()["metadata"]["format"] == "docx"

        replaced = client.put("/v1/documents/kb-word",
                              files={"file": ("anything.md", to_markdown(source).encode("utf-8"))})
        assert replaced.status_code == 200, replaced.text
        body = replaced.json()
        assert body["action"] == "replaced" and body["source"] == "kb-word.md", body
        assert not (dirs.corpus / "kb-word.docx").exists() and (dirs.corpus / "kb-word.md").is_file()
        ids = {d["doc_id"] for d in client.get("/v1/documents").json()["documents"]}
        assert {"kb-word-1", "kb-word-2"} <= ids and "kb-word" not in ids

        refused = client.post("/v1/documents", files={"file": ("x.docx", to_docx(REPORTS[0])), "title": (None, "T")})
        assert refused.status_code == 422 and "title" in refused.text

        deleted = client.delete("/v1/documents/kb-word")
        assert deleted.status_code == 200, deleted.text
        assert not (dirs.corpus / "kb-word.md").exists()
        ids = {d["doc_id"] for d in client.get("/v1/documents").json()["documents"]}
        assert not any(i.startswith("kb-word") for i in ids)


def _png(width: int, height: int, noise: bool = False) -> bytes:
    import io
    import os

    from PIL import Image

    image = (Image.frombytes("L", (width, height), os.urandom(width * height)) if noise
             else Image.new("L", (width, height), 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# name -> (file name, bytes, words of the 413 message); limits set by the mixed_server fixture
OVER_LIMIT = {
    "pages": ("long.pdf", lambda: blank_pdf(3), "long.pdf: 3 pages, more than the limit of 2"),
    "pixels": ("wide.png", lambda: _png(1200, 1000), "wide.png: image too large: 1200×1000 pixels, "
                                                      "limit 1,000,000 pixels"),
    "bytes": ("heavy.png", lambda: _png(540, 540, noise=True),
              f"heavy.png: 2\\d\\d,\\d\\d\\d bytes, over the limit of {MAX_FILE:,} bytes for images"),
}


@pytest.mark.parametrize("case", sorted(OVER_LIMIT))
def test_uploads_over_a_format_limit_are_413_and_change_nothing(
        mixed_server: tuple[str, KbDirs], case: str) -> None:
    """Pages, pixels and bytes are limited per format (ZHIWEN_MAX_PDF_PAGES, _IMAGE_PIXELS,
    _FILE_BYTES); an upload over one is refused naming the file and the limit."""
    import re

    url, dirs = mixed_server
    name, make, words = OVER_LIMIT[case]
    before = sorted(p.name for p in dirs.corpus.iterdir())
    with httpx.Client(base_url=url, timeout=300, headers=AUTH) as client:
        ids = client.get("/v1/documents").json()["documents"]
        r = client.post("/v1/documents", files={"file": (name, make())})
        assert r.status_code == 413, r.text
        error = r.json()["error"]
        assert error["code"] == "payload_too_large" and re.search(words, error["message"]), error
        assert client.get("/v1/documents").json()["documents"] == ids
    assert sorted(p.name for p in dirs.corpus.iterdir()) == before
