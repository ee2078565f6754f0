"""Whether a question asks about anything: 「？」, 「什么？」, 「有多少？」, a row of emoji or zero-width
spaces name nothing to look for, and any passage "answering" them would be an arbitrary quote."""

from __future__ import annotations

import unicodedata

from indexer.text.tokenize import STOPWORDS
from indexer.text.zh import nfkc

# Words that only make a question a question (or a request): with them and the stop words
# removed, a question with content still has something left.
_REQUEST_WORDS = frozenset("请问 请 问 告诉 一下 帮 帮我 知道 想 想问 呀 哦 嗯 吗 呢 吧 啊".split())
_EMPTY_WORDS = sorted(STOPWORDS | _REQUEST_WORDS, key=len, reverse=True)


def content_chars(text: str) -> str:
    """The letters and digits of ``text`` (NFKC), without punctuation, symbols (emoji),
    spaces and invisible format characters such as zero-width spaces."""
    text = nfkc(text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def has_content(question: str) -> bool:
    """True when ``question`` names something beyond question and function words."""
    rest = content_chars(question).lower()
    for word in _EMPTY_WORDS:
        if word in rest:
            rest = rest.replace(word, "")
        if not rest:
            return False
    return bool(rest)
