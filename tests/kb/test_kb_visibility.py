"""What a scoped key sees of the knowledge bases it may not read (issue 36): ``GET /v1/kbs`` lists
only those it may read, ``?kb=`` notwithstanding, and ``/metrics`` (the default knowledge base's
counts) needs read access to ``default``. The real app and lifespan, in-process, with the
session's model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.kb import API_KEY, make_kb
from tests.kb.conftest import AUTH, RunApp

pytestmark = pytest.mark.timeout(600)

READ_ALPHA = "scoped-read-alpha-4e1a"
READ_DEFAULT = "scoped-read-default-90bd"
ALPHA = {"doc_id": "tide-station", "text": "海泊河口新设的潮汐观测站由韩晓梅站长负责，每天记录两次潮位。"}


def _keys_file(path: Path) -> Path:
    def entry(key: str, read: str) -> str:
        return f'[[key]]\nsha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\nread = ["{read}"]\n'

    path.write_text(entry(READ_ALPHA, "alpha") + entry(READ_DEFAULT, "default"), encoding="utf-8")
    return path


def _settings(tmp: Path, reads_required: bool) -> dict[str, Any]:
    return {"kbs_dir": tmp / "kbs", "keys_file": _keys_file(tmp / "keys.toml"), "faq_db": tmp / "faq.sqlite3",
            "feedback_db": tmp / "feedback.sqlite3", "read_api_keys_required": reads_required}


def _names(client: Any, key: str | None = None, query: str = "") -> list[str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.get(f"/v1/kbs{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [k["name"] for k in response.json()["kbs"]]


def test_with_read_keys_a_scoped_key_sees_only_its_knowledge_bases(
    run_app: RunApp, index_dir: Path, tmp_path: Path
) -> None:
    dirs = make_kb(index_dir, tmp_path / "kb")
    with run_app(dirs, **_settings(tmp_path, reads_required=True)) as (client, ready):
        assert ready.status_code == 200, ready.text
        assert client.post("/v1/kbs/alpha", json=ALPHA, headers=AUTH).status_code == 201
        assert client.post("/v1/kbs/beta", json=ALPHA, headers=AUTH).status_code == 201

        assert _names(client, READ_ALPHA) == ["alpha"]
        assert _names(client, READ_ALPHA, "?kb=alpha") == ["alpha"]  # the finding: ?kb= listed all
        assert _names(client, READ_DEFAULT) == ["default"]
        assert _names(client, API_KEY) == ["default", "alpha", "beta"]  # a global key
        assert client.get("/v1/kbs").status_code == 401
        assert client.get("/v1/kbs", headers={"Authorization": "Bearer nope"}).status_code == 403

        # /metrics holds default's counts: a key that may not read default gets none of it
        for query in ("", "?kb=alpha"):
            refused = client.get(f"/metrics{query}", headers={"Authorization": f"Bearer {READ_ALPHA}"})
            assert refused.status_code == 403, refused.text
            assert "default" in refused.json()["error"]["message"]
        shown = client.get("/metrics", headers={"Authorization": f"Bearer {READ_DEFAULT}"})
        assert shown.status_code == 200 and "zhiwen_index_documents 6.0" in shown.text
        assert client.get("/metrics", headers=AUTH).status_code == 200


def test_with_reads_open_a_scoped_key_still_lists_only_its_own(
    run_app: RunApp, index_dir: Path, tmp_path: Path
) -> None:
    """Reads open: anyone may read every knowledge base, so a caller without a key lists them all
    (and reads /metrics); a request that presents a scoped key lists only its own."""
    dirs = make_kb(index_dir, tmp_path / "kb")
    with run_app(dirs, **_settings(tmp_path, reads_required=False)) as (client, ready):
        assert ready.status_code == 200, ready.text
        assert client.post("/v1/kbs/alpha", json=ALPHA, headers=AUTH).status_code == 201
        assert _names(client) == ["default", "alpha"]
        assert _names(client, READ_ALPHA) == ["alpha"]
        assert _names(client, "nope") == ["default", "alpha"]  # not a key: as no key, while reads are open
        assert client.get("/metrics").status_code == 200
