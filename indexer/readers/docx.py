"""Word documents to report text (python-docx, MIT).

Paragraphs and tables in document order; headings stay lines of their own (section context for
the chunks under them); each table row after the header becomes 「列名：值；列名：值」 so numbers in
tables are answerable with their column's name. Headers, footers and comments are not part of the
body and are left out. The zip is checked before it is opened: total and per-part uncompressed
size are capped (a zip bomb is refused, not unpacked).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from indexer.readers.base import Extracted, Limits, compatibility_to_unified
from indexer.reading import OverLimit, ReadError


def read_docx(data: bytes, name: str, limits: Limits) -> Extracted:
    _check_zip(data, name, limits)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds for a broken package
        raise ReadError(name, f"not a readable Word document ({type(exc).__name__}: {str(exc)[:120]})") from exc
    blocks: list[str] = []
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            if not title and (style == "Title" or style.startswith("Heading")):
                title = text
            blocks.append(text)
        elif isinstance(item, Table):
            blocks += _table_rows(item)
    text = compatibility_to_unified("\n\n".join(blocks))
    if not text.strip():
        raise ReadError(name, "no text in this Word document")
    meta: dict[str, Any] = {"format": "docx"}
    core_title = (document.core_properties.title or "").strip()
    if title or core_title:
        meta["title"] = title or core_title
    return Extracted(text + "\n", "docx", meta=meta)


def _table_rows(table: Any) -> list[str]:
    rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if not body:
        return ["；".join(c for c in header if c)]
    out = []
    for row in body:
        pairs = [f"{h}：{v}" if h else v for h, v in zip(header, row, strict=False) if v]
        if pairs:
            out.append("；".join(dict.fromkeys(pairs)))  # merged cells repeat their text
    return out


def _check_zip(data: bytes, name: str, limits: Limits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ReadError(name, f"not a readable Word document (broken zip: {exc})") from exc
    with archive:
        names = set(archive.namelist())
        if "word/document.xml" not in names:
            raise ReadError(name, "a zip file but not a Word document (.docx)")
        if any(info.flag_bits & 0x1 for info in archive.infolist()):
            raise ReadError(name, "encrypted Word document (password protected)")
        total = 0
        for info in archive.infolist():
            total += info.file_size
            ratio = info.file_size / max(1, info.compress_size)
            if total > limits.max_unzipped_bytes or (info.file_size > 1_000_000 and ratio > limits.max_zip_ratio):
                raise OverLimit(
                    name,
                    f"refused: unpacks to more than {limits.max_unzipped_bytes // (1024 * 1024)} MiB "
                    f"or compresses {ratio:.0f}:1 ({info.filename}); a zip bomb?",
                )
