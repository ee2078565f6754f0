"""zhiwen's configuration: one typed ``Settings`` read from ``ZHIWEN_*`` environment variables.

Read once at the composition root (``zhiwen/cli.py``) and handed to each command as
``args.settings``; the service and the command-line adapters read it, library code
(``embeddings``, ``indexer``, ``service/answering``) takes explicit arguments.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024
ComposerName = Literal["extractive", "llm"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
BackendName = Literal["local", "milvus"]
VectorIndexKind = Literal["auto", "flat", "hnsw", "ivf"]
# where the index writer can be paused (indexer.faults.STAGES; a test pins the two equal)
FaultStage = Literal["after_store", "after_snapshot_write", "before_swap", "after_swap"]


class Settings(BaseSettings):
    """Everything the service and the CLI can be configured with (env prefix ``ZHIWEN_``).

    List settings accept a JSON list (``["a", "b"]``) or a comma-separated string (``a,b``).
    """

    model_config = SettingsConfigDict(env_prefix="ZHIWEN_", extra="ignore", validate_default=True)

    # -- server -----------------------------------------------------------------------------
    host: str = Field(
        default="127.0.0.1", min_length=1, description="Interface `zhiwen serve` binds."
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port `zhiwen serve` listens on.")
    log_level: LogLevel = Field(default="info", description="Log level of the server and the CLI.")

    # -- data and model -------------------------------------------------------------------
    index_dir: Path = Field(default=Path("var/index"), description="Index directory to load.")
    corpus_dir: Path = Field(
        default=Path("var/reports"),
        description="The service's reports: what the index is built from and uploads change.",
    )
    seed_dir: Path | None = Field(
        default=Path("data/reports"),
        description="Copied to corpus_dir when that folder does not exist yet (empty = never).",
    )
    model: str = Field(
        default="m3e-small", min_length=1, description="Embedding model name or path."
    )
    cache_path: Path | None = Field(
        default=Path("var/cache/embeddings.sqlite"), description="Embedding cache (SQLite file)."
    )
    chunk_max_chars: int = Field(
        default=300, ge=50, le=4000, description="Target chunk size (indexing)."
    )
    chunk_overlap: int = Field(default=100, ge=0, le=2000, description="Chunk overlap (indexing).")
    user_words_path: Path | None = Field(
        default=None, description="Extra terms for the keyword tokenizer, one a line (indexing)."
    )

    # -- vector index (issue 17; defaults and measurements: indexer/retrieval/dense.py, docs/benchmarks.md) --
    vector_index: VectorIndexKind = Field(
        default="auto",
        description="FAISS index built by `zhiwen index` and every update: flat (exact), hnsw, ivf, "
        "or auto (flat up to vector_exact_limit chunks, hnsw above). Recorded in meta.json.",
    )
    vector_exact_limit: int = Field(
        default=200_000, ge=0, le=1_000_000_000,
        description="With vector_index auto: the most chunks searched exactly (flat).",
    )
    hnsw_m: int = Field(default=32, ge=4, le=128, description="HNSW: links per vector (build time).")
    hnsw_ef_construction: int = Field(
        default=80, ge=8, le=4096, description="HNSW: candidate list while building (build time)."
    )
    hnsw_ef_search: int = Field(
        default=96, ge=1, le=4096,
        description="HNSW: candidate list per query (search time: applied when the index loads).",
    )
    ivf_nlist: int | None = Field(
        default=None, ge=1, le=65536,
        description="IVF: number of lists (build time); empty = a power of two near √chunks.",
    )
    ivf_nprobe: int = Field(
        default=32, ge=1, le=65536,
        description="IVF: lists searched per query (search time: applied when the index loads).",
    )

    # -- knowledge bases and scoped keys (issue 15) ---------------------------------------------
    kbs_dir: Path = Field(default=Path("var/kbs"), description="Folder of the knowledge bases other than "
                          "default (one sub-folder each: reports, index, curated answers).")
    keys_file: Path | None = Field(
        default=None, description="TOML file of scoped API keys: [[key]] sha256 = hex digest of the "
        "key, read = [knowledge bases], write = [knowledge bases] (\"*\": all).")

    # -- curated answers (FAQ) -----------------------------------------------------------------
    faq_db: Path = Field(default=Path("var/faq.sqlite3"), description="Curated answers (SQLite).")
    faq_threshold: float | None = Field(
        default=None, gt=0, le=1,
        description="Cosine a question needs to a curated one to get its answer (default: the "
        "threshold `zhiwen fit-faq` fitted, service/answering/faq_threshold.json).",
    )
    faq_import_max_rows: int = Field(
        default=5000, ge=1, le=1_000_000,
        description="Most curated answers (rows after the header) in one FAQ import; reading stops "
        "at the first row over it (413).",
    )
    faq_import_max_cells: int = Field(
        default=100_000, ge=1, le=100_000_000,
        description="Most cells read from one FAQ import, blank ones included (also the most an "
        ".xlsx sheet may declare); reading stops there (413).",
    )
    faq_import_max_unzipped_bytes: int = Field(
        default=32 * MiB, ge=1024, le=4 * 1024**3,
        description="Most bytes an .xlsx FAQ import may unpack to (a zip bomb is refused unread, 413).",
    )

    # -- retrieval backend (issue 14) ---------------------------------------------------------
    backend: BackendName = Field(
        default="local",
        description="Where the index lives: the index folder (local) or Milvus (milvus: build it "
        "there with `zhiwen index --backend milvus` or copy one with `zhiwen migrate`).",
    )
    milvus_uri: str | None = Field(
        default=None,
        description="Milvus server (http://host:19530) or Milvus Lite database file (ending in .db).",
    )
    milvus_token: SecretStr | None = Field(default=None, description="Milvus token (user:password).")
    milvus_collection: str = Field(
        default="zhiwen", min_length=1,
        description="Prefix of the Milvus collection names (<prefix>_chunks, _sentences, _reports, "
        "_live, _meta).",
    )
    milvus_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Longest a Milvus call may take (s)."
    )

    # -- request limits -------------------------------------------------------------------
    max_question_chars: int = Field(
        default=1000, ge=1, le=100_000, description="Longest question/query."
    )
    max_top_k: int = Field(
        default=50, ge=1, le=1000, description="Largest top_k a request may ask for."
    )
    default_top_k: int = Field(
        default=10, ge=1, le=1000, description="top_k of /v1/search by default."
    )
    ask_top_k: int = Field(default=5, ge=1, le=1000, description="Passages retrieved for /v1/ask.")
    inference_threads: int = Field(
        default=1, ge=1, le=256, description="torch/FAISS threads per query in the server."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Time a client has to send a request's headers."
    )
    body_timeout_s: float = Field(
        default=20.0, gt=0, le=3600, description="Time a client has to send a request's body."
    )
    max_request_bytes: int = Field(
        default=MiB, ge=1024, le=1024**3,
        description="Largest request body in bytes, except report uploads (limited per format).",
    )
    max_upload_bytes: int | None = Field(
        default=None, description="Replaced by max_text_bytes and max_file_bytes; an error if set.",
        exclude=True,
    )

    # -- report files (`zhiwen index`, `zhiwen add` and uploads alike) -------------------------
    max_text_bytes: int = Field(
        default=4 * MiB, ge=1024, le=1024**3,
        description="Largest .txt, .md or .html report (or report text sent as JSON), in bytes.",
    )
    max_file_bytes: int = Field(
        default=64 * MiB, ge=1024, le=4 * 1024**3,
        description="Largest .docx, .pdf or image report, in bytes.",
    )
    max_pdf_pages: int = Field(default=500, ge=1, le=100_000, description="Most pages of a PDF.")
    max_image_pixels: int = Field(
        default=40_000_000, ge=10_000, le=1_000_000_000,
        description="Most pixels of an image, or of a scanned PDF page rendered for OCR.",
    )
    ocr: bool = Field(
        default=True,
        description="Read images and PDF pages without text by OCR (off: such files are refused).",
    )
    max_ocr_pages: int = Field(
        default=50, ge=0, le=100_000,
        description="Most pages without a text layer one PDF may have read by OCR (a page takes "
        "seconds); a PDF with more is refused before any OCR (413).",
    )
    max_ocr_seconds: float = Field(
        default=300.0, gt=0, le=86_400,
        description="OCR time one file may take; the page that passes it is the last read (413).",
    )
    max_blank_pages: int = Field(
        default=5, ge=1, le=100_000,
        description="A PDF whose OCR finds no text on this many pages in a row is refused there "
        "(415), not read to its end.",
    )
    max_docx_paragraphs: int = Field(
        default=5000, ge=1, le=10_000_000,
        description="Most paragraphs and table rows of a Word document, blank ones included; "
        "reading stops at the first over it (413).",
    )

    # -- answering ----------------------------------------------------------------------------
    composer: ComposerName = Field(default="extractive", description="Default answer composer.")
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint for `llm`."
    )
    llm_model: str | None = Field(default=None, description="Model name sent to the LLM endpoint.")
    llm_api_key: SecretStr | None = Field(default=None, description="API key of the LLM endpoint.")
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600, description="LLM request timeout (s).")

    # -- access -------------------------------------------------------------------------------
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS; empty = same origin only."
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys accepted for write endpoints (and reads, if required).",
    )
    read_api_keys_required: bool = Field(
        default=False, description="Require an API key for reads too."
    )
    eval_api_key: SecretStr | None = Field(
        default=None, description="Key `zhiwen eval --url` sends to a server that requires one."
    )
    write_lock_timeout_s: float = Field(
        default=5.0, ge=0, le=3600,
        description="How long an API write waits for another writer before answering 409.",
    )

    jobs_dir: Path = Field(
        default=Path("var/jobs"),
        description="Records of the upload jobs (POST/PUT /v1/documents with Prefer: respond-async; "
        "GET /v1/jobs/{id}).",
    )

    # -- feedback (issue 15) ---------------------------------------------------------------------
    feedback_db: Path = Field(
        default=Path("var/feedback.sqlite3"),
        description="SQLite file (WAL) holding the feedback on answers (POST /v1/feedback).",
    )
    answer_log_size: int = Field(
        default=2000, ge=1, le=1_000_000,
        description="How many recent answers the server remembers by answer_id (feedback on an "
        "older one must send its question).",
    )
    max_feedback_chars: int = Field(
        default=4000, ge=1, le=100_000,
        description="Longest answer, correction or comment in a feedback request.",
    )

    # -- fault injection (crash tests; never set in production) --------------------------------
    fault_pause_at: Annotated[list[FaultStage], NoDecode] = Field(
        default_factory=list,
        description="Writer stages to pause at (after_store, after_snapshot_write, before_swap, "
        "after_swap), so a test can kill the process there.",
    )
    fault_pause_marker: Path | None = Field(
        default=None,
        description="With fault_pause_at: the writer writes the stage to this file on pausing and "
        "resumes when the file is deleted.",
    )

    @field_validator("cors_origins", "api_keys", "fault_pause_at", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """Accept ``a,b`` as well as a JSON list from the environment."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator(
        "cache_path", "seed_dir", "user_words_path", "fault_pause_marker", "llm_base_url",
        "llm_model", "llm_api_key", "eval_api_key", "milvus_uri", "milvus_token", "faq_threshold", "keys_file",
        "ivf_nlist", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        """``ZHIWEN_CACHE_PATH=`` means "none", not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.max_upload_bytes is not None:
            raise ValueError(
                "ZHIWEN_MAX_UPLOAD_BYTES is no longer read: set ZHIWEN_MAX_TEXT_BYTES (.txt .md "
                ".html and JSON text), ZHIWEN_MAX_FILE_BYTES (.docx .pdf images) or "
                "ZHIWEN_MAX_REQUEST_BYTES (other request bodies)"
            )
        if self.chunk_overlap >= self.chunk_max_chars:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be below chunk_max_chars "
                f"({self.chunk_max_chars})"
            )
        if self.ivf_nlist is not None and self.ivf_nprobe > self.ivf_nlist:
            raise ValueError(
                f"ivf_nprobe ({self.ivf_nprobe}) must not exceed ivf_nlist ({self.ivf_nlist})"
            )
        if self.backend == "milvus" and not self.milvus_uri:
            raise ValueError("backend milvus needs ZHIWEN_MILVUS_URI")
        for name in ("default_top_k", "ask_top_k"):
            if getattr(self, name) > self.max_top_k:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) must not exceed max_top_k ({self.max_top_k})"
                )
        return self

    @property
    def max_upload_body_bytes(self) -> int:
        """The largest body a report upload may have: the larger per-format limit (JSON may
        escape text to twice its UTF-8 size) plus room for the form's own fields."""
        return max(self.max_file_bytes, 2 * self.max_text_bytes) + 64 * 1024

    @property
    def llm_configured(self) -> bool:
        """Whether the LLM composer has an endpoint and a model to call."""
        return bool(self.llm_base_url and self.llm_model)


def describe_errors(exc: ValidationError) -> str:
    """A settings validation error without the input values (they may hold API keys)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment (``cache_clear()`` in tests)."""
    return Settings()
