"""The Chinese text helpers (``indexer/text/zh.py``): normalisation, bigrams, key terms, numbers, place
names."""

from __future__ import annotations

import pytest

from indexer.text.zh import (
    CJK,
    CJK_RE,
    PLACE_SUFFIXES,
    bigrams,
    extract_numbers,
    key_terms,
    nfkc,
    norm,
    place_name_re,
    place_stem,
    place_suffix,
    place_suffixes,
    suffix_pattern,
)


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


def test_place_suffixes_by_level() -> None:
    assert place_suffixes("区") == ("村", "社区", "街道", "镇", "乡", "区")
    assert place_suffixes("县") == ("村", "社区", "街道", "镇", "乡", "区", "新区", "县")
    assert place_suffixes("省") == PLACE_SUFFIXES


def test_suffix_pattern_tries_longer_suffixes_first() -> None:
    assert suffix_pattern(("区", "新区", "街道")) == "(?:新区|街道|区)"


@pytest.mark.parametrize(
    ("name", "suffix", "stem"),
    [
        ("湖岛街道", "街道", "湖岛"),
        ("王哥庄街道", "街道", "王哥庄"),
        ("胜利庄社区", "社区", "胜利庄"),  # not 区: the longest suffix
        ("浦东新区", "新区", "浦东"),
        ("李沧区", "区", "李沧"),
        ("王哥庄", "", "王哥庄"),
    ],
)
def test_place_suffix_and_stem(name: str, suffix: str, stem: str) -> None:
    assert place_suffix(name) == suffix
    assert place_stem(name) == stem


def test_place_suffix_of_a_subset() -> None:
    assert place_suffix("浦东新区", place_suffixes("区")) == "区"
    assert place_stem("青岛市", place_suffixes("县")) == "青岛市"


def test_place_name_greedy_and_lazy() -> None:
    local = place_suffixes("区")
    text = "李沧区九水街道党工委"
    assert place_name_re(local).findall(text) == ["李沧区九水街道"]
    assert place_name_re(local, lazy=True).findall(text) == ["李沧区", "九水街道"]
    # two characters at least before the suffix: 该街道 names no place
    assert place_name_re(local).search("该街道的党工委书记") is None
    assert place_name_re(local).findall("湖岛街道、王哥庄街道") == ["湖岛街道", "王哥庄街道"]


def test_place_name_lengths_and_levels() -> None:
    assert place_name_re(("街道",), 2, 4).findall("崂山区王哥庄街道") == ["区王哥庄街道"]
    assert place_name_re(("街道",), 2, 3).findall("崂山区王哥庄街道") == ["王哥庄街道"]
    assert place_name_re(place_suffixes("区")).search("青岛市") is None
    assert place_name_re(PLACE_SUFFIXES).search("青岛市")


def test_place_name_characters() -> None:
    # the basic CJK block by default; extension A (㐀) only when asked for
    assert place_name_re(("街道",)).findall("㐀九水街道") == ["九水街道"]
    assert place_name_re(("街道",), chars=CJK).findall("㐀九水街道") == ["㐀九水街道"]
    assert place_name_re(("街道",)) is place_name_re(("街道",))  # compiled once
