"""Hostile files, built small in the tests: an XLSX of many rows that compresses to a few hundred
KB, PDFs of pages without text (blank, or a picture with nothing to read), a Word document of
many paragraphs. The attacks of issue 36 ("work that blocks others")."""

from __future__ import annotations

import io
import zipfile

_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
_HEADER_ROW = ('<row><c t="inlineStr"><is><t>question</t></is></c>'
               '<c t="inlineStr"><is><t>answer</t></is></c></row>')
_ROW = '<row><c t="inlineStr"><is><t>q</t></is></c><c t="inlineStr"><is><t>a</t></is></c></row>'


def xlsx_bomb(rows: int, *, dimension: str | None = None, row: str = _ROW) -> bytes:
    """A workbook whose first sheet holds a header row (question, answer) then ``rows`` copies
    of ``row``, with no ``<dimension>`` unless one is given (as an attacker would write it: a
    reader that needs the size must then parse the whole sheet). 600,000 rows unpack to about
    52 MB and compress to about 180 KB."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["question", "answer"])  # type: ignore[union-attr]
    template = io.BytesIO()
    book.save(template)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template.getvalue())) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                dim = f'<dimension ref="{dimension}"/>' if dimension else ""
                data = (f"{_SHEET_HEAD}{dim}<sheetData>{_HEADER_ROW}{row * rows}</sheetData></worksheet>"
                        ).encode()
            target.writestr(info.filename, data)
    return out.getvalue()


def unzipped_size(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(info.file_size for info in archive.infolist())


def pictures_pdf(pages: int) -> bytes:
    """A PDF of ``pages`` pages, each a picture (a grey frame) with no text layer and nothing
    for OCR to read: every page goes through OCR, which finds nothing."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(image).rectangle((20, 20, 280, 180), outline=(128, 128, 128), width=3)
    out = io.BytesIO()
    image.save(out, "PDF", save_all=True, append_images=[image.copy() for _ in range(pages - 1)],
               resolution=72)
    return out.getvalue()


def many_paragraphs_docx(paragraphs: int) -> bytes:
    """A Word document of ``paragraphs`` short paragraphs (10,000 are about 62 KB)."""
    import docx

    document = docx.Document()
    for i in range(paragraphs):
        document.add_paragraph(f"第{i + 1}段。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
