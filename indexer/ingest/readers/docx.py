"""Word documents to report text (python-docx, MIT).

Paragraphs and tables in document order; headings (Word heading styles or outline levels) stay
lines of their own and their offsets go into ``meta["headings"]``, so they become the section
context of the chunks under them whatever their length; each table row after the header becomes 「列名：值；列名：值」 so numbers in
tables are answerable with their column's name. Headers, footers and comments are not part of the
body and are left out. The zip is checked before it is opened: total and per-part uncompressed
size are capped (a zip bomb is refused, not unpacked); so is the number of paragraphs and table
rows (``Limits.max_docx_paragraphs``), before any is read.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from indexer.ingest.decode import OverLimit, ReadError
from indexer.ingest.readers.base import Extracted, Limits, block_starts, compatibility_to_unified


def read_docx(data: bytes, name: str, limits: Limits) -> Extracted:
    _check_zip(data, name, limits)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds for a broken package
        raise ReadError(name, f"not a readable Word document ({type(exc).__name__}: {str(exc)[:120]})") from exc
    _check_paragraphs(document, name, limits)
    blocks: list[str] = []
    marked: list[int] = []  # indices of heading blocks
    rows: list[int] = []  # indices of table-row blocks
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            level = heading_level(item)
            if level is not None:
                title = title or text
                marked.append(len(blocks))
            blocks.append(text)
        elif isinstance(item, Table):
            table = _table_rows(item)
            rows += range(len(blocks), len(blocks) + len(table))
            blocks += table
    text = compatibility_to_unified("\n\n".join(blocks))  # one character for one: offsets hold
    if not text.strip():
        raise ReadError(name, "no text in this Word document")
    meta: dict[str, Any] = {"format": "docx", "headings": block_starts(blocks, marked),
                            "rows": block_starts(blocks, rows)}
    core_title = (document.core_properties.title or "").strip()
    if title or core_title:
        meta["title"] = title or core_title
    return Extracted(text + "\n", "docx", meta=meta)


_HEADING_STYLE = re.compile(r"^(?:title|subtitle|heading\s*\d|标题(?:\s*\d)?|副标题)$", re.I)


def heading_level(paragraph: Any) -> int | None:
    """The outline level of a Word paragraph (0 for a title, 1.. for headings), or None for body
    text: by its style (built-in Title/Heading N, or their Chinese names 标题/标题 N), or by an
    outline level set on the paragraph or its style chain."""
    style = paragraph.style
    name = (style.name if style is not None else "") or ""
    if _HEADING_STYLE.match(name.strip()):
        digits = re.findall(r"\d+", name)
        return int(digits[0]) if digits else 0
    for props in [paragraph._p.pPr, *_style_props(style)]:
        level = props.find(_qn("w:outlineLvl")) if props is not None else None
        if level is not None and (value := level.get(_qn("w:val"), "")).isdigit() and int(value) < 9:
            return int(value) + 1
    return None


def _style_props(style: Any) -> list[Any]:
    out = []
    seen = 0
    while style is not None and seen < 10:  # base_style chains are short; guard against loops
        out.append(style.element.pPr)
        style, seen = style.base_style, seen + 1
    return out


def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return str(qn(tag))


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


def _check_paragraphs(document: Any, name: str, limits: Limits) -> None:
    """:class:`OverLimit` for a body of more paragraphs and table rows than
    ``max_docx_paragraphs`` (blank ones count: each costs a style lookup), counted in the parsed
    XML before any is read (a 62 KB file of 10k paragraphs held the writer for 80 s)."""
    body = document.element.body
    count = 0
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            count += 1
        elif tag == "tbl":
            count += sum(1 for _ in child.iter(_qn("w:tr")))
        else:
            continue
        if count > limits.max_docx_paragraphs:
            raise OverLimit(name, f"more than {limits.max_docx_paragraphs:,} paragraphs and table rows "
                                  f"(max_docx_paragraphs): refused on counting {count:,}, before reading any")


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
