"""PDFs and images (indexer/ingest/readers/pdf.py, image.py, ocr.py), built from the bundled reports:
PDFs printed by headless Chromium with running headers and footers, scans of them (image-only
PDFs), screenshots of paragraphs, and broken or hostile files.

OCR recall is the share of the expected text's characters (whitespace removed, NFKC-normalised
so that the ASCII commas of a report and the full-width 「，」 OCR reads them as are one
character) that difflib's alignment finds in the OCR text: 1.0 when every character is read,
in order."""

from __future__ import annotations

import difflib
import hashlib
import html
import io
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from indexer.ingest.decode import ReadError
from indexer.ingest.readers import Extracted, Limits, extract
from indexer.ingest.readers.image import read_image
from indexer.ingest.readers.pdf import is_page_number, read_pdf, remove_running_lines
from tests.conftest import REPORTS_DIR
from tests.indexer.documents import blank_pdf, report_lines
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

REPORT = REPORTS_DIR / "000_cfe86b6ecbc402ed.txt"  # 3086 characters: 4 A4 pages at 20 px
PARAGRAPH_REPORT = REPORTS_DIR / "001_d4093c45d226763b.txt"
HEADER = "九水街道工作简报 内部资料"
# Printed on page 2 (checked against the raw text layer in the test); with a Kangxi radical
# 「⼼」 (U+2F3C) in place of 「心」 in the page's HTML, as Chromium and Word PDFs carry them, and
# Kangxi and Radicals Supplement ones (NFKC does not map the latter) in 「人民」.
PAGE_2_PHRASE = "院士产业核心区、先导区2.63万平方米"
KANGXI = {"核心区": "核\u2f3c区", "人民": "\u2f08\u2ea0"}  # 「⼼」 U+2F3C, 「⼈」 U+2F08, 「⺠」 U+2EA0
MIN_RECALL = 0.9

# Header and footer of each printing: Chromium's templates (pageNumber/totalPages/title spans are
# filled in per page) and the texts that must not reach the report text. The header is printed
# after the body in Chromium's text layer, the footer last.
STYLES: dict[str, dict[str, Any]] = {
    "dash": {
        "header": f"<div style='font-size:10px;width:100%;text-align:center'>{HEADER}</div>",
        "footer": "<div style='font-size:10px;width:100%;text-align:center'>- <span class='pageNumber'></span> -</div>",
        "gone": [HEADER, r"^\s*-\s*\d+\s*-\s*$"],
    },
    "title_and_chinese_page_of": {  # the header repeats the report's title, which is also its first line
        "header": "<div style='font-size:10px;width:100%;text-align:center'><span class='title'></span></div>",
        "footer": "<div style='font-size:10px;width:100%;text-align:center'>第 <span class='pageNumber'></span> 页 / 共 <span class='totalPages'></span> 页</div>",
        "gone": [r"第\s*\d+\s*页"],
    },
    "english_page_of": {
        "header": "<div style='font-size:10px;width:100%;text-align:right'>Jiushui Street Bulletin 2021 No. 12</div>",
        "footer": "<div style='font-size:10px;width:100%;text-align:center'>Page <span class='pageNumber'></span> of <span class='totalPages'></span></div>",
        "gone": ["Jiushui Street Bulletin", "Page "],
    },
    "chromium_default": {  # date and title above, URL and 「n/N」 below
        "header": None,
        "footer": None,
        "gone": [r"\d+/\d+/\d+, \d+:\d+\s*[AP]M", r"about:blank\s+\d+/\d+"],
    },
}


@dataclass(frozen=True)
class Documents:
    printed: dict[str, bytes]  # style -> text PDF of REPORT
    paragraph: str  # a paragraph of PARAGRAPH_REPORT ...
    png: bytes  # ... as a screenshot
    jpeg: bytes


def _page_html(path: Path, kangxi: bool) -> str:
    lines = report_lines(path)
    body = f"<h1>{html.escape(lines[0])}</h1>" + "".join(f"<p>{html.escape(line)}</p>" for line in lines[1:])
    if kangxi:
        for plain, radicals in KANGXI.items():
            body = body.replace(plain, radicals)
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(lines[0])}"
            "</title><style>body{font-size:20px;line-height:1.6}</style></head>"
            f"<body>{body}</body></html>")


@pytest.fixture(scope="module")
def documents() -> Iterator[Documents]:
    """Everything Chromium makes, made at once; Chromium is closed before the tests run."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    printed = {}
    paragraph = next(line for line in report_lines(PARAGRAPH_REPORT) if len(line) > 120)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content(_page_html(REPORT, kangxi=True))
            for style, spec in STYLES.items():
                templates = ({"header_template": spec["header"], "footer_template": spec["footer"]}
                             if spec["header"] else {})
                printed[style] = page.pdf(format="A4", display_header_footer=True, **templates,
                                          margin={"top": "60px", "bottom": "60px", "left": "50px", "right": "50px"})
            page.set_content("<!doctype html><html lang='zh-CN'><meta charset='utf-8'><body style='margin:0'>"
                             "<p style='font-size:20px;line-height:1.6;width:720px;padding:16px;margin:0'>"
                             f"{html.escape(paragraph)}</p></body></html>")
            shot = page.locator("p")
            png, jpeg = shot.screenshot(type="png"), shot.screenshot(type="jpeg", quality=80)
        finally:
            browser.close()
    yield Documents(printed, paragraph, png, jpeg)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _recall(found: str, expected: str) -> float:
    """Share of ``expected``'s characters that the alignment with ``found`` matches."""
    a, b = (unicodedata.normalize("NFKC", _squash(text)) for text in (expected, found))
    blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks) / len(a)


def _find(text: str, phrase: str) -> int:
    """Offset of ``phrase`` in ``text`` when line breaks may fall anywhere inside it."""
    found = re.search(r"\s*".join(map(re.escape, _squash(phrase))), text)
    assert found, f"{phrase!r} not in the text"
    return found.start()


def _raw_pages(pdf: bytes) -> list[str]:
    """Each page's text layer as PDFium gives it, headers and all."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def _body(raw: str) -> str:
    """A raw page of the "dash" printing without its header and page number."""
    return "\n".join(line for line in raw.splitlines() if HEADER not in line and not is_page_number(line))


def _scan(pdf: bytes, pages: list[int], dpi: int = 150) -> bytes:
    """An image-only PDF of ``pdf``'s pages: each rendered at ``dpi`` in grey, JPEG-compressed,
    the page size kept (as a scanner makes them)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        images = [document[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for i in pages]
    finally:
        document.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


# -- text PDFs --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("style", sorted(STYLES))
def test_a_printed_pdf_reads_without_headers_footers_and_page_numbers(documents: Documents, style: str) -> None:
    pdf = documents.printed[style]
    raw = _raw_pages(pdf)
    got = read_pdf(pdf, "000.pdf", Limits())
    title = report_lines(REPORT)[0]
    assert len(raw) >= 3 and got.meta["pages"] == len(raw) == len(got.pages)
    assert got.meta["ocr_pages"] == [] and "ocr_confidence" not in got.meta and got.meta["title"] == title
    # the header and footer are in the text layer of every page, and not in the text
    for pattern in STYLES[style]["gone"]:
        assert all(re.search(pattern, page, re.M) for page in raw), (pattern, raw[1][-200:])
        assert not re.search(pattern, got.text, re.M), (pattern, re.search(pattern, got.text, re.M))
    assert not [line for line in got.text.splitlines() if is_page_number(line)]
    assert got.text.startswith(title + "\n") and got.text.count(title) == 1
    # every line of the report is there, line breaks aside, and nothing was dropped from the body
    squashed = _squash(got.text)
    missing = [line for line in report_lines(REPORT) if _squash(line) not in squashed]
    assert not missing, missing[:3]
    assert len(squashed) == len(_squash("".join(report_lines(REPORT))))
    # radicals were in the text layer (as Chromium prints them), and are unified
    assert "\u2f3c" in raw[1] and "\u2f08\u2ea0" in "".join(raw)
    assert not [ch for ch in got.text if 0x2E80 <= ord(ch) <= 0x2FDF]
    assert "人民" in got.text
    # each page starts where its body starts, and a phrase printed on page 2 maps to page 2
    assert got.pages[0] == 0 and list(got.pages) == sorted(set(got.pages))
    for number, (start, page) in enumerate(zip(got.pages, raw, strict=True), start=1):
        assert _squash(got.text[start:])[:12] == _squash(page)[:12].replace("\u2f3c", "心"), number
    assert PAGE_2_PHRASE in _squash(raw[1]).replace("\u2f3c", "心")
    assert got.page_at(_find(got.text, PAGE_2_PHRASE)) == 2
    assert got.page_at(_find(got.text, "172处安全隐患被整改")) == 2
    assert "\f" not in got.text and not re.search(r"[ \t]$", got.text, re.M)


@pytest.mark.browser
def test_extract_tells_a_pdf_by_its_bytes(documents: Documents) -> None:
    got = extract(documents.printed["dash"], "report.txt")
    assert got.format == "pdf" and got.pages and HEADER not in got.text


# -- scans and images: OCR ------------------------------------------------------------------


@pytest.mark.browser
def test_a_scanned_pdf_is_read_by_ocr(documents: Documents) -> None:
    printed = documents.printed["dash"]
    raw = _raw_pages(printed)
    scan = _scan(printed, [0, 1])
    assert all(not page.strip() for page in _raw_pages(scan))  # no text layer at all
    got = read_pdf(scan, "scan.pdf", Limits())
    assert got.meta["ocr_pages"] == [1, 2] and 0.8 < got.meta["ocr_confidence"] <= 1.0
    assert len(got.pages) == 2
    for number in (1, 2):
        start = got.pages[number - 1]
        end = got.pages[number] if number < 2 else len(got.text)
        expected = _body(raw[number - 1]).replace("\u2f3c", "心")
        recall = _recall(got.text[start:end], expected)
        print(f"OCR recall of scanned page {number}: {recall:.4f}")
        assert recall >= MIN_RECALL, (number, recall, got.text[start:start + 200])
    # the running header (same place on both pages) and the page numbers are gone from OCR text too
    assert _squash(HEADER) not in _squash(got.text)
    assert not [line for line in got.text.splitlines() if is_page_number(line)]
    assert got.page_at(_find(got.text, "172处安全隐")) == 2


@pytest.mark.browser
def test_only_pages_without_text_are_read_by_ocr(documents: Documents) -> None:
    import pypdfium2 as pdfium

    picture = _image_pdf(documents.png)
    mixed = pdfium.PdfDocument.new()
    text_pdf, image_pdf = pdfium.PdfDocument(documents.printed["dash"]), pdfium.PdfDocument(picture)
    try:
        mixed.import_pages(text_pdf, [0])
        mixed.import_pages(image_pdf, [0])
        out = io.BytesIO()
        mixed.save(out)
    finally:
        for document in (mixed, text_pdf, image_pdf):
            document.close()
    got = read_pdf(out.getvalue(), "mixed.pdf", Limits())
    assert got.meta["ocr_pages"] == [2] and len(got.pages) == 2
    first_page = got.text[: got.pages[1]]
    assert first_page.startswith(report_lines(REPORT)[0]) and "\u2f3c" not in first_page
    recall = _recall(got.text[got.pages[1]:], documents.paragraph)
    print(f"OCR recall of the picture page of a mixed PDF: {recall:.4f}")
    assert recall >= MIN_RECALL, (recall, got.text[got.pages[1]:])
    # with OCR off, the text pages are still read and the picture page is left empty
    off = read_pdf(out.getvalue(), "mixed.pdf", Limits(ocr=False))
    assert off.meta["ocr_pages"] == [] and off.text[: off.pages[1]] == first_page


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_an_image_of_a_paragraph_is_read_by_ocr(documents: Documents, kind: str) -> None:
    data = documents.png if kind == "png" else documents.jpeg
    got = extract(data, f"paragraph.{kind}")
    assert isinstance(got, Extracted) and got.format == "image" and got.pages == ()
    assert got.meta["format"] == "image" and 0.8 < got.meta["ocr_confidence"] <= 1.0
    recall = _recall(got.text, documents.paragraph)
    print(f"OCR recall of a {kind} paragraph: {recall:.4f}")
    assert recall >= MIN_RECALL, (recall, got.text)
    assert got.text == got.text.strip() and "\n\n" not in got.text  # lines, in reading order


def test_ocr_lines_are_in_reading_order() -> None:
    from indexer.ingest.readers.ocr import reading_order

    boxes = [
        ((400.0, 100.0, 600.0, 130.0), "数量：172处", 0.9),  # a table row: two columns far apart
        ((10.0, 102.0, 300.0, 131.0), "项目：安全隐患整改", 0.8),
        ((300.0, 148.0, 600.0, 178.0), "心“一亮四带”", 0.7),  # one run split by the detector, the
        ((10.0, 150.0, 312.0, 180.0), "党群服务中心", 0.6),  # boxes overlapping on 「心」
        ((10.0, 200.0, 200.0, 230.0), "Page 3", 0.5),  # Latin words keep their space
        ((210.0, 201.0, 400.0, 231.0), "of 12", 0.4),
        ((40.0, 250.0, 600.0, 280.0), "第三行", 0.3),
    ]
    lines, scores = reading_order(boxes)
    assert lines == ["项目：安全隐患整改 数量：172处", "党群服务中心“一亮四带”", "Page 3 of 12", "第三行"]
    assert scores == [0.8, 0.9, 0.6, 0.7, 0.5, 0.4, 0.3]


# -- refused files ----------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and header for ``width`` × ``height`` with a one-pixel image body:
    a few dozen bytes that claim any size (decoding it would fail, so refusing it by the size
    proves the header alone was read)."""
    small = io.BytesIO()
    from PIL import Image

    Image.new("L", (1, 1), 255).save(small, "PNG")
    data = small.getvalue()
    ihdr = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


def _jpeg_with_size(width: int, height: int) -> bytes:
    from PIL import Image

    small = io.BytesIO()
    Image.new("L", (8, 8), 255).save(small, "JPEG")
    data = bytearray(small.getvalue())
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_an_image_over_the_pixel_limit_is_refused_by_its_header() -> None:
    from PIL import Image

    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")  # 400 megapixels in ~50 kB
    assert len(bomb.getvalue()) < 100_000
    for data, size in [(bomb.getvalue(), "20000×20000"), (_png_header(30_000, 20_000), "30000×20000"),
                       (_jpeg_with_size(60_000, 50_000), "60000×50000")]:
        with pytest.raises(ReadError) as caught:
            extract(data, "bomb.png")
        assert caught.value.name == "bomb.png"
        assert caught.value.reason == f"image too large: {size} pixels, limit 40,000,000 pixels"
    with pytest.raises(ReadError, match=r"image too large: 3000×2000 pixels, limit 1,000,000"):
        read_image(_png_header(3000, 2000), "big.png", Limits(max_pixels=1_000_000))


def test_a_broken_image_or_ocr_off_is_refused() -> None:
    from PIL import Image

    good = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(good, "PNG")
    for data, reason in [(good.getvalue()[:60], "not a readable image"),
                         (_png_header(2, 2), "not a readable image"),
                         (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a readable image")]:
        with pytest.raises(ReadError) as caught:
            extract(data, "broken.png")
        assert caught.value.name == "broken.png" and caught.value.reason.startswith(reason), caught.value.reason
    with pytest.raises(ReadError, match=r"broken\.png: an image is read by OCR, and OCR is off"):
        extract(good.getvalue(), "broken.png", Limits(ocr=False))


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted_pdf(user: bytes = b"secret", owner: bytes = b"owner") -> bytes:
    """A one-page PDF encrypted by the standard security handler (RC4, 40-bit key, revision 2;
    ISO 32000-1 §7.6.3, algorithms 1-4) with user password ``user``."""
    padded_user, padded_owner = (user + _PAD)[:32], (owner + _PAD)[:32]
    o = _rc4(hashlib.md5(padded_owner).digest()[:5], padded_user)
    permissions = -44
    file_id = hashlib.md5(b"zhiwen encrypted test").digest()
    key = hashlib.md5(padded_user + o + struct.pack("<i", permissions) + file_id).digest()[:5]
    u = _rc4(key, _PAD)

    def encrypt(number: int, data: bytes) -> bytes:  # algorithm 1: a key per object
        return _rc4(hashlib.md5(key + number.to_bytes(3, "little") + b"\x00\x00").digest()[:10], data)

    content = encrypt(4, b"BT /F1 24 Tf 72 720 Td (Encrypted report text) Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (o.hex().encode(), u.hex().encode(), permissions),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    ids = file_id.hex().encode()
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 6 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, ids, ids, xref))
    return bytes(out)


def test_the_encrypted_test_pdf_is_a_real_one() -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(encrypted_pdf(), password="secret")
    try:
        assert "Encrypted report text" in document[0].get_textpage().get_text_range()
    finally:
        document.close()


def _image_pdf(image: bytes) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(image)).convert("RGB").save(out, "PDF", resolution=96)
    return out.getvalue()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("case", "limits", "reason"),
    [
        ("encrypted", Limits(), r"encrypted PDF \(password protected\)"),
        ("truncated", Limits(), r"not a readable PDF \(PDFium: Data format error\)"),
        ("random", Limits(), r"not a readable PDF \(PDFium: Data format error\)"),
        ("too many pages", Limits(max_pages=1), r"4 pages, more than the limit of 1"),
        ("scanned, OCR off", Limits(ocr=False), r"scanned PDF: OCR is off"),
        ("page too large", Limits(max_pixels=100_000),  # A4 at 72 dpi is 595×842 = 501,000 pixels
         r"page 1 is too large to read by OCR: 59\d×84\d points is over 100,000 pixels even at 72 dpi"),
        ("blank", Limits(), r"no text in this PDF \(OCR found none on its 1 scanned pages\)"),
    ],
)
def test_a_bad_pdf_is_refused_with_its_name_and_the_reason(documents: Documents, case: str,
                                                           limits: Limits, reason: str) -> None:
    import random

    printed = documents.printed["dash"]
    data = {
        "encrypted": encrypted_pdf,
        "truncated": lambda: printed[: len(printed) // 2],
        "random": lambda: b"%PDF-1.7\n" + random.Random(13).randbytes(4000),
        "too many pages": lambda: printed,
        "scanned, OCR off": lambda: _scan(printed, [0], dpi=50),
        "page too large": lambda: _scan(printed, [0], dpi=50),
        "blank": blank_pdf,
    }[case]()
    with pytest.raises(ReadError) as caught:
        extract(data, "bad.pdf", limits)
    assert caught.value.name == "bad.pdf" and re.fullmatch(reason, caught.value.reason), caught.value.reason
    assert str(caught.value) == f"bad.pdf: {caught.value.reason}"


# -- running headers and footers, page numbers (pure functions) -------------------------------


@pytest.mark.parametrize("line", ["2", "- 2 -", "— 2 —", "－12－", "第3页", "第3页共12页", "第 3 页 / 共 12 页",
                                  "第3页，共12页", "共12页 第3页", "3 / 12", "3/12", "Page 3 of 12", "page 3",
                                  "  ２  "])
def test_page_number_lines(line: str) -> None:
    assert is_page_number(line)


@pytest.mark.parametrize("line", ["2021年3月", "第3章", "共12页", "3.5万元", "172处", "- 2 - 3 -", "Page", "第三季度"])
def test_lines_that_are_not_page_numbers(line: str) -> None:
    assert not is_page_number(line)


def test_running_headers_and_footers_are_removed_and_the_body_kept() -> None:
    pages = [
        "市政府工作简报 2021年第3期\n  \n第一页正文一。\n第一页正文二。\n第一页正文三。\n内部资料 注意保存\n"
        "第一页正文四。\n第一页正文五。\n第一页正文六。\n- 1 -",  # the footer text mid-page: not at an edge
        "市政府工作简报 2021年第4期\n第二页正文一。\n第二页正文二。\n内部资料 注意保存\n- 2 -",
        "市政府工作简报 2021年第5期\n第三页正文一。\n第三页正文二。   \n内部资料 注意保存\n第 3 页",
        "第四页正文一。\n第四页正文二。\n内部资料 注意保存\n4",  # no header on the last page
    ]
    assert remove_running_lines(pages) == [
        "第一页正文一。\n第一页正文二。\n第一页正文三。\n内部资料 注意保存\n第一页正文四。\n第一页正文五。\n第一页正文六。",
        "第二页正文一。\n第二页正文二。",
        "第三页正文一。\n第三页正文二。",
        "第四页正文一。\n第四页正文二。",
    ]
    # a line at the edge of fewer than half of the pages is body text
    pages[3] = "第四页正文一。\n第四页正文二。\n第四页正文三。\n4"
    pages[2] = pages[2].replace("内部资料 注意保存", "第三页正文三。")
    assert remove_running_lines(pages)[1:] == [
        "第二页正文一。\n第二页正文二。\n内部资料 注意保存", "第三页正文一。\n第三页正文二。\n第三页正文三。",
        "第四页正文一。\n第四页正文二。\n第四页正文三。"]


def test_headers_whose_number_changes_and_a_title_that_is_also_the_header() -> None:
    title = "党建统领惠民生 激发干事创业新动能"
    pages = [f"{title}\n导语。\n正文甲。\n正文乙。\n{title}\n第1期 内部资料\n1/3",
             f"正文丙。\n正文丁。\n正文戊。\n{title}\n第2期 内部资料\n2/3",
             f"正文己。\n正文庚。\n{title}\n第3期 内部资料\n3/3"]
    assert remove_running_lines(pages) == [f"{title}\n导语。\n正文甲。\n正文乙。",
                                           "正文丙。\n正文丁。\n正文戊。", "正文己。\n正文庚。"]


def test_two_pages_lose_the_lines_they_share_at_the_same_place() -> None:
    pages = ["街道简报\n甲页正文一。\n甲页正文二。\n结尾相同。\n— 1 —",
             "街道简报\n乙页正文一。\n结尾相同。\n乙页正文二。\n— 2 —"]
    # the header is on both pages' first line; 「结尾相同。」 is at different places: kept
    assert remove_running_lines(pages) == ["甲页正文一。\n甲页正文二。\n结尾相同。",
                                           "乙页正文一。\n结尾相同。\n乙页正文二。"]


def test_one_page_loses_only_its_page_number() -> None:
    assert remove_running_lines(["标题\n正文。\n\n- 1 -\n"]) == ["标题\n正文。"]
    assert remove_running_lines(["1\n正文第一行。\n正文第二行。\n正文第三行。\n正文第四行。\n5\n正文第五行。\n正文六。\n正文七。\n正文八。"]) == [
        "正文第一行。\n正文第二行。\n正文第三行。\n正文第四行。\n5\n正文第五行。\n正文六。\n正文七。\n正文八。"]
