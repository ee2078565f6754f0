"""Per-upload budgets of the readers (issue 36): a PDF of 500 blank pages, a PDF whose pages
hold pictures without text, OCR past its time budget and a Word document of 10,000 paragraphs
are each refused early — within a bounded number of pages or paragraphs, told by the message
and by counting the pages OCR reads — with the file and the budget named."""

from __future__ import annotations

import re
from typing import Any

import pytest

from indexer.configure import reader_limits
from indexer.ingest.decode import OverLimit, ReadError
from indexer.ingest.readers import Limits, extract
from tests.bombs import many_paragraphs_docx, pictures_pdf
from tests.indexer.documents import blank_pdf


@pytest.fixture
def ocr_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pages (and images) handed to OCR."""
    from indexer.ingest.readers import ocr

    calls = [0]
    original = ocr.ocr_image

    def counting(image: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(image, *args, **kwargs)

    monkeypatch.setattr(ocr, "ocr_image", counting)
    return calls


def test_a_blank_500_page_pdf_is_refused_before_any_ocr(ocr_calls: list[int]) -> None:
    data = blank_pdf(500)
    assert len(data) < 100_000  # pages cost next to nothing to send
    with pytest.raises(OverLimit) as caught:
        extract(data, "blank.pdf", Limits())  # 500 pages is within max_pages
    assert str(caught.value) == ("blank.pdf: 500 of its 500 pages have no text layer, more than the limit "
                                 "of 50 pages read by OCR (max_ocr_pages)")
    assert ocr_calls[0] == 0


def test_a_run_of_pages_where_ocr_finds_nothing_is_refused_there(ocr_calls: list[int]) -> None:
    with pytest.raises(ReadError) as caught:
        extract(pictures_pdf(20), "frames.pdf", Limits())
    assert not isinstance(caught.value, OverLimit)
    assert caught.value.reason == ("no text on pages 1–5: 5 pages in a row without a text layer where OCR found "
                                   "nothing (max_blank_pages); refused after reading 5 of 20 pages by OCR")
    assert ocr_calls[0] == 5


def test_blank_pages_are_not_sent_to_ocr_and_count_in_the_run(ocr_calls: list[int]) -> None:
    with pytest.raises(ReadError, match=r"no text on pages 1–3: .* refused after reading 3 of 40 pages"):
        extract(blank_pdf(40), "blank.pdf", Limits(max_blank_pages=3))
    assert ocr_calls[0] == 0  # a page of one colour has nothing to read


def test_ocr_stops_at_the_first_page_past_its_time_budget(ocr_calls: list[int]) -> None:
    with pytest.raises(OverLimit) as caught:
        extract(pictures_pdf(3), "slow.pdf", Limits(max_ocr_seconds=1e-6))
    assert re.fullmatch(r"OCR took \d+\.\d s for 1 of its 3 pages without a text layer, over the limit "
                        r"of 1e-06 s \(max_ocr_seconds\)", caught.value.reason), caught.value.reason
    assert ocr_calls[0] == 1


def test_a_word_document_of_10k_paragraphs_is_refused_before_reading_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from indexer.ingest.readers import docx as docx_reader

    data = many_paragraphs_docx(10_000)
    assert len(data) < 100_000
    looked_up = [0]
    original = docx_reader.heading_level

    def counting(paragraph: Any) -> int | None:
        looked_up[0] += 1
        return original(paragraph)

    monkeypatch.setattr(docx_reader, "heading_level", counting)
    with pytest.raises(OverLimit) as caught:
        extract(data, "long.docx", Limits())
    assert str(caught.value) == ("long.docx: more than 5,000 paragraphs and table rows (max_docx_paragraphs): "
                                 "refused on counting 5,001, before reading any")
    assert looked_up[0] == 0


def test_a_word_document_at_the_paragraph_limit_is_read() -> None:
    data = many_paragraphs_docx(40)
    assert extract(data, "ok.docx", Limits(max_docx_paragraphs=40)).text.count("段。") == 40
    with pytest.raises(OverLimit, match="more than 39 paragraphs"):
        extract(data, "ok.docx", Limits(max_docx_paragraphs=39))


def test_table_rows_count_as_paragraphs() -> None:
    import io

    import docx

    document = docx.Document()
    document.add_paragraph("表：")
    table = document.add_table(rows=10, cols=2)
    for row in table.rows:
        row.cells[0].text, row.cells[1].text = "项目", "数量"
    out = io.BytesIO()
    document.save(out)
    with pytest.raises(OverLimit, match=r"more than 10 paragraphs and table rows"):
        extract(out.getvalue(), "table.docx", Limits(max_docx_paragraphs=10))  # 1 paragraph + 10 rows
    assert extract(out.getvalue(), "table.docx", Limits(max_docx_paragraphs=11)).text


def test_the_budgets_are_settings() -> None:
    from zhiwen.settings import Settings

    limits = reader_limits(Settings(max_ocr_pages=3, max_ocr_seconds=9.5, max_blank_pages=2,
                      max_docx_paragraphs=77))
    assert (limits.max_ocr_pages, limits.max_ocr_seconds, limits.max_blank_pages,
            limits.max_docx_paragraphs) == (3, 9.5, 2, 77)
    defaults = reader_limits(Settings())
    assert (defaults.max_ocr_pages, defaults.max_ocr_seconds, defaults.max_blank_pages,
            defaults.max_docx_paragraphs) == (Limits().max_ocr_pages, Limits().max_ocr_seconds,
                                              Limits().max_blank_pages, Limits().max_docx_paragraphs)
