"""What every reader shares: the result type, the limits, page lookups, the format of a file's
bytes and the compatibility-character fix (the format modules import this, not the package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The compatibility-character fix is a Chinese text helper; the readers import it from here.
from indexer.zh import compatibility_to_unified as compatibility_to_unified

# Names a corpus scan picks up, and the format each suggests (the bytes decide).
SUFFIXES: dict[str, str] = {
    ".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
    ".docx": "docx", ".pdf": "pdf", ".png": "image", ".jpg": "image", ".jpeg": "image",
}
FORMATS = ("txt", "md", "html", "docx", "pdf", "image")
CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf", "image": "application/octet-stream",
}


@dataclass(frozen=True)
class Limits:
    """What one file may cost to read (each over-limit file is refused with the reason)."""

    max_pages: int = 500  # PDF pages
    max_pixels: int = 40_000_000  # an image, or a PDF page rendered for OCR
    max_unzipped_bytes: int = 200 * 1024 * 1024  # all parts of a .docx together
    max_zip_ratio: float = 200.0  # uncompressed / compressed size of a .docx part
    ocr: bool = True  # OCR pages without text and images (False: such files are refused)


@dataclass(frozen=True)
class Extracted:
    """A file's text and what is known about it.

    ``pages``: for paged formats, the offset in ``text`` where each page starts (page ``i + 1``
    starts at ``pages[i]``); empty otherwise. ``meta``: ``format``, and per format ``title``,
    ``date``, ``ocr_pages`` (pages read by OCR), ``ocr_confidence`` (mean, 0–1).
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
    …]`` as :func:`indexer.corpus.parse_file` records it); None for reports without pages."""
    pages = meta.get("pages")
    if not isinstance(pages, list) or not pages:
        return None
    found = None
    for start, page in pages:
        if start > offset:
            break
        found = int(page)
    return found if found is not None else int(pages[0][1])


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
