"""Report formats in (indexer/ingest/readers): Word, Markdown and web pages built from the bundled
reports, indexed beside .txt ones; bad files named, the rest of the folder indexed."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from indexer.ingest.decode import ReadError
from indexer.ingest.readers import (
    Limits,
    extract,
    ocr_confidence,
    read_document,
    sniff,
    strip_suffix,
)
from tests.conftest import REPORTS_DIR
from tests.indexer.documents import (
    CHROME,
    DOCX_FOOTER,
    DOCX_HEADER,
    dev_hit_at_5,
    report_lines,
    to_docx,
    to_html,
    to_markdown,
    write_mixed_corpus,
)

REPORTS = sorted(REPORTS_DIR.glob("*.txt"))


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_binary_formats_are_told_by_their_bytes_text_formats_by_their_name() -> None:
    assert sniff(b"%PDF-1.7\n...", "report.txt") == "pdf"
    assert sniff(b"PK\x03\x04rest", "report") == "docx"
    assert sniff(b"\x89PNG\r\n\x1a\nrest", "scan.jpg") == "image"
    assert sniff(b"\xff\xd8\xff\xe0rest", "scan") == "image"
    assert sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.docx") == "ole"
    assert sniff(b"<html><body><p>x</p></body></html>", "quoted.txt") == "txt"  # a .txt stays text
    assert sniff(b"<!DOCTYPE html><html>", "page.htm") == "html"
    assert sniff(b"<!DOCTYPE html><html>", "upload") == "html"
    assert sniff("# 标题\n正文".encode(), "notes.md") == "md"
    assert [strip_suffix(n) for n in ("a/b.docx", "c.PDF", "d.txt", "e.jpeg", "f.xyz")] == [
        "a/b", "c", "d", "e", "f.xyz"]


def test_word_keeps_paragraphs_in_order_tables_as_rows_and_drops_header_and_footer() -> None:
    table = [["项目", "数量"], ["安全隐患整改", "172处"], ["新建停车位", "300个"]]
    got = extract(to_docx(REPORTS[0], table=table), "000.docx")
    lines = report_lines(REPORTS[0])
    assert got.format == "docx" and got.meta["title"] == lines[0]
    assert got.text.startswith(lines[0] + "\n\n")
    positions = [got.text.find(line) for line in lines]
    assert -1 not in positions and positions == sorted(positions), "paragraphs missing or out of order"
    assert "项目：安全隐患整改；数量：172处" in got.text and "项目：新建停车位；数量：300个" in got.text
    assert DOCX_HEADER not in got.text and DOCX_FOOTER not in got.text


# A report whose section headings are long and punctuated (the short-line rule would call them
# paragraphs) and whose short body line is no heading: only the file's own marks can tell.
SECTIONED = [
    ("title", "星海街道：党建引领基层治理见实效"),
    ("heading", "一、坚持党建引领，推动基层治理提质增效，让辖区群众有更多获得感。"),
    ("body", "星海街道今年新建口袋公园12座，改造老旧小区管网4.6公里，居民满意度明显提升。"),
    ("body", "成效明显"),
    ("body", "街道还组织党员志愿者开展入户走访，共收集并解决群众诉求326件。"),
    ("heading", "二、聚焦民生实事，完善为老服务体系，让老年人在家门口享受便利服务。"),
    ("body", "街道新建社区食堂3处，为辖区80岁以上老人每月提供助餐服务超过5000人次。"),
]


def _sectioned(kind: str) -> bytes:
    if kind == "md":
        marks = {"title": "# ", "heading": "## ", "body": ""}
        return "\n\n".join(marks[k] + t for k, t in SECTIONED).encode()
    import docx

    document = docx.Document()
    for k, t in SECTIONED:
        if k == "body":
            document.add_paragraph(t)
        else:
            document.add_heading(t, 0 if k == "title" else 1)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["docx", "md"])
def test_headings_the_file_marks_are_the_context_of_the_chunks_under_them(kind: str) -> None:
    from indexer.ingest.chunking import chunk_report
    from indexer.ingest.corpus import parse_file

    got = extract(_sectioned(kind), f"sec.{kind}")
    assert [got.text[h:].split("\n", 1)[0] for h in got.meta["headings"]] == [
        t for k, t in SECTIONED if k != "body"]
    [report] = parse_file(f"sec.{kind}", got.text, got)
    chunks = chunk_report(report, max_chars=300, overlap=0)
    first, second = (t for k, t in SECTIONED if k == "heading")
    assert [c.context.rsplit(" | ", 1)[-1] for c in chunks] == [first, second]
    assert "成效明显" in chunks[0].text and first not in chunks[0].text, "a body line became a heading"
    assert "12座" in chunks[0].text and "5000人次" in chunks[1].text


def test_markdown_loses_its_markup_not_its_words() -> None:
    source = to_markdown(REPORTS[1]) + "\n| 指标 | 数值 |\n|---|---|\n| 高校 | 12所 |\n\n![照片](a.png) 见[链接](http://x.cn)\n"
    got = extract(source.encode(), "001.md")
    assert got.format == "md" and got.meta["title"] == report_lines(REPORTS[1])[0]
    for marker in ("**", "## ", "](", "|", "!["):
        assert marker not in got.text
    assert "指标：高校；数值：12所" in got.text and "见链接" in got.text
    for line in report_lines(REPORTS[1]):
        assert line in got.text


def test_a_web_page_gives_its_article_not_its_chrome() -> None:
    got = extract(to_html(REPORTS[2]).encode(), "002.html")
    lines = report_lines(REPORTS[2])
    assert got.format == "html" and got.meta["title"] == lines[0] and got.meta.get("date") == "2021-01-30"
    assert got.text.startswith(lines[0])
    # every sentence of the article; trafilatura may drop a byline or a list-marked caption (the
    # lines the .txt cleaner keeps out of sentences too)
    missing = [line for line in lines if line not in got.text]
    assert len(missing) <= 1 and not any(line.endswith(("。", "！", "？", "”")) for line in missing), missing
    for chrome in CHROME:
        assert chrome not in got.text


def test_a_span_has_the_ocr_confidence_of_the_pages_it_touches() -> None:
    """Text layer pages: None; OCR pages: their score, the lowest when a span crosses pages."""
    pdf = {"format": "pdf", "pages": [[0, 1], [100, 2], [200, 3]],
           "ocr_page_confidence": [[2, 0.9], [3, 0.7]]}
    assert ocr_confidence(pdf, 10, 90) is None
    assert ocr_confidence(pdf, 120, 180) == 0.9
    assert ocr_confidence(pdf, 90, 150) == 0.9
    assert ocr_confidence(pdf, 150, 250) == 0.7
    assert ocr_confidence({"format": "image", "ocr_confidence": 0.95}, 0, 5) == 0.95
    assert ocr_confidence({"format": "docx"}, 0, 5) is None
    assert ocr_confidence({}, 0, 5) is None


def test_a_file_over_its_format_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from indexer.ingest.decode import OverLimit

    limits = Limits(max_text_bytes=2048, max_file_bytes=4096)
    with pytest.raises(OverLimit, match=r"^big.md: 3,000 bytes, over the limit of 2,048 bytes for Markdown files$"):
        extract(b"#" * 3000, "big.md", limits)
    assert extract("好".encode() * 1000, "ok.txt", Limits(max_text_bytes=4096)).text.startswith("好")
    huge = tmp_path / "huge.pdf"
    huge.write_bytes(b"%PDF-" + b"0" * 5000)
    with pytest.raises(OverLimit, match=r"huge.pdf: 5,005 bytes, over the largest file limit \(4,096 bytes\)"):
        read_document(huge, limits)


def test_compatibility_characters_become_the_ideographs_queries_use() -> None:
    # Kangxi radicals (⼼ ⼯, which NFKC maps) and CJK Radicals Supplement ones (⺠ ⻝, which it
    # does not), as Chromium and Word PDFs carry them
    html = "<html><head><title>t</title></head><body><article><p>党建引领，⼼连⼼服务群众，⼯作做到实处，为⺠办好⻝堂。" * 3
    got = extract((html + "</p></article></body></html>").encode(), "kangxi.html")
    assert "心连心" in got.text and "工作" in got.text and "，" in got.text  # full-width commas kept
    assert "为民办好食堂" in got.text
    assert not any(0x2E80 <= ord(ch) <= 0x2FDF for ch in got.text)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"PK\x03\x04" + b"\x00" * 100, "not a readable Word document"),
        (lambda: _zip({"content.xml": b"<x/>"}), "not a Word document"),
        (lambda: _zip({"word/document.xml": b"\x00" * 2_000_000}), "zip bomb"),
        (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "encrypted Word document or a legacy .doc"),
        (lambda: _zip({"word/document.xml": b"<not xml"}), "not a readable Word document"),
        (lambda: b"# \n\n**  **\n", "no text in this Markdown file"),
    ],
)
def test_a_bad_file_is_refused_with_its_name_and_the_reason(make, reason: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = make()
    path = tmp_path / ("bad.md" if data.startswith(b"#") else "bad.docx")
    path.write_bytes(data)
    with pytest.raises(ReadError) as caught:
        read_document(path, Limits(max_unzipped_bytes=1_000_000))
    assert caught.value.name == path.name and reason in caught.value.reason, caught.value.reason


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


# -- a mixed folder, indexed ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, embedder):  # type: ignore[no-untyped-def]
    """The bundled corpus as .docx, .md, .html and .txt files, indexed."""
    from indexer.backends.local.build import build_index
    from indexer.backends.local.store import load_index

    corpus = tmp_path_factory.mktemp("mixed") / "corpus"
    write_mixed_corpus(corpus, REPORTS)
    index = corpus.parent / "index"
    stats = build_index(corpus, index, embedder)
    assert stats.sources == 5 and not stats.skipped, stats
    return load_index(index, embedder)


def test_every_format_is_a_report_named_by_its_file_stem(mixed, searcher) -> None:  # type: ignore[no-untyped-def]
    formats = {doc_id[:3]: r.meta.get("format", "txt") for doc_id, r in mixed.reports.items()}
    assert formats == {"000": "docx", "001": "md", "002": "html", "003": "txt", "004": "txt"}, formats
    assert set(mixed.reports) == set(searcher.reports)  # the same ids as the .txt corpus
    for doc_id in list(mixed.reports)[:3]:
        assert mixed.reports[doc_id].title == searcher.reports[doc_id].title
    for chunk in mixed.chunks:
        for chrome in (*CHROME, DOCX_HEADER, DOCX_FOOTER):
            assert chrome not in chunk.text


def test_the_dev_set_retrieves_as_well_from_the_mixed_folder(mixed, searcher, dev_questions) -> None:  # type: ignore[no-untyped-def]
    assert dev_hit_at_5(mixed, dev_questions) == dev_hit_at_5(searcher, dev_questions) == 1.0


def test_answers_from_word_markdown_and_web_reports_quote_their_stored_text(mixed, embedder, dev_questions) -> None:  # type: ignore[no-untyped-def]
    from service.answering.engine import engine_for

    engine = engine_for(embedder, mixed)
    converted = {p.stem for p in REPORTS[:3]}
    cited = 0
    for q in dev_questions:
        if q.get("doc") not in converted:
            continue
        answer = engine.ask(q["question"], top_k=5)
        for c in answer.citations:
            assert mixed.reports[c.doc_id].text[c.start : c.end] == c.quote
            cited += 1
        if answer.answerable:
            assert any(_squash(a) in _squash(answer.text) for a in q["answers"]), (q["question"], answer.text)
    assert cited >= 10


def test_a_folder_with_nothing_readable_says_so_in_one_line(tmp_path: Path) -> None:
    from zhiwen.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.docx").write_bytes(b"PK\x03\x04 broken")
    (corpus / "b.md").write_text("#\n", encoding="utf-8")
    (corpus / "c.html").write_text("<html><body><nav>首页</nav></body></html>", encoding="utf-8")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "zhiwen.cli", "index", "--corpus", str(corpus), "--index", str(tmp_path / "index"),
         "--quiet"], capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "ZHIWEN_LOG_LEVEL": "error"},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "none of its 3 files holds readable report text" in errors[0], result.stderr
    assert "a.docx" in errors[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "index").exists()
    del main


def test_a_bad_file_or_a_clashing_id_is_skipped_and_the_rest_indexed(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from indexer.backends.local.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPORTS[3], corpus / REPORTS[3].name)
    (corpus / f"{REPORTS[3].stem}.md").write_text(to_markdown(REPORTS[0]), encoding="utf-8")  # same id
    (corpus / "broken.docx").write_bytes(b"PK\x03\x04 broken")
    stats = build_index(corpus, tmp_path / "index", embedder)
    # files are read in name order: the .md takes the id, the .txt is named as the clash
    assert stats.reports == 1 and set(stats.skipped) == {REPORTS[3].name, "broken.docx"}
    assert f"is taken by {REPORTS[3].stem}.md" in stats.skipped[REPORTS[3].name]
    assert "not a readable Word document" in stats.skipped["broken.docx"]


def test_a_citation_names_the_page_its_quote_starts_on(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """Reports from paged files carry where each page starts; every citation gets its page."""
    from dataclasses import replace

    from indexer.backends.local.build import build_index_from_reports
    from indexer.backends.local.store import load_index
    from indexer.ingest.corpus import parse_file
    from indexer.ingest.readers import report_page
    from service.answering.engine import engine_for

    assert report_page({"pages": [[0, 1], [100, 2], [250, 3]]}, 99) == 1
    assert report_page({"pages": [[0, 1], [100, 2], [250, 3]]}, 100) == 2
    assert report_page({"pages": [[0, 4]]}, 10) == 4 and report_page({}, 10) is None
    (report,) = parse_file(REPORTS[0].name, REPORTS[0].read_text(encoding="utf-8"))
    middle = report.text.index("172处")  # the answer to a dev question sits on page 2
    paged = replace(report, meta={**report.meta, "format": "pdf", "pages": [[0, 1], [middle - 40, 2]]})
    build_index_from_reports([paged], tmp_path / "index", embedder)
    engine = engine_for(embedder, load_index(tmp_path / "index", embedder))
    answer = engine.ask("九水街道共有多少处安全隐患被整改？", top_k=5)
    assert answer.answerable and answer.citations
    for c in answer.citations:
        assert c.page == (2 if c.start >= middle - 40 else 1)
    assert any(c.page == 2 and "172处" in c.quote for c in answer.citations)


def test_zhiwen_add_takes_a_word_file(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPORTS[3], corpus / REPORTS[3].name)
    word = tmp_path / "report-word.docx"
    word.write_bytes(to_docx(REPORTS[0]))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ZHIWEN_LOG_LEVEL": "error", "ZHIWEN_SEED_DIR": ""}
    where = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    for args in (["index", "--quiet", *where], ["add", str(word), *where]):
        result = subprocess.run([sys.executable, "-m", "zhiwen.cli", *args], capture_output=True, text=True,
                                timeout=600, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (corpus / "report-word.docx").read_bytes() == word.read_bytes()
    assert "reports +1" in result.stdout, result.stdout
    bad = tmp_path / "notes.rtf"
    bad.write_text("x", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "zhiwen.cli", "add", str(bad), *where], capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 2 and "notes.rtf: not a report format" in result.stderr
