"""The write endpoints and GET /v1/index over a real server and a real index (a copy of
data/reports): add, update and delete a report and see answers follow; every refusal has its
documented status and leaves the corpus and the index untouched."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb import (
    API_KEY,
    ELDERLY_NEW_FACT,
    ELDERLY_OLD_FACT,
    ELDERLY_QUESTION,
    ELDERLY_V1,
    ELDERLY_V2,
    RECYCLING,
    RECYCLING_QUESTION,
    KbDirs,
    make_kb,
)
from tests.kb.conftest import AUTH, MAX_UPLOAD, KbServer, RunApp

DOC = "kb-elderly"


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


def ask(client: httpx.Client, question: str) -> dict[str, Any]:
    r = client.post("/v1/ask", json={"question": question})
    assert r.status_code == 200, r.text
    return dict(r.json())


def version(client: httpx.Client) -> str:
    r = client.get("/v1/index")
    assert r.status_code == 200, r.text
    return str(r.json()["version"])


def test_index_status(kb_client: httpx.Client, kb_server: KbServer) -> None:
    body = kb_client.get("/v1/index").json()
    assert body["model"] == "m3e-small" and body["dim"] == 512
    assert body["reports"] == 6 and body["sources"] == 5 and body["chunks"] > 50
    assert body["version"] == kb_server.dirs.live_snapshot()
    assert body["pending_changes"] == 0 and body["writes_enabled"] is True
    assert body["updated_at"]


def test_add_update_delete_a_report(kb_client: httpx.Client, kb_server: KbServer) -> None:
    dirs = kb_server.dirs
    start = kb_client.get("/v1/index").json()
    assert not ask(kb_client, ELDERLY_QUESTION)["answerable"]

    # add (JSON): searchable when the response arrives
    r = kb_client.post("/v1/documents", json={"doc_id": DOC, "text": ELDERLY_V1}, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/documents/{DOC}"
    added = r.json()
    assert added["action"] == "created" and added["source"] == f"{DOC}.txt"
    assert added["reports"] == {"added": [DOC], "updated": [], "removed": []}
    assert added["chunks"]["added"] >= 1 and added["chunks"]["removed"] == 0
    assert added["chunks"]["embedded"] >= added["chunks"]["added"]  # chunks and their sentences
    assert added["chunks"]["reused"] == start["chunks"]
    assert added["index"]["version"] != start["version"]
    assert added["index"]["reports"] == start["reports"] + 1
    assert added["index"]["version"] == version(kb_client) == dirs.live_snapshot()
    assert (dirs.corpus / f"{DOC}.txt").read_text(encoding="utf-8") == ELDERLY_V1

    answer = ask(kb_client, ELDERLY_QUESTION)
    assert answer["answerable"], answer
    cited = [c for c in answer["citations"] if c["doc_id"] == DOC]
    assert cited and any(ELDERLY_OLD_FACT in c["quote"] for c in cited)
    text = kb_client.get(f"/v1/documents/{DOC}").json()["text"]
    assert all(text[c["start"] : c["end"]] == c["quote"] for c in cited)

    # update (multipart upload in GBK): the old text is no longer cited
    r = kb_client.put(
        f"/v1/documents/{DOC}",
        files={"file": (f"{DOC}.txt", ELDERLY_V2.encode("gbk"), "text/plain")},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["action"] == "replaced"
    assert replaced["reports"] == {"added": [], "updated": [DOC], "removed": []}
    assert replaced["chunks"]["removed"] == added["chunks"]["added"]
    answer = ask(kb_client, ELDERLY_QUESTION)
    assert answer["answerable"]
    quotes = [c["quote"] for c in answer["citations"]]
    assert any(ELDERLY_NEW_FACT in q for q in quotes), quotes
    assert not any(ELDERLY_OLD_FACT in q for q in quotes), quotes
    assert not any(ELDERLY_OLD_FACT in p["text"] for p in answer["passages"])
    assert ELDERLY_OLD_FACT not in kb_client.get(f"/v1/documents/{DOC}").json()["text"]

    # delete: the question is refused again
    r = kb_client.delete(f"/v1/documents/{DOC}", headers=AUTH)
    assert r.status_code == 200, r.text
    deleted = r.json()
    assert deleted["action"] == "deleted"
    assert deleted["reports"] == {"added": [], "updated": [], "removed": [DOC]}
    assert deleted["index"]["reports"] == start["reports"]
    answer = ask(kb_client, ELDERLY_QUESTION)
    assert not answer["answerable"], answer
    assert all(c["doc_id"] != DOC for c in answer["citations"])
    assert all(p["doc_id"] != DOC for p in answer["passages"])
    assert kb_client.get(f"/v1/documents/{DOC}").status_code == 404
    assert not (dirs.corpus / f"{DOC}.txt").exists()
    status = kb_client.get("/v1/index").json()
    assert status["chunks"] == start["chunks"] and status["reports"] == start["reports"]


def test_upload_without_doc_id_is_named_after_the_file(kb_client: httpx.Client) -> None:
    r = kb_client.post(
        "/v1/documents", files={"file": ("kb-recycling.txt", RECYCLING.encode())}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    try:
        assert r.json()["doc_id"] == "kb-recycling"
        assert ask(kb_client, RECYCLING_QUESTION)["citations"][0]["doc_id"] == "kb-recycling"
        # adding it again is a conflict, not a silent overwrite
        again = kb_client.post(
            "/v1/documents", json={"doc_id": "kb-recycling", "text": RECYCLING}, headers=AUTH
        )
        assert "PUT /v1/documents/kb-recycling" in error_of(again, 409, "document_exists")
    finally:
        assert kb_client.delete("/v1/documents/kb-recycling", headers=AUTH).status_code == 200


def _chunked(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 8192):
        yield data[i : i + 8192]


# just over the limit: the server answers before reading it all, so keep it small enough
# for the socket buffers (the client is still sending when the answer comes)
BIG = b"x" * (MAX_UPLOAD + 1024)
# case -> (method, path, request kwargs, status, code, words in the message)
REFUSALS: dict[str, tuple[str, str, dict[str, Any], int, str, str]] = {
    "no key": ("POST", "/v1/documents", {"json": {"doc_id": "kb-x", "text": ELDERLY_V1}},
               401, "unauthorized", "Authorization: Bearer"),
    "wrong key": ("POST", "/v1/documents",
                  {"json": {"doc_id": "kb-x", "text": ELDERLY_V1},
                   "headers": {"Authorization": "Bearer not-the-key"}},
                  403, "forbidden", "not valid"),
    "delete without key": ("DELETE", "/v1/documents/000_cfe86b6ecbc402ed", {},
                           401, "unauthorized", "API key"),
    "delete with wrong X-API-Key": ("DELETE", "/v1/documents/000_cfe86b6ecbc402ed",
                                    {"headers": {"X-API-Key": API_KEY + "x"}},
                                    403, "forbidden", "not valid"),
    "oversized json": ("POST", "/v1/documents",
                       {"json": {"doc_id": "kb-x", "text": "x" * (MAX_UPLOAD + 1024)}, "auth": True},
                       413, "payload_too_large", f"over the limit of {MAX_UPLOAD:,} bytes for text files"),
    "oversized chunked body": ("PUT", "/v1/documents/kb-x",
                               {"content": _chunked(b'{"text": "' + BIG + b'"}'), "auth": True,
                                "headers": {"Content-Type": "application/json"}},
                               413, "payload_too_large", f"over the limit of {MAX_UPLOAD:,} bytes for text files"),
    "oversized upload": ("POST", "/v1/documents",
                         {"files": {"file": ("kb-x.txt", BIG)}, "auth": True},
                         413, "payload_too_large", f"over the limit of {MAX_UPLOAD:,} bytes for text files"),
    "binary upload": ("POST", "/v1/documents",
                      {"files": {"file": ("kb-x.txt", bytes(range(256)) * 8)}, "auth": True},
                      415, "unsupported_media_type", "not a text file"),
    "not a report format": ("POST", "/v1/documents",
                            {"files": {"file": ("kb-x.exe", b"MZ\x90\x00 ...")}, "auth": True},
                            415, "unsupported_media_type", "kb-x.exe: not a report format"),
    "a broken Word file": ("POST", "/v1/documents",
                           {"files": {"file": ("kb-x.docx", b"PK\x03\x04 broken")}, "auth": True},
                           415, "unsupported_media_type", "kb-x.docx: not a readable Word document"),
    "unsupported content type": ("POST", "/v1/documents",
                                 {"content": ELDERLY_V1.encode(), "auth": True,
                                  "headers": {"Content-Type": "application/pdf"}},
                                 415, "unsupported_media_type", "application/json"),
    "doc_id ../x": ("POST", "/v1/documents",
                    {"json": {"doc_id": "../x", "text": ELDERLY_V1}, "auth": True},
                    422, "validation_error", "doc_id"),
    "doc_id ../x in a form": ("POST", "/v1/documents",
                              {"files": {"file": ("a.txt", ELDERLY_V1.encode())},
                               "data": {"doc_id": "../x"}, "auth": True},
                              422, "validation_error", "invalid doc_id"),
    "doc_id with a slash in the path": ("PUT", "/v1/documents/..%2Fx",
                                        {"json": {"text": ELDERLY_V1}, "auth": True},
                                        404, "not_found", ""),
    "hidden doc_id in the path": ("PUT", "/v1/documents/.x",
                                  {"json": {"text": ELDERLY_V1}, "auth": True},
                                  422, "validation_error", "invalid doc_id"),
    "empty text": ("POST", "/v1/documents",
                   {"json": {"doc_id": "kb-x", "text": "   \n "}, "auth": True},
                   422, "validation_error", "empty"),
    "unknown field": ("POST", "/v1/documents",
                      {"json": {"doc_id": "kb-x", "text": ELDERLY_V1, "path": "/etc"}, "auth": True},
                      422, "validation_error", "path"),
    "delete unknown": ("DELETE", "/v1/documents/kb-nothing-here", {"auth": True},
                       404, "not_found", "kb-nothing-here"),
    "existing doc_id": ("POST", "/v1/documents",
                        {"json": {"doc_id": "000_cfe86b6ecbc402ed", "text": ELDERLY_V1}, "auth": True},
                        409, "document_exists", "already exists"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_change_nothing(case: str, kb_client: httpx.Client, kb_server: KbServer) -> None:
    method, path, kwargs, status, code, words = REFUSALS[case]
    kwargs = dict(kwargs)
    if kwargs.pop("auth", False):
        kwargs["headers"] = {**AUTH, **kwargs.get("headers", {})}
    dirs = kb_server.dirs
    corpus, before = dirs.corpus_state(), version(kb_client)

    message = error_of(kb_client.request(method, path, **kwargs), status, code)
    assert words in message, message

    assert dirs.corpus_state() == corpus
    assert version(kb_client) == before == dirs.live_snapshot()
    assert not list(dirs.corpus.glob(".*"))


def test_uploads_have_their_own_body_limit(tmp_path: Path) -> None:
    """Report uploads may be as large as the largest per-format limit allows; every other body
    stays within ZHIWEN_MAX_REQUEST_BYTES. Both are refused before the body is read."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from zhiwen.settings import Settings

    settings = Settings(index_dir=tmp_path / "none", corpus_dir=tmp_path, api_keys=[API_KEY],
                        max_request_bytes=4096, max_text_bytes=8192, max_file_bytes=32768)
    assert settings.max_upload_body_bytes == 32768 + 64 * 1024
    client = TestClient(create_app(settings))  # no lifespan: nothing loads
    json_type = {"Content-Type": "application/json"}
    r = client.post("/v1/ask", content=b"x" * 5000, headers=json_type)
    assert "request body over 4096 bytes" in error_of(r, 413, "payload_too_large")
    r = client.post("/v1/documents", content=b"x" * 5000, headers=json_type)  # within: on to auth
    assert r.status_code == 401, r.text
    big = b"x" * (settings.max_upload_body_bytes + 1)
    r = client.put("/v1/documents/x", content=big, headers={**AUTH, **json_type})
    assert f"request body over {settings.max_upload_body_bytes} bytes" in error_of(
        r, 413, "payload_too_large")
    described = client.get("/openapi.json").json()["paths"]["/v1/documents"]["post"]["description"]
    assert "up to 8,192 bytes" in described and "up to 32,768 bytes" in described
    assert list(tmp_path.iterdir()) == []


def test_writes_are_disabled_without_configured_keys(tmp_path: Path) -> None:
    """No model needed: the key check answers before anything is loaded."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from zhiwen.settings import Settings

    app = create_app(Settings(index_dir=tmp_path / "none", corpus_dir=tmp_path, api_keys=[]))
    client = TestClient(app)  # no lifespan: nothing loads
    r = client.post("/v1/documents", json={"text": ELDERLY_V1}, headers=AUTH)
    assert "ZHIWEN_API_KEYS" in error_of(r, 403, "forbidden")
    assert "ZHIWEN_API_KEYS" in error_of(client.delete("/v1/documents/x"), 403, "forbidden")
    assert list(tmp_path.iterdir()) == []


def test_reads_can_require_a_key(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from zhiwen.settings import Settings

    settings = Settings(index_dir=tmp_path / "none", corpus_dir=tmp_path, api_keys=[API_KEY],
                        read_api_keys_required=True)
    client = TestClient(create_app(settings))
    error_of(client.get("/v1/index"), 401, "unauthorized")
    error_of(client.get("/v1/index", headers={"Authorization": "Bearer nope"}), 403, "forbidden")
    # with the key, the request gets past auth (and finds the index still loading)
    assert client.get("/v1/index", headers=AUTH).status_code == 503
    open_client = TestClient(create_app(Settings(index_dir=tmp_path / "none", corpus_dir=tmp_path)))
    assert open_client.get("/v1/index").status_code == 503  # open by default: straight to "not ready"


def test_a_cli_writer_and_the_server_share_the_index(
    kb_client: httpx.Client, kb_server: KbServer, patched_model: Any, tmp_path: Path
) -> None:
    """`zhiwen add` / `remove` while the server runs: same lock, and the server picks up the
    new snapshot by itself."""
    import time

    from zhiwen.cli import main

    dirs: KbDirs = kb_server.dirs
    before = version(kb_client)
    upload = tmp_path / "kb-recycling.txt"
    upload.write_text(RECYCLING, encoding="utf-8")
    common = ["--corpus", str(dirs.corpus), "--index", str(dirs.index)]
    assert main(["add", str(upload), *common]) == 0

    def served_version_changes_from(old: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = version(kb_client)
            if now != old:
                return now
            time.sleep(0.2)
        pytest.fail("the server did not pick up the snapshot written by `zhiwen add`")

    added = served_version_changes_from(before)
    assert added == dirs.live_snapshot()
    assert ask(kb_client, RECYCLING_QUESTION)["citations"][0]["doc_id"] == "kb-recycling"
    assert main(["remove", "kb-recycling", *common]) == 0
    served_version_changes_from(added)
    assert kb_client.get("/v1/documents/kb-recycling").status_code == 404


def test_a_one_line_report_without_a_sentence_mark_is_findable(kb_client: httpx.Client) -> None:
    # one line and no 。: read as the report's title, it used to yield 0 chunks (stored, listed,
    # never found)
    doc, line = "kb-one-line", "星海街道整改隐患三百处"
    r = kb_client.post("/v1/documents", json={"doc_id": doc, "text": line}, headers=AUTH)
    try:
        assert r.status_code == 201, r.text
        assert r.json()["chunks"]["added"] == 1
        found = kb_client.post("/v1/search", json={"query": "星海街道整改隐患", "top_k": 3}).json()["results"]
        assert found and found[0]["doc_id"] == doc and found[0]["text"] == line
    finally:
        kb_client.delete(f"/v1/documents/{doc}", headers=AUTH)


def test_live_writes_change_the_service_corpus_never_the_seed(
    run_app: RunApp, index_dir: Path, tmp_path: Path
) -> None:
    """The bundled reports are seed data: the service copies them to its own corpus folder on
    first start, and deletes and uploads change only that copy (`git status` stays clean)."""
    dirs = make_kb(index_dir, tmp_path / "kb")
    seed = dirs.corpus  # stands in for data/reports: the checkout's files
    before = {p.name: p.read_bytes() for p in seed.iterdir()}
    corpus = tmp_path / "var" / "reports"
    with run_app(dataclasses.replace(dirs, corpus=corpus), seed_dir=seed) as (client, ready):
        assert ready.status_code == 200, ready.text
        assert sorted(p.name for p in corpus.iterdir()) == sorted(before)
        doc_id = sorted(before)[0].removesuffix(".txt")
        assert client.delete(f"/v1/documents/{doc_id}", headers=AUTH).status_code == 200
        r = client.post("/v1/documents", json={"doc_id": "new_one", "text": ELDERLY_V1}, headers=AUTH)
        assert r.status_code == 201, r.text
        assert not (corpus / f"{doc_id}.txt").exists() and (corpus / "new_one.txt").is_file()
    assert {p.name: p.read_bytes() for p in seed.iterdir()} == before


def test_with_read_keys_required_health_says_only_up_or_ready(
    run_app: RunApp, index_dir: Path, tmp_path: Path
) -> None:
    """/readyz without a key must not hand out meta.json (file names, hashes, changed doc ids);
    /metrics needs a key like every read; /healthz stays open for the load balancer."""
    dirs = make_kb(index_dir, tmp_path / "kb")
    with run_app(dirs, read_api_keys_required=True) as (client, ready):
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "model": None, "documents": None, "chunks": None,
                                "index": None}
        assert "sources" not in ready.text and ".txt" not in ready.text
        detailed = client.get("/readyz", headers=AUTH).json()
        assert detailed["documents"] == 6 and detailed["index"]["sources"]
        error_of(client.get("/readyz", headers={"Authorization": "Bearer nope"}), 403, "forbidden")
        assert client.get("/healthz").json() == {"status": "ok"}
        error_of(client.get("/metrics"), 401, "unauthorized")
        metrics = client.get("/metrics", headers=AUTH)
        assert metrics.status_code == 200 and "zhiwen_" in metrics.text


def test_with_read_keys_required_not_ready_says_only_why_with_a_key(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from zhiwen.settings import Settings

    missing = tmp_path / "no-such-index"
    settings = Settings(index_dir=missing, corpus_dir=tmp_path, api_keys=[API_KEY],
                        read_api_keys_required=True)
    with TestClient(create_app(settings)) as client:
        for _ in range(600):
            r = client.get("/readyz", headers=AUTH)
            if r.json()["error"]["code"] != "loading":
                break
            time.sleep(0.1)
        assert str(missing) in error_of(r, 503, "index_unavailable")
        hidden = error_of(client.get("/readyz"), 503, "index_unavailable")
        assert str(missing) not in hidden and "not ready" in hidden
