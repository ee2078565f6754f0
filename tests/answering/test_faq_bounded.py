"""Bounded FAQ work (issue 36): an import is refused at its limits while it is read — the XLSX
row bomb after the row limit, not after its 600,000 rows — and a change to the curated answers
embeds only the questions it adds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.answering.faq import (
    FaqError,
    FaqMatcher,
    FaqStore,
    FaqTooLarge,
    TableLimits,
    read_table,
)
from service.kb import faq_import_limits
from tests.bombs import unzipped_size, xlsx_bomb


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return xlsx_bomb(600_000)


def test_the_bomb_is_small_and_unpacks_large(bomb: bytes) -> None:
    assert len(bomb) < 300_000 and unzipped_size(bomb) > 40_000_000


def _count_parsed_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the rows openpyxl's sheet parser produces (wraps its generator)."""
    from openpyxl.worksheet._reader import WorkSheetParser

    parsed = [0]
    original = WorkSheetParser.parse

    def counting(self: Any) -> Any:
        for item in original(self):
            parsed[0] += 1
            yield item

    monkeypatch.setattr(WorkSheetParser, "parse", counting)
    return parsed


def test_the_xlsx_bomb_is_refused_at_the_row_limit_not_after_reading_it(
        bomb: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_parsed_rows(monkeypatch)
    with pytest.raises(FaqTooLarge) as caught:  # the unpacked size is allowed: rows are what stop it
        read_table(bomb, "bomb.xlsx", TableLimits(max_unzipped_bytes=10**9))
    assert str(caught.value) == ("bomb.xlsx: more than 5,000 rows (reading stopped at row 5,002; "
                                 "at most 5,000 in one import: max_rows)")
    # header + 5,000 rows + the one over the limit; openpyxl reads no row ahead
    assert parsed[0] == 5_002


def test_with_the_default_limits_the_bomb_is_refused_for_its_unpacked_size(
        bomb: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_parsed_rows(monkeypatch)
    with pytest.raises(FaqTooLarge, match=r"^bomb\.xlsx: unpacks to [\d,]+ bytes, over the limit of "
                                          r"33,554,432 \(max_unzipped_bytes\); a zip bomb\?$"):
        read_table(bomb, "bomb.xlsx")
    assert parsed[0] == 0


def test_a_declared_size_over_the_cell_limit_is_refused_before_any_row(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_parsed_rows(monkeypatch)
    with pytest.raises(FaqTooLarge, match=re.escape("big.xlsx: the sheet declares 600,001 rows × 2 columns, "
                                                    "over the limit of 100,000 cells (max_cells)")):
        read_table(xlsx_bomb(3, dimension="A1:B600001"), "big.xlsx")
    assert parsed[0] == 0


def test_an_understated_size_does_not_cut_the_sheet_short() -> None:
    rows = read_table(xlsx_bomb(4, dimension="A1:B2"), "small.xlsx")
    assert [n for n, _ in rows] == [2, 3, 4, 5]


def test_blank_and_wide_rows_count_against_the_cell_limit() -> None:
    wide = '<row><c r="A{0}" t="inlineStr"><is><t>q</t></is></c><c r="XFD{0}" t="inlineStr"><is><t>a</t></is></c></row>'
    data = xlsx_bomb(0, row="")  # header only, then rows 2.. as written below
    assert read_table(data, "empty.xlsx") == []
    sheet = "".join(wide.format(n) for n in range(2, 12))
    with pytest.raises(FaqTooLarge, match=r"wide\.xlsx: more than 100,000 cells \(reading stopped at row 8; "):
        read_table(xlsx_bomb(1, row=sheet), "wide.xlsx")  # each row is 16,384 cells wide


def test_csv_rows_are_limited_while_reading() -> None:
    text = "question,answer\n" + "问,答\n" * 50 + "\n" * 5
    assert len(read_table(text.encode(), "ok.csv", TableLimits(max_rows=50))) == 50
    with pytest.raises(FaqTooLarge, match=r"^big\.csv: more than 49 rows \(reading stopped at row 51; "):
        read_table(text.encode(), "big.csv", TableLimits(max_rows=49))
    # the header's 2 cells, then 1 for each blank row: row 20 brings the count to 21
    with pytest.raises(FaqTooLarge, match=r"^blank\.csv: more than 20 cells \(reading stopped at row 20; "):
        read_table(("question,answer\n" + "\n" * 30).encode(), "blank.csv", TableLimits(max_cells=20))


def test_a_broken_sheet_is_a_format_error_not_a_crash() -> None:
    broken = xlsx_bomb(3, row="<row><c t='inlineStr'><is><t>q</t></is></c></row><row><oops>")
    with pytest.raises(FaqError, match=r"^broken\.xlsx: not a readable \.xlsx workbook") as caught:
        read_table(broken, "broken.xlsx")
    assert not isinstance(caught.value, FaqTooLarge)


def test_the_limits_are_settings() -> None:
    from zhiwen.settings import Settings

    limits = faq_import_limits(Settings(faq_import_max_rows=7, faq_import_max_cells=70,
                      faq_import_max_unzipped_bytes=7000))
    assert limits == TableLimits(max_rows=7, max_cells=70, max_unzipped_bytes=7000)
    assert faq_import_limits(Settings()) == TableLimits()


class CountingEmbedder:
    """The real embedder, counting the texts it encodes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.encoded = 0

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        result: np.ndarray = self.inner.encode_queries(texts)
        return result


def test_a_change_embeds_only_the_questions_it_adds(embedder: Any, tmp_path: Path) -> None:
    store = FaqStore(tmp_path / "faq.sqlite3")
    n = 20
    store.add_many([(f"第{i}个问题：九水街道的事项{i}？", f"答案{i}", "") for i in range(n)])
    counting = CountingEmbedder(embedder)
    matcher = FaqMatcher(counting, store, threshold=0.9)  # type: ignore[arg-type]
    assert counting.encoded == n

    added = store.add("九水街道整改了多少处安全隐患？", "172处。")
    counting.encoded = 0
    matcher.reload()
    assert counting.encoded == 1  # not n + 1
    match = matcher.match("九水街道整改了多少处安全隐患")
    assert match is not None and match.curated.id == added.id
    # the kept vectors are the ones a full embedding gives
    fresh = FaqMatcher(embedder, store, threshold=0.9)
    assert np.allclose(fresh._items[1], matcher._items[1], atol=1e-5)

    counting.encoded = 0
    store.delete(added.id)
    matcher.reload()
    assert counting.encoded == 0 and len(matcher.curated) == n
    assert added.id not in {c.id for c in matcher.curated}
    store.add("九水街道整改了多少处安全隐患？", "共172处。")  # the same question again: embedded again
    matcher.reload()
    assert counting.encoded == 1
