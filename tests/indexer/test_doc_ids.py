"""Report ids come from file names, Chinese included (indexer.ingest.corpus.doc_id_from_name), and are
safe as file names and URL path parts (validate_doc_id)."""

from __future__ import annotations

import pytest

from indexer.errors import InvalidDocument
from indexer.ingest.corpus import doc_id_from_name, validate_doc_id


@pytest.mark.parametrize(("stem", "expected"), [
    ("海棠街道民生工作总结", "海棠街道民生工作总结"),  # a Chinese name is its own id
    ("000_cfe86b6ecbc402ed", "000_cfe86b6ecbc402ed"),  # ASCII ids are unchanged
    ("《海棠街道》工作总结（修订稿）", "《海棠街道》工作总结(修订稿)"),  # full-width forms read as ASCII
    ("Ｆｕｌｌ　ｗｉｄｔｈ", "Full_width"),
    ("二〇二一年总结", "二〇二一年总结"),
    ("2021年 工作  总结", "2021年_工作_总结"),  # blanks become one _
    ("../etc/passwd", "etc_passwd"),  # never a path
    (".hidden", "hidden"),  # never a hidden file
    ("-rf", "rf"),  # never an option
    ("a:b*c?", "a_b_c"),  # never a wildcard or a drive
    ("📄报告", "报告"),
    ("   ", None),  # nothing usable: the server derives an id from the content
    ("📄", None),
])
def test_a_file_name_gives_its_id(stem: str, expected: str | None) -> None:
    assert doc_id_from_name(stem) == expected
    if expected is not None:
        assert validate_doc_id(expected) == expected


def test_ids_are_normalised_and_bounded() -> None:
    assert doc_id_from_name("e\u0301te\u0301") == "t"  # letters outside ASCII and CJK are not kept
    long = doc_id_from_name("报" * 300)
    assert long is not None and len(long) == 128


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a\\b", ".x", "_x", "a\nb", "a" * 129, "a b", "a:b"])
def test_an_unsafe_id_is_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(InvalidDocument, match="Chinese characters"):
        validate_doc_id(bad)
