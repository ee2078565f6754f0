"""Chinese tokenisation for BM25: jieba (search mode) plus a user dictionary derived from the corpus.

Why a derived dictionary: jieba's stock dictionary cuts program names such as “巷网会客议事厅” or
“三结合一针对” into pieces that also occur elsewhere, so an exact-name query loses its edge. We add
quoted terms, place names and numbers-with-units found in the corpus as whole words; search mode
still emits the dictionary sub-words, so partial queries keep matching. Users add their own terms
with a plain word list (one term a line, ``#`` comments), see README "Custom terms".
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from indexer.text.zh import nfkc

if TYPE_CHECKING:
    import jieba

log = logging.getLogger(__name__)

# Quoted terms: “…” 「…」 『…』 "…" with 2–15 characters and no sentence punctuation inside.
_QUOTED = re.compile(r"[“「『\"]([^“”「」『』\"，。！？；：,.!?;:\s]{2,15})[”」』\"]")
_UNITS = (
    "平方公里|平方米|万平方米|亿元|万元|元|万人|人次|余人|名|人|个|处|件|所|家|项|次|期|条|亩|户|"
    "场次|场|支|天|年|月|日|小时|公里|米|万|亿|%|％"
)
_NUMBER_UNIT = re.compile(rf"\d+(?:\.\d+)?(?:余|多)?(?:{_UNITS})")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PUNCT_OR_SPACE = re.compile(r"^[\W_]+$")

# Function words and question words: they carry no topic, and in questions they would otherwise
# match every passage that happens to contain 的 or 多少.
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 等 有 为 对 把 被 从 以 于 也 都 就 而 之 其 这 那 这个 那个 该 个 吗 呢 吧 啊
    么 什么 多少 哪 哪个 哪些 哪里 哪儿 几 几个 怎么 怎样 怎么样 如何 谁 为什么 是否 是不是 还是 或
    或者 一个 一些 我 我们 你 你们 他 他们 她 它 得 地 着 过 并 但 又 已 已经 将 要 会 能 可以 所
    通过 进行 方面 其中 以及 共有 一共 共""".split()
)


def derive_user_words(texts: Iterable[str], places: Iterable[str] = ()) -> list[str]:
    """Terms that should stay whole: quoted names, numbers with units, and ``places`` (the names
    the cleaner found in report metadata; regex place-finding on raw text picks up verbs)."""
    words: set[str] = set(places)
    for text in texts:
        text = nfkc(text)
        words.update(m.group(1).strip() for m in _QUOTED.finditer(text))
        words.update(_NUMBER_UNIT.findall(text))
    return sorted(w for w in words if len(w) >= 2)


def read_user_words(text: str) -> list[str]:
    """Parse a user word list: one term per line; blank lines and ``#`` comments ignored."""
    words = []
    for line in text.splitlines():
        term = line.split("#", 1)[0].strip()
        if term:
            words.append(term.split()[0])
    return words


_BASE_LOCK = threading.Lock()
_BASE: list[jieba.Tokenizer] = []


def jieba_with_words(words: Iterable[str] = ()) -> jieba.Tokenizer:
    """A jieba tokenizer of its own (not the global one) holding jieba's dictionary and ``words``.
    The dictionary is read from disk once per process (about a second) and copied for every
    tokenizer after (milliseconds): each index build, live update and loaded index makes one,
    and a copy keeps one's user words out of every other's."""
    import jieba

    if not _BASE:
        with _BASE_LOCK:
            if not _BASE:
                jieba.setLogLevel(logging.WARNING)
                base = jieba.Tokenizer()
                base.initialize()
                _BASE.append(base)
    tok = jieba.Tokenizer()
    tok.FREQ, tok.total = dict(_BASE[0].FREQ), _BASE[0].total
    tok.initialized = True
    for word in words:
        tok.add_word(word)
    return tok


class Tokenizer:
    """A jieba tokenizer of its own (not the global one) with the given user words."""

    def __init__(self, user_words: Sequence[str] = ()) -> None:
        self.user_words = tuple(sorted(set(user_words)))
        self._jieba: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.user_words).encode()).hexdigest()[:16]

    def _tok(self) -> jieba.Tokenizer:
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    self._jieba = jieba_with_words(self.user_words)
        return self._jieba

    def tokens(self, text: str) -> list[str]:
        """Search-mode tokens of ``text`` after ``zh.nfkc`` and lower-casing, without stopwords and
        punctuation. A number with a unit ("172处") also yields the bare number ("172")."""
        text = nfkc(text).lower()
        out: list[str] = []
        for token in self._tok().cut_for_search(text, HMM=True):
            token = token.strip()
            if not token or token in STOPWORDS or _PUNCT_OR_SPACE.match(token):
                continue
            out.append(token)
            if _NUMBER_UNIT.fullmatch(token):
                number = _NUMBER.match(token)
                if number:
                    out.append(number.group(0))
        return out

    def words(self, text: str) -> list[str]:
        """Plain (accurate-mode) jieba words, punctuation dropped; for phrase analysis."""
        text = nfkc(text).lower()
        return [w for w in self._tok().lcut(text, HMM=True) if w.strip() and not _PUNCT_OR_SPACE.match(w)]

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokens(t) for t in texts]
