"""Radicals and compatibility ideographs to unified ideographs (``indexer.text.zh.compatibility_to_unified``
with the table of ``indexer/text/radicals.py``, from Unicode's EquivalentUnifiedIdeograph.txt)."""

from __future__ import annotations

import unicodedata

import pytest

from indexer.ingest.readers.base import compatibility_to_unified as reader_fix
from indexer.text.radicals import EQUIVALENT_UNIFIED
from indexer.text.zh import compatibility_to_unified

SUPPLEMENT = range(0x2E80, 0x2F00)  # CJK Radicals Supplement
KANGXI = range(0x2F00, 0x2FE0)  # Kangxi Radicals
# The CJK Unified Ideographs blocks (Blocks-17.0.0.txt); Python 3.11's Unicode 14 database has no
# name yet for U+2B739 (Extension C, Unicode 15), the equivalent of 「⺕」 U+2E95.
UNIFIED_BLOCKS = (
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0x2EBF0, 0x2EE5F), (0x30000, 0x3134F),
    (0x31350, 0x323AF), (0x323B0, 0x3347F),
)
COMPAT_BLOCKS = ((0x2E80, 0x2FDF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_unified_ideograph(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    if name:
        return name.startswith("CJK UNIFIED IDEOGRAPH-")
    return any(lo <= ord(ch) <= hi for lo, hi in UNIFIED_BLOCKS)


def test_the_readers_use_the_one_helper() -> None:
    assert reader_fix is compatibility_to_unified


@pytest.mark.parametrize("name", ["r.txt", "r.md"])
def test_text_and_markdown_reports_are_read_with_the_same_mapping(name: str) -> None:
    """Every reader maps: a plain-text or Markdown report typed with radicals is stored as the
    ideographs (one for one), so the embedder sees 民 too, not just the tokenizer."""
    from indexer.ingest.readers import extract

    got = extract("湖岛街道居\u2ea0反映诉求，\u2f2f作人员\u2f3c系群众。\n".encode(), name)
    assert "居民反映诉求，工作人员心系群众。" in got.text


@pytest.mark.parametrize(
    ("radical", "unified"),
    [
        ("\u2ea0", "民"),  # ⺠ CJK RADICAL CIVILIAN (NFKC leaves it)
        ("\u2edd", "食"),  # ⻝ CJK RADICAL EAT ONE
        ("\u2ed8", "青"),  # ⻘ CJK RADICAL BLUE
        ("\u2ed3", "长"),  # ⻓ CJK RADICAL C-SIMPLIFIED LONG
        ("\u2e9f", "母"),  # ⺟ CJK RADICAL MOTHER (one of the two NFKC maps too)
        ("\u2f3c", "心"),  # ⼼ KANGXI RADICAL HEART
        ("\u2f2f", "工"),  # ⼯ KANGXI RADICAL WORK
        ("\uf900", "豈"),  # CJK COMPATIBILITY IDEOGRAPH-F900 (NFKC)
    ],
)
def test_known_characters(radical: str, unified: str) -> None:
    assert compatibility_to_unified(radical) == unified


def test_every_mapped_supplement_character_becomes_a_unified_ideograph() -> None:
    mapped = [code for code in SUPPLEMENT if code in EQUIVALENT_UNIFIED]
    # all 115 assigned characters but 「⺀」 U+2E80 REPEAT, which has no equivalent in the file
    assert len(mapped) == 114
    assert {c for c in SUPPLEMENT if unicodedata.category(chr(c)) != "Cn"} - set(mapped) == {0x2E80}
    for code in mapped:
        got = compatibility_to_unified(chr(code))
        assert got == chr(EQUIVALENT_UNIFIED[code]) and is_unified_ideograph(got), f"U+{code:04X}"
    assert compatibility_to_unified("\u2e80") == "\u2e80"


def test_the_table_and_nfkc_agree_where_both_map() -> None:
    # every Kangxi radical is in the table, and NFKC maps it to the same ideograph; so do the two
    # Radicals Supplement characters NFKC knows (⺟ U+2E9F, ⻳ U+2EF3)
    assert all(code in EQUIVALENT_UNIFIED for code in KANGXI if unicodedata.category(chr(code)) != "Cn")
    both = {code: ideograph for code, ideograph in EQUIVALENT_UNIFIED.items()
            if unicodedata.normalize("NFKC", chr(code)) != chr(code)}
    assert len(both) == 214 + 2
    for code, ideograph in both.items():
        assert unicodedata.normalize("NFKC", chr(code)) == chr(ideograph), f"U+{code:04X}"


def test_one_character_for_one_so_offsets_stay_valid() -> None:
    for lo, hi in COMPAT_BLOCKS:
        for code in range(lo, hi + 1):
            assert len(compatibility_to_unified(chr(code))) == 1, f"U+{code:04X}"
    text = "人\u2ea0群众⼯作，\u2edd堂「⻘年」\U0002f800、ｘ１"
    got = compatibility_to_unified(text)
    assert got == "人民群众工作，食堂「青年」丽、ｘ１"
    assert len(got) == len(text)
    # an offset found in the unified text quotes the same span of the original
    start = got.index("工作")
    assert text[start : start + 2] == "⼯作"


def test_punctuation_and_full_width_forms_are_left_alone() -> None:
    # NFKC would turn these into ASCII; the cleaner relies on the full-width forms
    text = "，。！？；：、「」『』（）【】《》〈〉“”‘’…—～　ＡＢｃ１２３％"
    assert compatibility_to_unified(text) == text
    assert compatibility_to_unified("党建引领，服务群众。") == "党建引领，服务群众。"


# -- the query side -------------------------------------------------------------------------------
# What a question typed or pasted with radicals looks like: 「⺠」「⻝」「⻘」 (Radicals Supplement),
# 「⼯」「⼼」 (Kangxi)
AS_RADICALS = str.maketrans({"民": "\u2ea0", "食": "\u2edd", "青": "\u2ed8", "工": "\u2f2f", "心": "\u2f3c"})


def test_questions_are_normalised_as_report_text_is_read() -> None:
    from indexer.text.tokenize import Tokenizer
    from indexer.text.zh import nfkc, norm

    assert nfkc("为\u2ea0办好\u2edd堂，⼯作") == "为民办好食堂,工作"  # NFKC folds the full-width comma
    assert norm("青年 \u2ed8年") == "青年青年"
    tokenizer = Tokenizer()
    plain = "社区为居民办好青年食堂，用心工作"
    assert tokenizer.tokens(plain.translate(AS_RADICALS)) == tokenizer.tokens(plain)


@pytest.mark.parametrize(
    "question",
    [
        "湖岛街道居民通过哪个平台反映诉求？",  # dev set; 「⺠」
        "拆迁工作中党员是怎么做群众思想工作的？",  # dev set; 「⼯」 (NFKC maps it for BM25 only)
    ],
)
def test_a_question_with_radicals_finds_and_answers_as_the_plain_one(question: str, searcher, embedder) -> None:  # type: ignore[no-untyped-def]
    from service.answering.engine import engine_for

    typed = question.translate(AS_RADICALS)
    assert typed != question
    plain = searcher.search(question, top_k=5)
    assert plain
    # same chunks with the same scores: keyword, dense and rerank all saw the unified question
    got = searcher.search(typed, top_k=5)
    assert [(h.chunk.chunk_id, h.scores) for h in got] == [(h.chunk.chunk_id, h.scores) for h in plain]
    engine = engine_for(embedder, searcher)
    assert engine.ask(typed, 5) == engine.ask(question, 5)
