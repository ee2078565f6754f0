"""Sentence-transformers backend: loads a local model folder on first use, never touches a hub."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.base import Vectors
from embeddings.cache import EmbeddingCache, encode_cached
from embeddings.locate import resolve_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """An ``Embedder`` over any sentence-transformers model found locally.

    ``model_calls`` counts texts actually sent through the model (cache hits excluded), so tests
    and benchmarks can tell real work from cached work.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        cache: EmbeddingCache | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        backend: str = "torch",
        max_seq_length: int | None = None,
    ) -> None:
        self._model_arg = model
        self._device = device
        self._batch_size = batch_size
        self._cache = cache
        self._query_prefix = query_prefix
        self._document_prefix = document_prefix
        self._backend = backend
        self._max_seq_length = max_seq_length
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self.model_calls = 0

    # -- lazy loading -------------------------------------------------------------------------
    def _load(self) -> SentenceTransformer:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                self._model = self._build()
        return self._model

    def _build(self) -> SentenceTransformer:
        path = resolve_model(self._model_arg)
        from sentence_transformers import SentenceTransformer

        log.info("loading embedding model %s from %s (%s)", self._model_arg, path, self._backend)
        kwargs: dict[str, Any] = {"device": self._device, "local_files_only": True}
        if self._backend != "torch":
            kwargs["backend"] = self._backend
        model = SentenceTransformer(path, **kwargs)
        limit = _position_limit(Path(path))
        wanted = self._max_seq_length or model.max_seq_length or limit or 512
        model.max_seq_length = min(wanted, limit) if limit else wanted
        model.eval()
        return model

    def warm_up(self) -> None:
        self.encode_queries(["预热"])

    # -- Embedder -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._model_arg

    @property
    def dim(self) -> int:
        model = self._load()
        # sentence-transformers renamed the getter; support both spellings
        get_dim = getattr(model, "get_embedding_dimension", None)
        dim = get_dim() if get_dim else model.get_sentence_embedding_dimension()
        return int(dim) if dim else int(self.encode_queries(["维度"]).shape[1])

    @property
    def max_seq_length(self) -> int:
        return int(self._load().max_seq_length or 512)

    def token_len(self, text: str) -> int:
        """Tokens the model sees for ``text`` including special tokens ([CLS], [SEP])."""
        tokenizer = self._load().tokenizer
        return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode([self._query_prefix + t for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        texts = [self._document_prefix + t for t in texts]
        if self._cache is None:
            return self._encode(texts, progress=len(texts) > 256)
        return encode_cached(self._cache, self.name, texts, lambda todo: self._encode(todo, progress=len(todo) > 256), self.dim)

    def _encode(self, texts: Sequence[str], progress: bool = False) -> Vectors:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.model_calls += len(texts)
        vectors = model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)


def _position_limit(path: Path) -> int | None:
    """The model's hard sequence limit from config.json (max_position_embeddings), if known."""
    import json

    config = path / "config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
    except (OSError, ValueError):
        return None
    return int(value) if isinstance(value, int) else None
