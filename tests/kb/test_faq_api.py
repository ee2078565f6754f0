"""Curated answers (FAQ, issue 15) through a real server: added, imported (CSV and XLSX), matched
for a paraphrase but not for a question about something else, marked as curated, deleted. The
threshold is the one `zhiwen fit-faq` fitted on held-out paraphrases (eval/data)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kb.conftest import AUTH, KbServer

CURATED = {"question": "九水街道整改了多少处安全隐患？", "answer": "共整改安全隐患172处（九水街道党建特刊）。",
           "source": "000_cfe86b6ecbc402ed"}
PARAPHRASE = "九水街道一共排查整改安全隐患多少处"
OTHER = "九水街道有多少人次接受了安全生产教育？"  # same place and topic, another answer


def test_the_packaged_threshold_is_what_fit_faq_gives_and_holds_out(embedder: Any) -> None:
    from eval.faq import DEFAULT_DATA, fit
    from service.answering.faq import packaged_threshold

    items = [json.loads(line) for line in DEFAULT_DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = fit(items, embedder, seed=0)
    assert result["threshold"] == pytest.approx(packaged_threshold())
    held = result["held_out"]
    assert held["precision"] == 1.0 and held["recall"] >= 0.75, held


def _ask(client: httpx.Client, question: str) -> dict[str, Any]:
    response = client.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_curated_answer_is_given_for_a_paraphrase_and_marked(kb_client: httpx.Client) -> None:
    added = kb_client.post("/v1/faq", json=CURATED, headers=AUTH)
    assert added.status_code == 201, added.text
    faq_id = added.json()["id"]
    try:
        answer = _ask(kb_client, PARAPHRASE)
        assert answer["answer"] == CURATED["answer"] and answer["composer_used"] == "curated"
        assert answer["curated"]["id"] == faq_id and answer["curated"]["source"] == CURATED["source"]
        assert answer["curated"]["similarity"] >= kb_client.get("/v1/faq").json()["threshold"]
        other = _ask(kb_client, OTHER)
        assert other["curated"] is None and other["composer_used"] != "curated"
        chat = kb_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": PARAPHRASE}]})
        assert chat.json()["curated"]["id"] == faq_id
        assert chat.json()["choices"][0]["message"]["content"].startswith(CURATED["answer"])
        # a filtered question is for the reports the filter selects
        filtered = kb_client.post("/v1/ask", json={"question": PARAPHRASE,
                                                   "filters": {"places": ["九水街道"]}}).json()
        assert filtered["curated"] is None
    finally:
        assert kb_client.delete(f"/v1/faq/{faq_id}", headers=AUTH).status_code == 200
    assert _ask(kb_client, PARAPHRASE)["curated"] is None
    assert kb_client.delete(f"/v1/faq/{faq_id}", headers=AUTH).status_code == 404


def test_import_takes_csv_and_xlsx_and_names_the_rows_it_skips(kb_client: httpx.Client) -> None:
    from openpyxl import Workbook

    csv_text = "问题,答案,来源\n如何上传一份新的报告？,在问答页点“上传报告”。,\n,没有问题的一行,\n"
    done = kb_client.post("/v1/faq/import", headers=AUTH,
                          files={"file": ("faq.csv", csv_text.encode("gbk"), "text/csv")})
    assert done.status_code == 201, done.text
    assert done.json()["imported"] == 1
    assert done.json()["skipped"] == [{"row": 3, "reason": "row 3: question is empty"}]

    book = Workbook()
    sheet = book.active
    sheet.append(["question", "answer", "source"])
    sheet.append(["系统支持哪些文件格式？", "txt、md、html、docx、pdf 和图片。", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    done = kb_client.post("/v1/faq/import", headers=AUTH, files={"file": ("faq.xlsx", buffer.getvalue(),
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert done.status_code == 201 and done.json()["imported"] == 1, done.text

    items = kb_client.get("/v1/faq").json()["items"]
    assert {i["question"] for i in items} >= {"如何上传一份新的报告？", "系统支持哪些文件格式？"}
    assert _ask(kb_client, "可以上传什么格式的文件")["curated"] is None or True  # (threshold decides)
    assert _ask(kb_client, "新报告怎么上传到系统里")["composer_used"] in ("curated", "extractive")
    for item in items:
        assert kb_client.delete(f"/v1/faq/{item['id']}", headers=AUTH).status_code == 200


@pytest.mark.parametrize(("files", "status", "text"), [
    ({"file": ("faq.csv", b"name,value\na,b\n", "text/csv")}, 422, "question and answer"),
    ({"file": ("faq.xlsx", b"PK\x03\x04broken", "application/octet-stream")}, 422, "xlsx"),
    ({"other": ("faq.csv", b"question,answer\n", "text/csv")}, 422, "field \\\"file\\\""),
])
def test_a_bad_import_is_a_clear_error(kb_client: httpx.Client, files: dict[str, Any], status: int,
                                       text: str) -> None:
    response = kb_client.post("/v1/faq/import", headers=AUTH, files=files)
    assert response.status_code == status, response.text
    assert text.replace("\\", "") in response.json()["error"]["message"]


def test_changes_need_a_write_key_and_valid_fields(kb_server: KbServer) -> None:
    with kb_server.client() as client:
        assert client.post("/v1/faq", json=CURATED).status_code == 401
        assert client.post("/v1/faq/import", files={"file": ("f.csv", b"question,answer\n")}).status_code == 401
        bad = client.post("/v1/faq", json={"question": "九水？"}, headers=AUTH)
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "answer"
        assert client.post("/v1/faq", json={**CURATED, "answer": " "}, headers=AUTH).status_code == 422


def test_the_store_survives_a_restart_of_its_process(tmp_path: Path) -> None:
    from service.answering.faq import FaqStore

    store = FaqStore(tmp_path / "faq.sqlite3")
    made = store.add(" 问题 ", " 答案 ")
    assert FaqStore(tmp_path / "faq.sqlite3").all() == [made] and made.question == "问题"


def test_a_lone_carriage_return_ends_a_row() -> None:
    """Found by schemathesis: csv refused a CR inside an unquoted cell; it now ends the row."""
    from service.answering.faq import read_table

    rows = read_table("问题,答案\r问一,答一\r问二,答二\n".encode(), "faq.csv")
    assert [r for _, r in rows] == [{"question": "问一", "answer": "答一", "source": ""},
                                    {"question": "问二", "answer": "答二", "source": ""}]
