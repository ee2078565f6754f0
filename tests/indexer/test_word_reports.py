"""An office Word report read as staff write them: the title is a bold centred paragraph (or a
Heading style), a table holds the figures. The title is that line alone, places are found as in
text, and each table row is one sentence, so a question about one row is answered by that row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROWS = [("项目", "数量"), ("志愿服务队", "38支"), ("注册志愿者", "5200人"), ("年度服务时长", "12万小时")]
TITLE = "海棠街道民生工作总结"


def _word(path: Path, *, styled_title: bool) -> None:
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document = docx.Document()
    if styled_title:
        document.add_heading(TITLE, 1)
    else:  # how most office files carry a title: a big bold centred paragraph
        title = document.add_paragraph()
        run = title.add_run(TITLE)
        run.bold, run.font.size = True, Pt(22)
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    document.add_paragraph("2021年，海棠街道党工委坚持以人民为中心，扎实推进民生实事，组织党员志愿者开展各类服务。")
    document.add_paragraph("志愿服务情况如下表。")
    table = document.add_table(rows=len(ROWS), cols=2)
    for i, (name, value) in enumerate(ROWS):
        table.cell(i, 0).text, table.cell(i, 1).text = name, value
    document.add_paragraph("下一步，街道将继续完善志愿服务体系。")
    document.save(str(path))


@pytest.fixture(scope="module", params=[False, True], ids=["bold-title", "heading-title"])
def word_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Any:
    from indexer.backends.local.build import build_index
    from indexer.backends.local.store import load_index
    from service.answering.engine import engine_for

    root = tmp_path_factory.mktemp("word")
    (root / "corpus").mkdir()
    _word(root / "corpus" / f"{TITLE}.docx", styled_title=request.param)
    build_index(root / "corpus", root / "index", embedder)
    searcher = load_index(root / "index", embedder)
    return engine_for(embedder, searcher)


def test_the_title_is_the_title_line_alone_and_places_are_found(word_engine: Any) -> None:
    (report,) = word_engine.reports.values()
    assert report.doc_id == TITLE  # the Chinese file name is the id
    assert report.title == TITLE  # never merged with the first paragraph
    assert "海棠街道" in report.meta["places"]


def test_each_table_row_is_one_sentence(word_engine: Any) -> None:
    from indexer.ingest.cleaning import report_sentences

    (report,) = word_engine.reports.values()
    texts = [s.text for s in report_sentences(report)]
    for name, value in ROWS[1:]:
        assert f"项目：{name}；数量：{value}" in texts  # the row whole, and never run into the next
    assert not any("；数量" in t and t.count("项目") > 1 for t in texts)


@pytest.mark.parametrize(("question", "row"), [
    ("注册志愿者有多少人？", 2), ("海棠街道有多少支志愿服务队？", 1), ("年度服务时长是多少？", 3)])
def test_a_question_about_a_row_is_answered_by_that_row(word_engine: Any, question: str, row: int) -> None:
    answer = word_engine.ask(question, 5)
    assert answer.answerable, answer.text
    name, value = ROWS[row]
    assert [c.quote for c in answer.citations] == [f"项目：{name}；数量：{value}"]
