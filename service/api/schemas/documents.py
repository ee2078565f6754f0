"""Models of the ``/v1/documents`` write routes and ``/v1/index`` (the live knowledge base)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from indexer.ingest.corpus import DOC_ID_PATTERN, DOC_ID_RULE
from indexer.types import Report
from service.api.schemas import ReportText, ReportTitle

MAX_TITLE_CHARS = 500
DocId = Annotated[
    str,
    Field(pattern=DOC_ID_PATTERN, description=DOC_ID_RULE + " (no path parts)."),
]
# The same rule for a path parameter, documented in the schema; the route checks it itself so a
# bad id gets the message that says what an id may hold.
PathDocId = Annotated[
    str,
    Path(
        description=DOC_ID_RULE + ".",
        json_schema_extra={"pattern": DOC_ID_PATTERN},
    ),
]


# -- models (the HTTP edge) ---------------------------------------------------------------------
class ReportIn(BaseModel):
    """A report's text and optional title (the body of PUT: the path names the report)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    title: ReportTitle | None = Field(
        default=None,
        max_length=MAX_TITLE_CHARS,
        description="Title; stored as the first line unless the text starts with it.",
    )
    text: ReportText = Field(
        description="The report's text: not blank, no control characters but tabs and line breaks."
    )


class DocumentIn(ReportIn):
    """A report to store: its text, optionally its id and title (the body of POST)."""

    doc_id: DocId | None = Field(
        default=None, description="Id of the report (default: derived from the text)."
    )


class ReportChanges(BaseModel):
    added: list[str] = Field(description="Report ids now in the index that were not before.")
    updated: list[str] = Field(description="Report ids whose text was replaced.")
    removed: list[str] = Field(description="Report ids no longer in the index.")


class ChunkChanges(BaseModel):
    added: int = Field(description="Passages indexed from the new text.")
    removed: int = Field(description="Passages of the old text dropped.")
    embedded: int = Field(
        description="Texts sent through the model: new passages and their sentences (cache hits "
        "excluded)."
    )
    reused: int = Field(description="Passages (and vectors) taken over unchanged.")


class UploadLimits(BaseModel):
    """What a report file may be (the same for uploads, ``zhiwen add`` and ``zhiwen index``)."""

    formats: list[str] = Field(description="File name extensions read as reports.")
    max_text_bytes: int = Field(description="Largest .txt/.md/.html report or JSON report text.")
    max_file_bytes: int = Field(description="Largest .docx/.pdf/image report.")
    max_pdf_pages: int
    max_image_pixels: int
    ocr: bool = Field(description="Whether images and pages without text are read by OCR.")


class IndexStatus(BaseModel):
    version: str = Field(description="Id of the live index snapshot; changes with every update.")
    backend: Literal["local", "milvus"] = Field(
        default="local", description="Where the index lives: the local index folder or Milvus.")
    previous_version: str | None = None
    model: str | None = None
    dim: int | None = None
    format_version: int | None = None
    reports: int
    chunks: int
    sources: int = Field(description="Files in the corpus folder the index was built from.")
    skipped: dict[str, str] = Field(default_factory=dict)
    updated_at: str | None = Field(default=None, description="When the live snapshot was written.")
    last_change: dict[str, Any] | None = None
    pending_changes: int = Field(description="Changes of an interrupted writer not yet applied.")
    writes_enabled: bool = Field(description="Whether API keys are configured for writes.")
    uploads: UploadLimits
    max_question_chars: int | None = Field(
        default=None, description="Longest question or query a request may send (the pages' input limit).")


class DocumentChange(BaseModel):
    doc_id: str
    action: Literal["created", "replaced", "deleted", "unchanged"]
    source: str = Field(description="The corpus file that holds the report.")
    reports: ReportChanges
    chunks: ChunkChanges
    index: IndexStatus
    took_ms: float


# -- helpers ------------------------------------------------------------------------------------


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    metadata: dict[str, Any]
    length: int = Field(description="Length of the original text in characters.")

    @classmethod
    def from_report(cls, report: Report) -> DocumentSummary:
        return cls(
            doc_id=report.doc_id, title=report.title, metadata=report.meta, length=len(report.text)
        )


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
    total: int


class ChunkOut(BaseModel):
    """A passage as indexed: ``text == report.text[start:end]``; ``context`` (title, place,
    section heading) is prepended to it for search."""

    chunk_id: str
    start: int
    end: int
    text: str
    context: str
    sentences: int
    ocr_confidence: float | None = None


class DocumentChunks(BaseModel):
    doc_id: str
    chunks: list[ChunkOut]


class DocumentDetail(DocumentSummary):
    text: str = Field(description="The original text; all offsets index into it.")

    @classmethod
    def from_report(cls, report: Report) -> DocumentDetail:
        return cls(
            doc_id=report.doc_id,
            title=report.title,
            metadata=report.meta,
            length=len(report.text),
            text=report.text,
        )
