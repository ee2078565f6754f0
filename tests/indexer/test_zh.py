"""The Chinese text helpers (``indexer/zh.py``): normalisation, bigrams, key terms, numbers."""

from __future__ import annotations

import pytest

from indexer.zh import CJK_RE, bigrams, extract_numbers, key_terms, nfkc, norm


def test_nfkc_maps_compatibility_characters() -> None:
    # Kangxi radicals (as PDFs made by Chromium or Word carry them) and full-width forms
    assert nfkc("\u2f3c\u2f2f１２３ＡＢ") == "心工123AB"


def test_norm_drops_whitespace_and_case() -> None:
    assert norm(" 九水 街道\tGDP\n") == "九水街道gdp"


def test_bigrams_of_letters_and_digits_only() -> None:
    assert bigrams("助老，食堂") == {"助老", "老食", "食堂"}
    assert bigrams("a") == set()


def test_cjk_range() -> None:
    assert CJK_RE.match("街") and CJK_RE.match("\u3400") and not CJK_RE.match("A")


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("172处安全隐患被整改，7000人次，50余家企业", {"172", "7000", "50"}),
        ("5.73亿元", {"573000000"}),
        ("57300万元", {"573000000"}),
        ("2.63万平方米", {"26300"}),
        ("比例为1:8", {"1:8"}),
        ("比例为1∶8", {"1:8"}),
        ("比例为１：８", {"1:8"}),
        ("帮扶率达到100%", {"100%"}),
        ("百分之九十", {"90%"}),
        ("仅用四天时间", {"4"}),
        ("十九大", {"19"}),
        ("二〇二〇年", {"2020"}),
        ("2021-01-30", {"2021", "1", "30"}),
        ("7,000人", {"7000"}),
        ("七大工程、三措并举、百姓、一个社区、几十个、十分重要、万余户", set()),
    ],
)
def test_extract_numbers(text: str, numbers: set[str]) -> None:
    assert extract_numbers(text) == numbers


def test_key_terms_leave_out_function_characters() -> None:
    assert key_terms("我是猫。") == frozenset()
    assert {"安全", "隐患", "整改", "#172"} <= key_terms("172处安全隐患被整改")
    assert "被整" not in key_terms("172处安全隐患被整改")
