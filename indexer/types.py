"""Core value types shared by the indexer, the service and evaluation.

All offsets are character offsets into ``Report.text``, the *original* text of the report as read
from its file (for a file holding several reports: that report's slice of the file). Cleaning never
changes ``Report.text``; it only decides which spans count and how they read once cleaned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# body: running text; caption: photo caption (searchable, down-weighted for answers);
# heading: section heading (context for the chunks under it); title: report title lines.
SentenceKind = Literal["body", "caption", "heading", "title"]


@dataclass(frozen=True)
class Report:
    """One report: its id, title, original text and metadata.

    ``meta`` keys (all optional): ``source`` (file name), ``source_id`` (file stem),
    ``source_offset`` (where this report starts in its file), ``subtitle``, ``places`` (list of
    区/街道/社区 names), ``date`` (ISO ``YYYY-MM-DD``), ``authors`` (list of names), ``outlet``.
    """

    doc_id: str
    title: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a report: ``report.text[start:end]`` is the original span; ``text`` is the
    cleaned reading (line breaks from page breaks removed)."""

    start: int
    end: int
    text: str
    kind: SentenceKind = "body"


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage. Invariant: ``report.text[start:end] == text``."""

    chunk_id: str  # f"{doc_id}#{n}"
    doc_id: str
    start: int
    end: int
    text: str
    title: str = ""
    context: str = ""  # title / place / section heading, prepended for embedding and BM25
    sentences: tuple[Sentence, ...] = ()
    ocr_confidence: float | None = None  # text read by OCR: the recogniser's score (0–1)

    @property
    def clean_text(self) -> str:
        """The chunk as read: its sentences' cleaned text, without page-break line breaks."""
        if not self.sentences:
            return self.text
        return "".join(s.text for s in self.sentences)

    @property
    def index_text(self) -> str:
        """What the embedder and BM25 see: context, then the cleaned text."""
        return f"{self.context}\n{self.clean_text}" if self.context else self.clean_text


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the per-retriever breakdown
    (``keyword``, ``dense``, ``fused``)."""

    chunk: Chunk
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    # cosine of the query with each of chunk.sentences (empty when the index has no sentence
    # vectors or the hit came from keyword-only search)
    sentence_scores: tuple[float, ...] = ()


# -- as JSON (index files and Milvus rows) --------------------------------------------------------
def report_to_json(report: Report) -> dict[str, Any]:
    return asdict(report)


def report_from_json(data: dict[str, Any]) -> Report:
    return Report(data["doc_id"], data["title"], data["text"], dict(data.get("meta") or {}))


def chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    data = asdict(chunk)
    data["sentences"] = [[s.start, s.end, s.text, s.kind] for s in chunk.sentences]
    return data


def chunk_from_json(data: dict[str, Any]) -> Chunk:
    sentences = tuple(Sentence(int(a), int(b), str(t), k) for a, b, t, k in data.get("sentences", []))
    return Chunk(
        chunk_id=data["chunk_id"],
        doc_id=data["doc_id"],
        start=int(data["start"]),
        end=int(data["end"]),
        text=data["text"],
        title=data.get("title", ""),
        context=data.get("context", ""),
        sentences=sentences,
        ocr_confidence=data.get("ocr_confidence"),
    )
