"""What every reader shares: the result type, the limits, page lookups, the format of a file's
bytes and the compatibility-character fix (the format modules import this, not the package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The compatibility-character fix is a Chinese text helper; the readers import it from here.
from indexer.text.zh import compatibility_to_unified as compatibility_to_unified

# Names a corpus scan picks up, and the format each suggests (the bytes decide).
SUFFIXES: dict[str, str] = {
    ".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
    ".docx": "docx", ".pdf": "pdf", ".png": "image", ".jpg": "image", ".jpeg": "image",
}
FORMATS = ("txt", "md", "html", "docx", "pdf", "image")
TEXT_FORMATS = ("txt", "md", "html")  # limited by Limits.max_text_bytes, the rest by max_file_bytes
LABELS = {"txt": "text files", "md": "Markdown files", "html": "web pages",
          "docx": "Word documents", "pdf": "PDF files", "image": "images"}
MiB = 1024 * 1024
CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf", "image": "application/octet-stream",
}


@dataclass(frozen=True)
class Limits:
    """What one file may cost to read (each over-limit file is refused with the reason).

    The service and the CLI build it from settings (``zhiwen.settings.reader_limits``)."""

    max_text_bytes: int = 4 * MiB  # a .txt, .md or .html file (or report text sent as JSON)
    max_file_bytes: int = 64 * MiB  # a .docx, .pdf or image file
    max_pages: int = 500  # PDF pages
    max_pixels: int = 40_000_000  # an image, or a PDF page rendered for OCR
    max_unzipped_bytes: int = 200 * 1024 * 1024  # all parts of a .docx together
    max_zip_ratio: float = 200.0  # uncompressed / compressed size of a .docx part
    ocr: bool = True  # OCR pages without text and images (False: such files are refused)
    # Budgets that bound the work of one upload (the writer is held while it is read): a page
    # of OCR takes about 0.4-4 s on two cores, so 50 pages are minutes at most; a blank
    # 500-page PDF took 207 s of OCR before it was refused for having no text.
    max_ocr_pages: int = 50  # PDF pages without a text layer; more: refused before any OCR
    max_ocr_seconds: float = 300.0  # OCR time of one file; refused at the first page past it
    max_blank_pages: int = 5  # PDF pages in a row where OCR finds nothing: refused there
    max_docx_paragraphs: int = 5000  # Word paragraphs and table rows, blank ones included

    def max_bytes(self, kind: str) -> int:
        """The byte limit of a format (one of :data:`FORMATS`)."""
        return self.max_text_bytes if kind in TEXT_FORMATS else self.max_file_bytes

    def check_size(self, size: int, kind: str, name: str) -> None:
        """Raise :class:`~indexer.ingest.decode.OverLimit` for a file of ``size`` bytes over its limit."""
        from indexer.ingest.decode import OverLimit

        limit = self.max_bytes(kind)
        if size > limit:
            raise OverLimit(name, f"{size:,} bytes, over the limit of {limit:,} bytes for "
                                  f"{LABELS.get(kind, kind)}")


@dataclass(frozen=True)
class Extracted:
    """A file's text and what is known about it.

    ``pages``: for paged formats, the offset in ``text`` where each page starts (page ``i + 1``
    starts at ``pages[i]``); empty otherwise. ``meta``: ``format``, and per format ``title``,
    ``date``, ``ocr_pages`` (pages read by OCR), ``ocr_confidence`` (mean, 0–1) and
    ``ocr_page_confidence`` (``[[page, mean], …]`` of a PDF's OCR pages).
    """

    text: str
    format: str
    pages: tuple[int, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding ``offset`` (None for formats without pages)."""
        return page_at(self.pages, offset)


def page_at(pages: tuple[int, ...] | list[int], offset: int) -> int | None:
    if not pages:
        return None
    import bisect

    return max(1, bisect.bisect_right(list(pages), offset))


def report_page(meta: dict[str, Any], offset: int) -> int | None:
    """The page of an offset into a report's text, from ``meta["pages"]`` (``[[offset, page],
    …]`` as :func:`indexer.ingest.corpus.parse_file` records it); None for reports without pages."""
    pages = meta.get("pages")
    if not isinstance(pages, list) or not pages:
        return None
    found = None
    for start, page in pages:
        if start > offset:
            break
        found = int(page)
    return found if found is not None else int(pages[0][1])


def block_starts(blocks: list[str], chosen: list[int]) -> list[int]:
    """Offsets in ``"\\n\\n".join(blocks)`` where the ``chosen`` blocks start."""
    starts: list[int] = []
    offset = 0
    for block in blocks:
        starts.append(offset)
        offset += len(block) + 2
    return [starts[i] for i in chosen]


def ocr_confidence(meta: dict[str, Any], start: int, end: int) -> float | None:
    """The OCR confidence (0–1) of a report's span ``[start, end)``: an image report's mean
    score, or for a PDF the lowest of the OCR pages the span touches; None for text that was not
    read by OCR."""
    if meta.get("format") == "image":
        score = meta.get("ocr_confidence")
        return float(score) if isinstance(score, (int, float)) else None
    by_page = meta.get("ocr_page_confidence")
    if not isinstance(by_page, list) or not by_page or not meta.get("pages"):
        return None
    first = report_page(meta, start) or 1
    last = report_page(meta, max(start, end - 1)) or first
    touched = [float(score) for page, score in by_page if first <= int(page) <= last]
    return min(touched) if touched else None


def strip_suffix(rel_path: str) -> str:
    """``a/b.docx`` -> ``a/b`` for any suffix a corpus scan picks up (else unchanged)."""
    lower = rel_path.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return rel_path[: -len(suffix)]
    return rel_path


def sniff(data: bytes, name: str = "") -> str:
    """The format of a file: binary formats by their magic numbers, whatever the name (a PDF
    saved as ``.txt`` is read as a PDF); text formats by the name's suffix (a ``.txt`` report
    quoting HTML stays text), or by their markup when the name has no known suffix."""
    head = data[:2048]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx"  # a zip: the docx reader checks it is a Word document
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"  # an encrypted .docx or a legacy .doc
    if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return "image"
    suffix = SUFFIXES.get(Path(name).suffix.lower())
    if suffix in ("txt", "md", "html"):
        return suffix
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "txt"
