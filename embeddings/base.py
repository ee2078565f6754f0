"""The embedder interface: text in, L2-normalised float32 vectors out (inner product = cosine)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embeddings import progress
from embeddings.cache import EmbeddingCache, Vectors, encode_cached
from embeddings.spans import Span, TokenStates, encode_with_spans

# a progress bar for encodes of more texts than this
PROGRESS_FROM = 256


class ModelNotFoundError(RuntimeError):
    """The configured model is neither a known bundled model nor a local path nor in the HF cache."""


@runtime_checkable
class Embedder(Protocol):
    """Backends are cheap to construct; the model loads on first use or ``warm_up()``."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_seq_length(self) -> int: ...

    @property
    def model_calls(self) -> int:
        """Texts sent through the model so far (cache hits excluded): what indexing reports as
        embedded."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> Vectors: ...

    def encode_documents(self, texts: Sequence[str]) -> Vectors: ...

    def token_len(self, text: str) -> int: ...

    def warm_up(self) -> None: ...


@runtime_checkable
class SpanEmbedder(Embedder, Protocol):
    """An embedder that also gives vectors of character spans of each document from the
    document's own forward pass (see :mod:`embeddings.spans`) when ``pools_spans``."""

    @property
    def pools_spans(self) -> bool: ...

    def encode_documents_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], *, progress: bool = False
    ) -> tuple[Vectors, Vectors]:
        """``(document vectors, span vectors)``: the first exactly as ``encode_documents`` gives
        them, the second one row per span, document after document."""
        ...


def can_pool_spans(embedder: object) -> bool:
    """Whether ``embedder`` gives span vectors from its documents' own forward pass. Not
    ``isinstance(embedder, SpanEmbedder)``: a protocol check reads every property, ``dim``
    included, which loads the model."""
    return callable(getattr(type(embedder), "encode_documents_with_spans", None)) and bool(
        getattr(embedder, "pools_spans", False))


def position_limit(folder: Path) -> int | None:
    """The model's hard sequence limit from its ``config.json`` (``max_position_embeddings``);
    None when the folder does not say."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("max_position_embeddings") if isinstance(config, dict) else None
    return int(value) if isinstance(value, int) else None


class BaseEmbedder(ABC):
    """What every backend shares: the model argument, the query and document prefixes, batching,
    the cache of document vectors, a lazy thread-safe load and the count of texts the model saw
    (``model_calls``, cache hits excluded). A backend loads its model and encodes a batch."""

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 32,
        cache: EmbeddingCache | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        max_seq_length: int | None = None,
    ) -> None:
        self._model_arg = model
        self._batch_size = batch_size
        self._cache = cache
        self._query_prefix = query_prefix
        self._document_prefix = document_prefix
        self._max_seq_length = max_seq_length
        self._lock = threading.Lock()
        self.model_calls = 0

    # -- what a backend provides --------------------------------------------------------------
    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    @abstractmethod
    def max_seq_length(self) -> int: ...

    @abstractmethod
    def _tokenizer(self) -> Any:
        """The model's (Hugging Face) tokenizer, loading the model if needed."""

    @abstractmethod
    def _run(self, texts: Sequence[str], progress: bool) -> Vectors:
        """Vectors of ``texts`` (not empty), in batches of ``self._batch_size``."""

    # -- shared ---------------------------------------------------------------------------------
    def warm_up(self) -> None:
        self.encode_queries(["预热"])

    def token_len(self, text: str) -> int:
        """Tokens the model sees for ``text`` including special tokens ([CLS], [SEP])."""
        return len(self._tokenizer()(text, add_special_tokens=True, truncation=False)["input_ids"])

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode([self._query_prefix + t for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        texts = [self._document_prefix + t for t in texts]
        if self._cache is None:
            return self._encode(texts)
        return encode_cached(self._cache, self.name, texts, self._encode, self.dim)

    def encode_documents_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], *, progress: bool = False
    ) -> tuple[Vectors, Vectors]:
        """Document vectors and the vectors of their character ``spans`` (offsets into each text
        as given, before the document prefix), one forward pass per document."""
        shift = len(self._document_prefix)
        prefixed = [self._document_prefix + t for t in texts]
        shifted = [[(a + shift, b + shift) for a, b in s] for s in spans]

        def run_tokens(batch: list[str]) -> list[TokenStates]:
            self.model_calls += len(batch)
            return self._run_tokens(batch)

        def encode_alone(pieces: list[str]) -> Vectors:
            # the prefix is already on: these are slices of prefixed texts, after it
            return self.encode_documents(pieces)

        return encode_with_spans(prefixed, shifted, model=self.name, dim=self.dim, run_tokens=run_tokens,
                                 encode_alone=encode_alone, cache=self._cache,
                                 group=self._batch_size * 8, progress=progress)

    def _run_tokens(self, texts: Sequence[str]) -> list[TokenStates]:
        """Each text's vector and token states; a backend that cannot give them does not
        offer :meth:`encode_documents_with_spans` (see ``pools_spans``)."""
        raise NotImplementedError(f"{type(self).__name__} gives no token states")

    @property
    def pools_spans(self) -> bool:
        """Whether span vectors come from the documents' own forward pass."""
        return False

    def _encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.model_calls += len(texts)
        if not progress.active():
            return self._run(texts, progress=len(texts) > PROGRESS_FROM)
        # a job is listening: encode in counted pieces (embed n/N)
        step = self._batch_size * 4
        parts = []
        for start in range(0, len(texts), step):
            progress.report("embed", start, len(texts))
            parts.append(self._run(texts[start : start + step], progress=False))
        progress.report("embed", len(texts), len(texts))
        return np.vstack(parts)

