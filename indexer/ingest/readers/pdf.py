"""PDF to report text with pypdfium2 (Apache-2.0 / BSD-3-Clause; not PyMuPDF, which is AGPL).

Per page: the text layer, with running headers and footers removed (lines among the first or
last few of a page that, digits ignored, stand there on at least half of the pages; with two
pages, at the same place on both) and page-number lines (「- 2 -」「第3页共12页」「3 / 12」
「Page 3 of 12」) removed, and compatibility characters (the Kangxi radicals Chromium and Word put
in text layers, 「⼼」 for 「心」) mapped to the ideographs queries use. Line breaks are kept: the
cleaner rejoins lines broken by the layout by the same rules as for ``.txt`` reports. Pages are
joined with a blank line (not a form feed, which separates reports) and ``Extracted.pages``
records where each starts, so citations can name their page.

A page without a text layer (a scan) is rendered and read by OCR (:mod:`.ocr`) within the pixel
limit; ``meta["ocr_pages"]`` lists those pages, ``meta["ocr_confidence"]`` is their mean score and
``meta["ocr_page_confidence"]`` each one's (``[[page, score], …]``). OCR is bounded per file
(:class:`~indexer.ingest.readers.base.Limits`): more pages without text than ``max_ocr_pages`` are
refused before any is read, OCR stops at the first page past ``max_ocr_seconds``, and a run of
``max_blank_pages`` pages where it finds nothing refuses the file there.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from embeddings.progress import report as report_progress
from indexer.ingest.decode import OverLimit, ReadError
from indexer.ingest.readers.base import Extracted, Limits, compatibility_to_unified

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PdfLayout:
    """Where running headers and footers are looked for; each number says how it was chosen."""

    # Lines at each end of a page that may be header or footer. Chromium prints its header and
    # footer after the body in the text layer, Word before and after it; one or two lines each
    # is usual, and 3 leaves room for a two-line header without reaching into the body.
    edge_lines: int = 3
    # A line is running when it stands at an edge of at least this share of the pages (pages
    # 1 and the last often differ: a title page, a last page without a footer).
    repeat_share: float = 0.5
    # OCR of more pages than this shows a progress bar (a page takes several seconds on 2 cores).
    progress_after: int = 3


DEFAULT_LAYOUT = PdfLayout()

_DASHES = "-‐‑‒–—―－~～·•"
# A page number alone on a line (whitespace removed first): 「2」「- 2 -」「— 2 —」「第3页」
# 「第3页共12页」「第 3 页 / 共 12 页」「共12页 第3页」「3 / 12」「Page 3」「Page 3 of 12」.
_PAGE_NUMBER = re.compile(
    rf"""^(?:
        [{_DASHES}]*\d{{1,4}}[{_DASHES}]*
      | 第\d{{1,4}}页(?:[/／|,，、.。]?共\d{{1,4}}页)?
      | 共\d{{1,4}}页[/／|,，、.。]?第\d{{1,4}}页
      | \d{{1,4}}[/／]\d{{1,4}}
      | (?:page|p\.?)\d{{1,4}}(?:(?:of|/)\d{{1,4}})?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")

# PDFium is not thread-safe (not even across documents): every call into it holds this lock.
# OCR runs outside it, so one file's OCR does not stop another file's text extraction.
_PDFIUM = threading.Lock()


def read_pdf(data: bytes, name: str, limits: Limits) -> Extracted:
    """The text of a PDF; pages without a text layer are read by OCR (see the module docstring)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
                raise ReadError(name, "encrypted PDF (password protected)") from exc
            raise ReadError(name, f"not a readable PDF ({_reason(exc)})") from exc
    try:
        with _PDFIUM:
            count = len(pdf)
            if count == 0:
                raise ReadError(name, "not a readable PDF (no pages)")
            if count > limits.max_pages:
                raise OverLimit(name, f"{count} pages, more than the limit of {limits.max_pages}")
            texts = [_page_text(pdf, i, name) for i in range(count)]
            title = _title(pdf)
        scanned = [i for i, text in enumerate(texts) if not text.strip()]
        meta: dict[str, Any] = {"format": "pdf", "pages": count, "ocr_pages": []}
        if scanned and not limits.ocr and len(scanned) == count:
            raise ReadError(name, "scanned PDF: OCR is off")
        if scanned and limits.ocr and len(scanned) > limits.max_ocr_pages:
            raise OverLimit(name, f"{len(scanned)} of its {count} pages have no text layer, more than "
                                  f"the limit of {limits.max_ocr_pages} pages read by OCR (max_ocr_pages)")
        if scanned and limits.ocr:
            per_page = _ocr_pages(pdf, scanned, texts, name, limits)
            meta["ocr_pages"] = [i + 1 for i in scanned]
            scores = [s for page_scores in per_page.values() for s in page_scores]
            if scores:
                meta["ocr_confidence"] = round(sum(scores) / len(scores), 4)
                meta["ocr_page_confidence"] = [[i + 1, round(sum(s) / len(s), 4)]
                                               for i, s in sorted(per_page.items()) if s]
        elif scanned:
            log.info("%s: %d of %d pages have no text layer and OCR is off; left empty",
                     name, len(scanned), count)
    finally:
        with _PDFIUM:
            pdf.close()
    if title:
        meta["title"] = title
    pages = remove_running_lines([compatibility_to_unified(_tidy(text)) for text in texts])
    starts: list[int] = []
    offset = 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + 2  # the blank line between pages
    text = "\n\n".join(pages)
    if not text.strip():
        reason = "no text in this PDF"
        if meta["ocr_pages"]:
            reason += f" (OCR found none on its {len(scanned)} scanned pages)"
        raise ReadError(name, reason)
    return Extracted(text + "\n", "pdf", tuple(starts), meta)


def remove_running_lines(pages: list[str], layout: PdfLayout = DEFAULT_LAYOUT) -> list[str]:
    """Pages without page-number lines at their edges and without running headers and footers.

    An edge is the first or last ``layout.edge_lines`` non-blank lines (page numbers not counted).
    A line there is running when, whitespace removed and digit runs read as one digit ('第3期'
    and '第4期' alike), it stands at an edge of at least ``repeat_share`` of the pages (at least
    two); with two pages, when it stands at the same place on both. A page holding a running
    line more often than the others (the report title on page 1, also printed as a header)
    keeps the extra copies: the first of them, so page 1 still starts with its title.
    Each page comes back with its lines right-stripped and no blank lines at either end."""
    split = [[line.rstrip() for line in page.split("\n")] for page in pages]
    drop: list[set[int]] = []
    edges: list[tuple[list[int], list[int]]] = []
    for lines in split:
        numbers = {i for i, line in enumerate(lines) if _is_edge_page_number(lines, i, layout)}
        rest = [i for i, line in enumerate(lines) if line.strip() and i not in numbers]
        drop.append(numbers)
        edges.append((rest[: layout.edge_lines], rest[-layout.edge_lines :][::-1]))
    if len(split) == 2:
        for side in (0, 1):  # top lines from the top, bottom lines from the bottom
            for a, b in zip(edges[0][side], edges[1][side], strict=False):
                if _key(split[0][a]) == _key(split[1][b]):
                    drop[0].add(a)
                    drop[1].add(b)
    elif len(split) >= 3:
        per_page = [Counter(_key(split[p][i]) for i in _edge_indices(edges[p]))
                    for p in range(len(split))]
        pages_with = Counter(key for counts in per_page for key in counts)
        need = max(2, math.ceil(len(split) * layout.repeat_share))
        for key, n in pages_with.items():
            if n < need:
                continue
            usual = Counter(counts[key] for counts in per_page if counts[key]).most_common(1)[0][0]
            for p in range(len(split)):
                at = [i for i in sorted(_edge_indices(edges[p])) if _key(split[p][i]) == key]
                drop[p].update(at[len(at) - min(usual, len(at)) :])
    return ["\n".join(line for i, line in enumerate(lines) if i not in gone).strip("\n")
            for lines, gone in zip(split, drop, strict=True)]


def is_page_number(line: str) -> bool:
    """Whether a line is only a page number (「- 2 -」「第3页共12页」「3 / 12」「Page 3 of 12」)."""
    return bool(_PAGE_NUMBER.match(re.sub(r"\s+", "", line)))


def _is_edge_page_number(lines: list[str], i: int, layout: PdfLayout) -> bool:
    """A page-number line among the first or last ``edge_lines`` non-blank lines."""
    if not lines[i].strip() or not is_page_number(lines[i]):
        return False
    before = sum(1 for line in lines[:i] if line.strip())
    after = sum(1 for line in lines[i + 1 :] if line.strip())
    return min(before, after) < layout.edge_lines


def _edge_indices(edge: tuple[list[int], list[int]]) -> set[int]:
    return set(edge[0]) | set(edge[1])


def _key(line: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", line))


def _tidy(text: str) -> str:
    """PDFium's page text with ``\\n`` line ends, no control characters, no trailing spaces."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _reason(exc: Exception) -> str:
    return str(exc).removeprefix("Failed to load document ").strip("(). ")[:120] or type(exc).__name__


def _page_text(pdf: Any, index: int, name: str) -> str:
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
        textpage = page.get_textpage()
        try:
            return str(textpage.get_text_range())
        finally:
            textpage.close()
            page.close()
    except pdfium.PdfiumError as exc:
        raise ReadError(name, f"not a readable PDF (page {index + 1}: {_reason(exc)})") from exc


def _title(pdf: Any) -> str:
    try:
        title = str(pdf.get_metadata_dict().get("Title") or "").strip()
    except Exception:  # broken metadata must not cost the text
        log.debug("unreadable PDF metadata", exc_info=True)
        return ""
    title = title.removeprefix("Microsoft Word - ")
    return "" if title.lower() in ("untitled", "about:blank") else compatibility_to_unified(title)


def _render_scale(width: float, height: float, max_pixels: int) -> float | None:
    """The scale to render a ``width`` × ``height`` point page at for OCR: about the recogniser's
    working size, at least 1 (72 dpi), within ``max_pixels``; None when even scale 1 exceeds it."""
    from indexer.ingest.readers.ocr import DEFAULT_OCR

    if math.ceil(width) * math.ceil(height) > max_pixels:
        return None
    wanted = DEFAULT_OCR.long_side / max(1.0, width, height)
    scale = min(max(1.0, wanted), DEFAULT_OCR.max_scale, math.sqrt(max_pixels / max(1.0, width * height)))
    while scale > 1.0 and math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
        scale = max(1.0, scale - 0.01)  # PDFium rounds the bitmap size up
    return scale


def _ocr_pages(pdf: Any, scanned: list[int], texts: list[str], name: str, limits: Limits,
               layout: PdfLayout = DEFAULT_LAYOUT) -> dict[int, list[float]]:
    """OCR the ``scanned`` pages into ``texts``; the recogniser's line scores of each page.
    Every page's size is checked before the first is rendered."""
    from indexer.ingest.readers.ocr import ocr_image

    scales: dict[int, float] = {}
    with _PDFIUM:
        for i in scanned:
            page = pdf[i]
            width, height = page.get_size()  # points (1/72 inch)
            page.close()
            scale = _render_scale(width, height, limits.max_pixels)
            if scale is None:
                raise OverLimit(name, f"page {i + 1} is too large to read by OCR: "
                                      f"{round(width)}×{round(height)} points is over "
                                      f"{limits.max_pixels:,} pixels even at 72 dpi")
            scales[i] = scale
    pages: Iterable[int] = scanned
    if len(scanned) > layout.progress_after:
        from tqdm import tqdm

        pages = tqdm(scanned, desc=f"OCR {name}", unit="page", leave=False)
    log.info("%s: reading %d pages without a text layer by OCR", name, len(scanned))
    scores: dict[int, list[float]] = {}
    started = time.monotonic()
    blank_run: list[int] = []  # the pages of the current run where OCR found nothing
    for done, i in enumerate(pages, start=1):
        report_progress("ocr", done - 1, len(scanned))
        with _PDFIUM:
            page = pdf[i]
            try:
                bitmap = page.render(scale=scales[i])
                image = bitmap.to_pil().convert("RGB")  # a copy: the bitmap's memory is freed now
                bitmap.close()
            finally:
                page.close()
        if _one_colour(image):  # nothing drawn on it: nothing to read
            texts[i], scores[i] = "", []
        else:
            result = ocr_image(image)
            texts[i] = result.text
            scores[i] = list(result.scores)
        blank_run = [*blank_run, i] if not texts[i].strip() else []
        if len(blank_run) >= limits.max_blank_pages:
            raise ReadError(name, f"no text on pages {blank_run[0] + 1}–{blank_run[-1] + 1}: "
                                  f"{len(blank_run)} pages in a row without a text layer where OCR "
                                  f"found nothing (max_blank_pages); refused after reading {done} of "
                                  f"{len(scanned)} pages by OCR")
        elapsed = time.monotonic() - started
        if elapsed > limits.max_ocr_seconds and done < len(scanned):
            raise OverLimit(name, f"OCR took {elapsed:.1f} s for {done} of its {len(scanned)} pages without "
                                  f"a text layer, over the limit of {limits.max_ocr_seconds:g} s "
                                  f"(max_ocr_seconds)")
    return scores


def _one_colour(image: Any) -> bool:
    """Whether a rendered page is a single colour (a blank page: OCR would find nothing)."""
    return all(low == high for low, high in image.getextrema())
