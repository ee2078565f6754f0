"""Turn text into vectors. Depends on nothing else in zhiwen."""

from __future__ import annotations

from pathlib import Path

from embeddings.base import Embedder, ModelNotFoundError, SpanEmbedder, Vectors, can_pool_spans
from embeddings.locate import DEFAULT_MODEL, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "ModelNotFoundError",
    "SpanEmbedder",
    "Vectors",
    "can_pool_spans",
    "load_embedder",
    "resolve_model",
]


def load_embedder(
    model: str = DEFAULT_MODEL,
    *,
    cache_path: Path | None = None,
    device: str = "cpu",
    backend: str = "torch",
    query_prefix: str = "",
    document_prefix: str = "",
    models_dir: Path | None = None,
) -> Embedder:
    """Construct an embedder (cheap: the model loads on first use). Fails fast with
    ModelNotFoundError when the model is not on this machine.

    ``backend="onnx-int8"`` runs the model as int8 with onnxruntime, exported once from the local
    model folder into ``models_dir`` (default ``var/models``); other backends go to
    sentence-transformers."""
    from embeddings.cache import EmbeddingCache

    resolve_model(model)  # fail early with a clear message, before any work is done
    cache = EmbeddingCache(cache_path) if cache_path is not None else None
    if backend == "onnx-int8":
        from embeddings.onnx import DEFAULT_MODELS_DIR, OnnxInt8Embedder

        return OnnxInt8Embedder(
            model,
            models_dir=models_dir or DEFAULT_MODELS_DIR,
            cache=cache,
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )
    from embeddings.sentence import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        model,
        device=device,
        cache=cache,
        backend=backend,
        query_prefix=query_prefix,
        document_prefix=document_prefix,
    )
