"""Curated answers (FAQ): question–answer pairs staff maintain, answered as they were written when a
question is close enough to one of them.

* :class:`FaqStore` keeps them durably (SQLite, WAL), with their optional source report.
* :func:`read_table` reads an import file: CSV (UTF-8 or GBK) or XLSX, columns ``question``,
  ``answer``, ``source`` (or 问题, 答案, 来源), a header row first.
* :class:`FaqMatcher` embeds the curated questions with the service's model and finds the closest
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
from collections.abc import Iterable, Sequence
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
MAX_ROWS = 5000  # rows one import may hold
_COLUMNS = {"question": "question", "问题": "question", "answer": "answer", "答案": "answer",
            "source": "source", "来源": "source", "来源报告": "source"}


class FaqError(ValueError):
    """A curated answer or import that cannot be taken; the message names the row or field."""


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


def read_table(data: bytes, name: str) -> list[tuple[int, dict[str, str]]]:
    """(row number, {question, answer, source}) of an import file; :class:`FaqError` names
    what is wrong with the file as a whole (format, header)."""
    rows: list[list[str]]
    if name.lower().endswith(".xlsx") or data[:2] == b"PK":
        rows = _xlsx_rows(data, name)
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
        try:
            rows = [list(r) for r in csv.reader(io.StringIO(text))]
        except csv.Error as exc:
            raise FaqError(f"{name}: not a readable CSV table ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise FaqError(f"{name}: no rows")
    header = [_COLUMNS.get(cell.strip().lower()) for cell in rows[0]]
    if "question" not in header or "answer" not in header:
        raise FaqError(f"{name}: the first row must name the columns question and answer "
                       "(or 问题 and 答案), and may name source (来源)")
    if len(rows) - 1 > MAX_ROWS:
        raise FaqError(f"{name}: {len(rows) - 1} rows, at most {MAX_ROWS} in one import")
    out = []
    for number, row in enumerate(rows[1:], start=2):
        record = {field: (row[i].strip() if i < len(row) else "") for i, field in enumerate(header) if field}
        out.append((number, {k: record.get(k, "") for k in ("question", "answer", "source")}))
    return out


def _xlsx_rows(data: bytes, name: str) -> list[list[str]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise FaqError(f"{name}: not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


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
    """The curated questions, embedded; :meth:`match` finds a question's curated answer."""

    def __init__(self, embedder: Embedder, store: FaqStore, threshold: float) -> None:
        self.embedder = embedder
        self.store = store
        self.threshold = threshold
        self._items: tuple[tuple[Curated, ...], npt.NDArray[np.float32]] = ((), np.zeros((0, embedder.dim), np.float32))
        self.reload()

    def reload(self) -> None:
        """Read the store again (after a change) and embed its questions."""
        curated = tuple(self.store.all())
        vectors = (np.asarray(self.embedder.encode_queries([c.question for c in curated]), np.float32)
                   if curated else np.zeros((0, self.embedder.dim), np.float32))
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
