"""Keyword index: BM25 (bm25s) over jieba tokens, built once and persisted, never per query."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from indexer.text.tokenize import Tokenizer

if TYPE_CHECKING:
    import bm25s

    from indexer.retrieval.seam import LocalKeywordQuery

log = logging.getLogger(__name__)


class KeywordIndex:
    def __init__(self, bm25: bm25s.BM25, tokenizer: Tokenizer, size: int) -> None:
        self.bm25 = bm25
        self.tokenizer = tokenizer
        self.size = size

    @classmethod
    def build(
        cls, token_lists: Sequence[list[str]], tokenizer: Tokenizer, k1: float = 1.2, b: float = 0.75
    ) -> KeywordIndex:
        import bm25s

        bm25 = bm25s.BM25(k1=k1, b=b)
        # bm25s wants at least one token per document; an empty document gets a placeholder
        bm25.index([tokens or ["\x00"] for tokens in token_lists], show_progress=False)
        return cls(bm25, tokenizer, len(token_lists))

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """BM25 score of every document for ``query`` (zeros when no query token is known)."""
        ids = self.bm25.get_tokens_ids(self.tokenizer.tokens(query))
        if not ids or self.size == 0:
            return np.zeros(self.size, np.float32)
        return np.asarray(self.bm25.get_scores(ids), np.float32)

    def query(self, query: str) -> LocalKeywordQuery:
        """The per-query handle hybrid search uses (:mod:`indexer.retrieval.seam`)."""
        from indexer.retrieval.seam import LocalKeywordQuery

        return LocalKeywordQuery(self, query)

    def save(self, directory: Path) -> None:
        self.bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, tokenizer: Tokenizer, size: int) -> KeywordIndex:
        import bm25s

        bm25 = bm25s.BM25.load(str(directory), show_progress=False, mmap=False)
        return cls(bm25, tokenizer, size)

    def doc_freq(self, token: str) -> int:
        """Number of chunks containing ``token`` (0 when unknown)."""
        tid = self.bm25.vocab_dict.get(token)
        indptr = self.bm25.scores["indptr"]
        if tid is None or tid + 1 >= len(indptr):
            return 0
        return int(indptr[tid + 1] - indptr[tid])

    def idf(self, token: str) -> float:
        """BM25 (Lucene) inverse document frequency; unknown tokens get the highest value."""
        n = max(self.size, 1)
        df = self.doc_freq(token)
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    @property
    def num_docs(self) -> int:
        return int(self.bm25.scores["num_docs"])
