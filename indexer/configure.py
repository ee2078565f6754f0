"""The indexer's settings objects made from zhiwen's ``Settings`` (``ZHIWEN_*``): the adapters
(``zhiwen index/add/remove``, the service) call these; library code takes the objects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from indexer.backends.base import BackendConfig
    from indexer.backends.milvus.connection import MilvusConfig
    from indexer.ingest.readers.base import Limits
    from indexer.retrieval.dense import VectorIndexParams
    from zhiwen.settings import Settings


def reader_limits(settings: Settings) -> Limits:
    """What one report file may cost to read, for the indexer's readers."""
    from indexer.ingest.readers.base import Limits

    s = settings
    return Limits(max_text_bytes=s.max_text_bytes, max_file_bytes=s.max_file_bytes, max_pages=s.max_pdf_pages,
                  max_pixels=s.max_image_pixels, ocr=s.ocr, max_ocr_pages=s.max_ocr_pages,
                  max_ocr_seconds=s.max_ocr_seconds, max_blank_pages=s.max_blank_pages,
                  max_docx_paragraphs=s.max_docx_paragraphs)


def vector_index_params(settings: Settings) -> VectorIndexParams:
    """The vector index to build and search with."""
    from indexer.retrieval.dense import VectorIndexParams

    s = settings
    return VectorIndexParams(kind=s.vector_index, exact_limit=s.vector_exact_limit, hnsw_m=s.hnsw_m,
                             hnsw_ef_construction=s.hnsw_ef_construction, hnsw_ef_search=s.hnsw_ef_search,
                             ivf_nlist=s.ivf_nlist, ivf_nprobe=s.ivf_nprobe)


def milvus_config(settings: Settings, uri: str | None = None, prefix: str | None = None) -> MilvusConfig:
    """Where the Milvus backend is (``uri`` / ``prefix`` override the configured ones);
    ValueError when there is none."""
    from indexer.backends.milvus.connection import MilvusConfig

    uri = uri or settings.milvus_uri
    if not uri:
        raise ValueError("no Milvus to use: set ZHIWEN_MILVUS_URI or give --milvus-uri")
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    return MilvusConfig(uri, token, prefix or settings.milvus_collection, settings.milvus_timeout_s)


def kb_collection_prefix(prefix: str, kb: str) -> str:
    """The Milvus collection prefix of knowledge base ``kb`` (names of a-z 0-9 _ -) under
    ``prefix``: ``<prefix>_kb_<kb>`` with ``_`` written ``__`` and ``-`` written ``_d``, so two
    names never share collections."""
    return f"{prefix}_kb_" + kb.replace("_", "__").replace("-", "_d")


def kb_of_collection_prefix(prefix: str, store: str) -> str | None:
    """The knowledge base whose collections :func:`kb_collection_prefix` names ``store`` under
    ``prefix``; None for a store that is not one (the default's, another deployment's)."""
    head = f"{prefix}_kb_"
    if not store.startswith(head):
        return None
    name = re.sub(r"_(.)", lambda m: {"_": "_", "d": "-"}.get(m.group(1), "\0"), store[len(head):])
    return name if name and "\0" not in name and kb_collection_prefix(prefix, name) == store else None


def user_words(settings: Settings) -> tuple[str, ...]:
    """The extra tokenizer terms of ``ZHIWEN_USER_WORDS`` (none without it); ``OSError`` /
    ``UnicodeDecodeError`` when the file cannot be read."""
    from indexer.text.tokenize import read_user_words

    path = settings.user_words_path
    return tuple(read_user_words(Path(path).read_text(encoding="utf-8"))) if path else ()


def backend_config(settings: Settings, **overrides: Any) -> BackendConfig:
    """The configured backend (``ZHIWEN_BACKEND``) with the build and write settings;
    ``overrides`` replace fields (``corpus_dir``, ``index_dir``, ``lock_timeout``, ``milvus``…)."""
    from indexer.backends.base import BackendConfig
    from indexer.faults import fault_pause

    fields: dict[str, Any] = {
        "kind": settings.backend, "corpus_dir": Path(settings.corpus_dir), "index_dir": Path(settings.index_dir),
        "max_chars": settings.chunk_max_chars, "overlap": settings.chunk_overlap,
        "user_words": user_words(settings), "vector_index": vector_index_params(settings),
        "limits": reader_limits(settings), "lock_timeout": settings.write_lock_timeout_s,
        "pause": fault_pause(settings.fault_pause_at, settings.fault_pause_marker),
        "milvus": milvus_config(settings) if settings.milvus_uri else None,
    }
    return BackendConfig(**(fields | overrides))
