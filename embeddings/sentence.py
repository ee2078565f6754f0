"""Sentence-transformers backend: loads a local model folder on first use, never touches a hub."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.base import BaseEmbedder, Vectors, position_limit
from embeddings.locate import resolve_model
from embeddings.spans import TokenStates

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embeddings.cache import EmbeddingCache

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder(BaseEmbedder):
    """An ``Embedder`` over any sentence-transformers model found locally."""

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
        super().__init__(
            model, batch_size=batch_size, cache=cache, query_prefix=query_prefix,
            document_prefix=document_prefix, max_seq_length=max_seq_length,
        )
        self._device = device
        self._backend = backend
        self._model: SentenceTransformer | None = None

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
        limit = position_limit(Path(path))
        wanted = self._max_seq_length or model.max_seq_length or limit or 512
        model.max_seq_length = min(wanted, limit) if limit else wanted
        model.eval()
        return model

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

    def _tokenizer(self) -> Any:
        return self._load().tokenizer

    def _run(self, texts: Sequence[str], progress: bool) -> Vectors:
        vectors = self._load().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    # -- span vectors from the documents' own forward pass (embeddings.spans) ------------------
    @property
    def pools_spans(self) -> bool:
        """Only for a transformer followed by mean pooling (m3e, text2vec): the mean of a span's
        token states is then the same kind of vector as the document's. Read from the model
        folder, so asking does not load the model."""
        from embeddings.onnx import folder_pooling

        try:
            return folder_pooling(Path(resolve_model(self._model_arg))) == "mean"
        except (ValueError, OSError):  # another module stack than Transformer, Pooling, Normalize
            return False

    def _run_tokens(self, texts: Sequence[str]) -> list[TokenStates]:
        import torch

        model = self._load()
        outs: list[dict[str, Any]] = model.encode(  # type: ignore[assignment]
            list(texts), batch_size=self._batch_size, output_value=None, convert_to_numpy=False,
            show_progress_bar=False)
        # the same truncation sentence-transformers applies, now with character offsets
        enc = model.tokenizer(list(texts), truncation=True, max_length=model.max_seq_length,
                              return_offsets_mapping=True)
        result = []
        for out, ids, offsets in zip(outs, enc["input_ids"], enc["offset_mapping"], strict=True):
            n = int(out["attention_mask"].sum())
            if out["input_ids"][:n].tolist() != ids:
                raise RuntimeError("the model's tokens differ from the tokenizer's offsets "
                                   f"({n} vs {len(ids)} tokens)")
            vector = torch.nn.functional.normalize(out["sentence_embedding"].float(), p=2, dim=0)
            result.append(TokenStates(vector.numpy().astype(np.float32),
                                      out["token_embeddings"][:n].float().numpy(),
                                      np.asarray(offsets, np.int64).reshape(-1, 2)))
        return result
