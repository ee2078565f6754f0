"""Report files of every common format to text: one reader module per format behind one interface.

:func:`extract` sniffs the format from the bytes (not the name: a ``.txt`` holding a PDF is read
as a PDF), enforces the per-format limits and returns an :class:`Extracted`: the text that a
report's offsets index (so ``quote == text[start:end]`` stays checkable), the start offset of
each page for paged formats, and metadata (title, date, OCR confidence). A file that cannot be
read raises :class:`~indexer.ingest.decode.ReadError` naming it and the reason; callers skip it and go
on with the rest of the folder.

=========  ======================================  ============================================
format     library (licence)                       what becomes text
=========  ======================================  ============================================
txt        charset decoding (:mod:`indexer.ingest.decode`) the file, decoded, newlines normalised
md         markdown-it-py (MIT)                    block text, markup out; headings as lines
html       trafilatura (Apache-2.0)                the main text; title and date into metadata
docx       python-docx (MIT)                       paragraphs in order; table rows as 列名：值
pdf        pypdfium2 (Apache-2.0 / BSD-3)          page text, running headers/footers and page
                                                   numbers removed; pages without text: OCR
image      rapidocr-onnxruntime (Apache-2.0)       OCR lines in reading order
=========  ======================================  ============================================
"""

from __future__ import annotations

from pathlib import Path

from indexer.ingest.decode import OverLimit, ReadError
from indexer.ingest.readers.base import (
    CONTENT_TYPES,
    FORMATS,
    SUFFIXES,
    Extracted,
    Limits,
    compatibility_to_unified,
    ocr_confidence,
    page_at,
    report_page,
    sniff,
    strip_suffix,
)

__all__ = ["CONTENT_TYPES", "FORMATS", "SUFFIXES", "Extracted", "Limits", "OverLimit", "ReadError",
           "compatibility_to_unified", "extract", "ocr_confidence", "page_at", "read_document", "read_text", "report_page", "sniff",
           "strip_suffix"]


def extract(data: bytes, name: str, limits: Limits | None = None) -> Extracted:
    """The text of a file's bytes; ``name`` labels errors and hints at the text formats."""
    limits = limits or Limits()
    kind = sniff(data, name)
    limits.check_size(len(data), "docx" if kind == "ole" else kind, name)
    if kind == "txt":
        return read_text(data, name)
    if kind == "ole":
        raise ReadError(name, "an encrypted Word document or a legacy .doc file: save it as an "
                              "unprotected .docx")
    if kind == "md":
        from indexer.ingest.readers.markdown import read_markdown

        return read_markdown(data, name)
    if kind == "html":
        from indexer.ingest.readers.html import read_html

        return read_html(data, name)
    if kind == "docx":
        from indexer.ingest.readers.docx import read_docx

        return read_docx(data, name, limits)
    if kind == "pdf":
        from indexer.ingest.readers.pdf import read_pdf

        return read_pdf(data, name, limits)
    from indexer.ingest.readers.image import read_image

    return read_image(data, name, limits)


def read_text(data: bytes, name: str) -> Extracted:
    """A plain-text report: decoded, radicals and compatibility ideographs mapped one for one."""
    from indexer.ingest.decode import decode_bytes

    return Extracted(compatibility_to_unified(decode_bytes(data, name)), "txt", meta={"format": "txt"})


def read_document(path: Path, limits: Limits | None = None) -> Extracted:
    """Read and extract one file; see :func:`extract`."""
    limits = limits or Limits()
    try:
        size = Path(path).stat().st_size
        largest = max(limits.max_text_bytes, limits.max_file_bytes)
        if size > largest:  # refused before it is read into memory
            raise OverLimit(Path(path).name, f"{size:,} bytes, over the largest file limit "
                                             f"({largest:,} bytes)")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReadError(Path(path).name, f"cannot read file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise ReadError(Path(path).name, "empty file")
    return extract(data, Path(path).name, limits)
