"""Curated answers (FAQ): question–answer pairs staff maintain, answered as they were written when a
question is close enough to one of them.

* :class:`FaqStore` keeps them durably (SQLite, WAL), with their optional source report.
* :func:`read_table` reads an import file: CSV (UTF-8 or GBK) or XLSX, columns ``question``,
  ``answer``, ``source`` (or 问题, 答案, 来源), a header row first, within :class:`TableLimits`
  checked while reading (an .xlsx's unpacked size and declared size first: a zip or row bomb is
  refused before its rows are parsed, and reading stops at the first row over the limit).
* :class:`FaqMatcher` embeds the curated questions with the service's model (each distinct
  question once: a change embeds only the questions it adds) and finds the closest
  one to a question: the cosine of the two query embeddings must reach the threshold, fitted by
  ``zhiwen fit-faq`` on held-out paraphrases (``eval/faq.py``, ``faq_threshold.json`` beside this
  file; ``ZHIWEN_FAQ_THRESHOLD`` overrides it). A curated answer is marked as such; a near miss
  falls through to the reports.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import threading
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from embeddings import Embedder

log = logging.getLogger(__name__)

THRESHOLD_FILE = Path(__file__).with_name("faq_threshold.json")
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 5000
MAX_ROWS = 5000  # rows one import may hold (the default of TableLimits.max_rows)
_COLUMNS = {"question": "question", "问题": "question", "answer": "answer", "答案": "answer",
            "source": "source", "来源": "source", "来源报告": "source"}


class FaqError(ValueError):
    """A curated answer or import that cannot be taken; the message names the row or field."""


class FaqTooLarge(FaqError):
    """An import over one of its :class:`TableLimits` (HTTP 413); the message names the file,
    the limit and where reading stopped."""


@dataclass(frozen=True)
class TableLimits:
    """What one import file may cost to read; each is checked while reading, so an over-limit
    file is refused after at most the limit's worth of work (``service.kb.faq_import_limits``)."""

    max_rows: int = MAX_ROWS  # rows with content after the header
    # Cells read, blank ones and blank rows included (a row padded to column XFD, or a gap of a
    # million rows, costs its width); 5,000 rows of 3 columns are 15,000.
    max_cells: int = 100_000
    # All parts of an .xlsx unpacked (a sheet of 600k rows is ~24 MB of XML in a 182 KB zip);
    # 5,000 curated answers at the field limits are well under it in shared strings.
    max_unzipped_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True)
class Curated:
    id: str
    question: str
    answer: str
    source: str = ""  # the report it comes from (doc_id), if any
    created_at: str = ""


@dataclass(frozen=True)
class CuratedMatch:
    curated: Curated
    similarity: float


def packaged_threshold() -> float:
    """The threshold ``zhiwen fit-faq`` chose (see ``faq_threshold.json``)."""
    return float(json.loads(THRESHOLD_FILE.read_text(encoding="utf-8"))["threshold"])


def check(question: str, answer: str, source: str = "", where: str = "") -> tuple[str, str, str]:
    """The fields trimmed; :class:`FaqError` naming the field (and ``where``) when one is bad."""
    question, answer, source = question.strip(), answer.strip(), (source or "").strip()
    prefix = f"{where}: " if where else ""
    if not question:
        raise FaqError(f"{prefix}question is empty")
    if not answer:
        raise FaqError(f"{prefix}answer is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise FaqError(f"{prefix}question is over {MAX_QUESTION_CHARS} characters")
    if len(answer) > MAX_ANSWER_CHARS:
        raise FaqError(f"{prefix}answer is over {MAX_ANSWER_CHARS} characters")
    if len(source) > 200:
        raise FaqError(f"{prefix}source is over 200 characters")
    return question, answer, source


def read_table(data: bytes, name: str, limits: TableLimits | None = None) -> list[tuple[int, dict[str, str]]]:
    """(row number, {question, answer, source}) of an import file; :class:`FaqError` names
    what is wrong with the file as a whole (format, header), :class:`FaqTooLarge` the limit it
    is over. CPU-bound for large files: call it off the event loop."""
    limits = limits or TableLimits()
    rows: Iterator[list[str]]
    if name.lower().endswith(".xlsx") or data[:2] == b"PK":
        rows = _xlsx_rows(data, name, limits)
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise FaqError(f"{name}: not UTF-8 or GBK text, nor an .xlsx workbook")
        # a lone CR (old Mac line ends, or a stray one inside a cell) ends a row, as LF does
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        rows = _csv_rows(text, name)
    header: list[str | None] | None = None
    out: list[tuple[int, dict[str, str]]] = []
    cells = 0
    for number, row in enumerate(rows, start=1):
        cells += max(1, len(row))
        if cells > limits.max_cells:
            raise FaqTooLarge(f"{name}: more than {limits.max_cells:,} cells (reading stopped at row "
                              f"{number:,}; at most {limits.max_cells:,} in one import: max_cells)")
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [_COLUMNS.get(cell.strip().lower()) for cell in row]
            if "question" not in header or "answer" not in header:
                raise FaqError(f"{name}: the first row must name the columns question and answer "
                               "(or 问题 and 答案), and may name source (来源)")
            continue
        if len(out) >= limits.max_rows:
            raise FaqTooLarge(f"{name}: more than {limits.max_rows:,} rows (reading stopped at row "
                              f"{number:,}; at most {limits.max_rows:,} in one import: max_rows)")
        record = {field: (row[i].strip() if i < len(row) else "") for i, field in enumerate(header) if field}
        out.append((number, {k: record.get(k, "") for k in ("question", "answer", "source")}))
    if header is None:
        raise FaqError(f"{name}: no rows")
    return out


def _csv_rows(text: str, name: str) -> Iterator[list[str]]:
    """The rows of a CSV text, one at a time (the caller stops at its limits)."""
    try:
        yield from (list(row) for row in csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise FaqError(f"{name}: not a readable CSV table ({exc})") from None


# A worksheet with no cells, declaring its size: what each sheet is replaced by while openpyxl
# opens the workbook (see _xlsx_rows).
_EMPTY_SHEET = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b'<dimension ref="A1"/><sheetData/></worksheet>')


def _xlsx_rows(data: bytes, name: str, limits: TableLimits) -> Iterator[list[str]]:
    """The rows of an .xlsx's first sheet, streamed (openpyxl read-only), each parsed only when
    the caller asks for it. Refused before any row is parsed: unpacked parts over
    ``max_unzipped_bytes``, or a declared size (the sheet's ``<dimension>``) over ``max_cells``.
    The declared size is then ignored, so a sheet that understates it is read to its end (within
    the limits) rather than cut short.

    openpyxl reads every sheet's size when it opens a workbook, and a sheet that declares none
    it parses to its end for it (seconds for a 600k-row sheet, before the first row is seen). So
    the workbook is opened with its sheets replaced by empty ones (shared strings, styles and
    date formats as they are), and the first sheet is then streamed from the real file."""
    import zipfile

    from openpyxl import load_workbook

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        unzipped = sum(info.file_size for info in archive.infolist())
        if unzipped > limits.max_unzipped_bytes:
            raise FaqTooLarge(f"{name}: unpacks to {unzipped:,} bytes, over the limit of "
                              f"{limits.max_unzipped_bytes:,} (max_unzipped_bytes); a zip bomb?")
        stub = io.BytesIO()
        with zipfile.ZipFile(stub, "w") as out:
            for info in archive.infolist():
                sheet_part = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
                out.writestr(info.filename, _EMPTY_SHEET if sheet_part else archive.read(info))
        book = load_workbook(stub, read_only=True, data_only=True)
    except FaqError:
        raise
    except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, SyntaxError, OSError) as exc:
        raise FaqError(f"{name}: not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        path = sheet._worksheet_path  # type: ignore[union-attr]  # the read-only sheet's part
        try:
            declared = _declared_size(archive, path)
        except (KeyError, SyntaxError, zlib.error, zipfile.BadZipFile, OSError) as exc:
            raise FaqError(f"{name}: not a readable .xlsx workbook ({type(exc).__name__}: "
                           f"{str(exc)[:120]})") from None
        if declared is not None and declared[0] * declared[1] > limits.max_cells:
            raise FaqTooLarge(f"{name}: the sheet declares {declared[0]:,} rows × {declared[1]:,} columns, "
                              f"over the limit of {limits.max_cells:,} cells (max_cells)")
        book._archive.close()  # type: ignore[attr-defined]
        book._archive = archive  # type: ignore[attr-defined]  # rows come from the real sheet
        sheet.reset_dimensions()  # type: ignore[union-attr]
        try:
            for row in sheet.iter_rows(values_only=True):
                yield ["" if v is None else str(v) for v in row]
        except FaqError:
            raise
        except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, SyntaxError, OSError) as exc:
            # a broken part found while streaming (bad XML is a SyntaxError, a bad deflate stream
            # a zlib.error)
            raise FaqError(f"{name}: not a readable .xlsx workbook ({type(exc).__name__}: "
                           f"{str(exc)[:120]})") from None
    finally:
        book.close()
        archive.close()


def _declared_size(archive: zipfile.ZipFile, path: str) -> tuple[int, int] | None:
    """(rows, columns) a sheet's ``<dimension>`` declares, read from the part's start (it comes
    before the cells: reading stops at ``<sheetData>``); None when it declares none."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import range_boundaries

    with archive.open(path) as source:
        for _event, element in iterparse(source, events=("start",)):
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "dimension":
                try:
                    min_col, min_row, max_col, max_row = range_boundaries(element.get("ref", ""))
                except (ValueError, TypeError):
                    return None
                if None in (min_col, min_row, max_col, max_row):
                    return None
                return int(max_row) - int(min_row) + 1, int(max_col) - int(min_col) + 1  # type: ignore[arg-type,operator]
            if tag == "sheetData":
                return None
    return None


class FaqStore:
    """Curated answers in SQLite (WAL): safe for the service's threads and other processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS curated (id TEXT PRIMARY KEY, question TEXT NOT NULL, "
                       "answer TEXT NOT NULL, source TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def all(self) -> list[Curated]:
        with self._lock, self._connect() as db:
            rows = db.execute("SELECT id, question, answer, source, created_at FROM curated "
                              "ORDER BY created_at, id").fetchall()
        return [Curated(*row) for row in rows]

    def add_many(self, items: Iterable[tuple[str, str, str]]) -> list[Curated]:
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        made = [Curated(uuid.uuid4().hex[:12], q, a, s, now) for q, a, s in items]
        with self._lock, self._connect() as db:
            db.executemany("INSERT INTO curated VALUES (?, ?, ?, ?, ?)",
                           [(c.id, c.question, c.answer, c.source, c.created_at) for c in made])
        return made

    def add(self, question: str, answer: str, source: str = "") -> Curated:
        return self.add_many([check(question, answer, source)])[0]

    def delete(self, faq_id: str) -> bool:
        with self._lock, self._connect() as db:
            return db.execute("DELETE FROM curated WHERE id = ?", (faq_id,)).rowcount > 0


class FaqMatcher:
    """The curated questions, embedded; :meth:`match` finds a question's curated answer.

    Embeddings are kept by question text, so a change embeds only the questions it adds (with
    5,000 curated answers, re-embedding them all took over a minute of CPU per change)."""

    def __init__(self, embedder: Embedder, store: FaqStore, threshold: float) -> None:
        self.embedder = embedder
        self.store = store
        self.threshold = threshold
        self._items: tuple[tuple[Curated, ...], npt.NDArray[np.float32]] = ((), np.zeros((0, embedder.dim), np.float32))
        self._by_text: dict[str, npt.NDArray[np.float32]] = {}
        self._reload_lock = threading.Lock()  # two changes at once: one reloads after the other
        self.reload()

    def reload(self) -> None:
        """Read the store again (after a change) and embed the questions not embedded yet."""
        with self._reload_lock:
            curated = tuple(self.store.all())
            known = self._by_text
            new = list(dict.fromkeys(c.question for c in curated if c.question not in known))
            if new:
                encoded = np.asarray(self.embedder.encode_queries(new), np.float32)
                known = {**known, **dict(zip(new, encoded, strict=True))}
            # questions no longer curated are forgotten
            self._by_text = {c.question: known[c.question] for c in curated}
            vectors = (np.stack([self._by_text[c.question] for c in curated]) if curated
                       else np.zeros((0, self.embedder.dim), np.float32))
            self._items = (curated, vectors)  # one assignment: a match in progress sees old or new

    @property
    def curated(self) -> Sequence[Curated]:
        return self._items[0]

    def match(self, question: str) -> CuratedMatch | None:
        curated, vectors = self._items
        if not curated:
            return None
        vector = np.asarray(self.embedder.encode_queries([question.strip()])[0], np.float32)
        sims = vectors @ vector
        best = int(np.argmax(sims))
        if float(sims[best]) < self.threshold:
            return None
        return CuratedMatch(curated[best], float(sims[best]))
