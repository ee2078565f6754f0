"""BM25 tokenisation: jieba's dictionary read once per process, each tokenizer's words its own."""

from __future__ import annotations

import logging

from indexer.text.tokenize import Tokenizer

TEXT = "九水街道的巷网会客议事厅整改了172处隐患"
WORDS = ("巷网会客议事厅", "172处")


def test_a_tokenizer_cuts_as_jieba_with_its_words_loaded_from_disk() -> None:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    reference = jieba.Tokenizer()
    reference.initialize()
    for word in WORDS:
        reference.add_word(word)
    ours = Tokenizer(WORDS)
    assert ours.words(TEXT) == [w for w in reference.lcut(TEXT, HMM=True) if w.strip()]
    assert "巷网会客议事厅" in ours.tokens(TEXT)


def test_user_words_of_one_tokenizer_never_reach_another() -> None:
    first = Tokenizer(WORDS)
    assert "巷网会客议事厅" in first.tokens(TEXT)
    plain = Tokenizer()
    assert "巷网会客议事厅" not in plain.tokens(TEXT)
    assert "172处" not in Tokenizer(("九水街道",)).words(TEXT)
