"""Feedback on answers: the recent answers by id, and the durable feedback store (no HTTP).

* ``AnswerLog``: a bounded, thread-safe LRU of the last answers the service gave (question,
  answer text, citations, index version), so feedback only needs the answer's id.
Both belong to a knowledge base (``kb``): an answer is remembered with the knowledge base that
gave it, and feedback is stored, listed and exported per knowledge base, so a key scoped to one
never sees or rates another's answers.

* ``FeedbackStore``: feedback rows in SQLite (WAL mode; one connection behind a lock, so the
  threadpool's concurrent writes are serialised in-process and other processes wait on SQLite's
  busy timeout). Rows keep everything needed to replay the question later, even when the answer
  has long left the ``AnswerLog``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

Rating = Literal["up", "down"]
BUSY_TIMEOUT_MS = 10_000  # another process writing: wait this long before "database is locked"


@dataclass(frozen=True)
class CitedSpan:
    """What an answer cited: ``quote == report.text[start:end]`` of report ``doc_id``."""

    n: int
    doc_id: str
    start: int
    end: int
    quote: str


@dataclass(frozen=True)
class AnswerRecord:
    """One answer the service gave, as feedback refers to it."""

    answer_id: str
    question: str
    answer: str
    answerable: bool | None
    citations: tuple[CitedSpan, ...]
    index_version: str
    created_at: float  # Unix time
    kb: str = "default"  # the knowledge base that answered


@dataclass(frozen=True)
class Correction:
    """What the user says is right: the answer text, and/or the report and passage holding it."""

    answer: str | None = None
    doc_id: str | None = None
    quote: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.answer or self.doc_id or self.quote)


@dataclass(frozen=True)
class Feedback:
    """A stored feedback row: the rating and correction with the answer they are about."""

    feedback_id: int
    answer_id: str
    question: str
    answer: str
    answerable: bool | None
    citations: tuple[CitedSpan, ...]
    index_version: str
    rating: Rating
    correction: Correction | None
    comment: str | None
    created_at: str  # ISO 8601, UTC
    kb: str = "default"  # the knowledge base of the answer (and of the correction's report)


class AnswerLog:
    """The last ``capacity`` answers by id (least recently given first out). Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, AnswerRecord] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, record: AnswerRecord) -> None:
        with self._lock:
            self._items[record.answer_id] = record
            self._items.move_to_end(record.answer_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, answer_id: str) -> AnswerRecord | None:
        with self._lock:
            return self._items.get(answer_id)

    def forget_kb(self, kb: str) -> None:
        """Drop the answers a deleted knowledge base gave: their ids name nothing any more."""
        with self._lock:
            for answer_id in [i for i, r in self._items.items() if r.kb == kb]:
                del self._items[answer_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def now_iso() -> str:
    """The current time as stored: ISO 8601 UTC with microseconds, so text order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_utc(moment: datetime) -> str:
    """``moment`` in the stored format (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    answerable INTEGER,
    citations TEXT NOT NULL,          -- JSON list of {n, doc_id, start, end, quote}
    index_version TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    correction TEXT,                  -- JSON {answer, doc_id, quote} or NULL
    comment TEXT,
    created_at TEXT NOT NULL,         -- ISO 8601 UTC
    kb TEXT NOT NULL DEFAULT 'default'  -- the knowledge base of the answer
);
CREATE INDEX IF NOT EXISTS feedback_created ON feedback (created_at);
"""
# A database written before feedback had a knowledge base: its rows were all about ``default``.
_ADD_KB = "ALTER TABLE feedback ADD COLUMN kb TEXT NOT NULL DEFAULT 'default'"
_KB_INDEX = "CREATE INDEX IF NOT EXISTS feedback_kb_created ON feedback (kb, created_at)"


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring an older table up to date in place (rows kept), under SQLite's write lock so two
    processes opening the same file at once do not both add the column."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}
        if "kb" not in columns:
            conn.execute(_ADD_KB)
            log.info("feedback database: added the kb column (existing rows are 'default')")
        conn.execute(_KB_INDEX)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class FeedbackStore:
    """Feedback rows in one SQLite file (WAL). ``open`` creates the file and table if needed."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    def open(cls, path: Path) -> FeedbackStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: requests run on threadpool threads; the lock serialises use
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                               isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"{path}: cannot use WAL mode (got {mode})")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            conn.executescript(_SCHEMA)
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add(
        self,
        record: AnswerRecord,
        rating: Rating,
        correction: Correction | None = None,
        comment: str | None = None,
    ) -> Feedback:
        """Store one feedback row (committed before returning) and return it with its id."""
        created = now_iso()
        citations = json.dumps([asdict(c) for c in record.citations], ensure_ascii=False)
        corrected = None if correction is None else json.dumps(asdict(correction), ensure_ascii=False)
        answerable = None if record.answerable is None else int(record.answerable)
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO feedback (answer_id, question, answer, answerable, citations, "
                "index_version, rating, correction, comment, created_at, kb) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.answer_id, record.question, record.answer, answerable, citations,
                 record.index_version, rating, corrected, comment, created, record.kb),
            )
            feedback_id = int(cursor.lastrowid or 0)
        return Feedback(feedback_id, record.answer_id, record.question, record.answer,
                        record.answerable, record.citations, record.index_version, rating,
                        correction, comment, created, record.kb)

    def list(
        self,
        *,
        kb: str | None = None,
        rating: Rating | None = None,
        since: str | None = None,
        corrected: bool | None = None,
        limit: int | None = None,
    ) -> list[Feedback]:
        """Feedback newest first; ``kb``: of that knowledge base only (None: every one, for the
        command line; the API always names one); ``since`` is an ISO time as ``iso_utc`` writes it."""
        where: list[str] = []
        params: list[Any] = []
        if kb is not None:
            where.append("kb = ?")
            params.append(kb)
        if rating is not None:
            where.append("rating = ?")
            params.append(rating)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        if corrected is not None:
            where.append("correction IS NOT NULL" if corrected else "correction IS NULL")
        sql = "SELECT * FROM feedback"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            cursor = self._conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [_from_row(r) for r in rows]

    def kbs(self) -> tuple[str, ...]:
        """The knowledge bases that have feedback, by name."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT kb FROM feedback ORDER BY kb").fetchall()
        return tuple(str(r[0]) for r in rows)

    def delete_kb(self, kb: str) -> int:
        """Remove a deleted knowledge base's feedback (its users' questions and quotes), so a base
        created again under the same name starts with none; returns how many rows went."""
        with self._lock:
            return int(self._conn.execute("DELETE FROM feedback WHERE kb = ?", (kb,)).rowcount)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])


def _from_row(row: dict[str, Any]) -> Feedback:
    correction = None
    if row["correction"]:
        correction = Correction(**json.loads(row["correction"]))
    answerable = None if row["answerable"] is None else bool(row["answerable"])
    return Feedback(
        feedback_id=int(row["id"]),
        answer_id=row["answer_id"],
        question=row["question"],
        answer=row["answer"],
        answerable=answerable,
        citations=tuple(CitedSpan(**c) for c in json.loads(row["citations"])),
        index_version=row["index_version"],
        rating=row["rating"],
        correction=correction,
        comment=row["comment"],
        created_at=row["created_at"],
        kb=row["kb"],
    )


def record_answer(
    log_: AnswerLog,
    answer_id: str,
    question: str,
    text: str,
    answerable: bool | None,
    citations: Iterable[Any],
    index_version: str,
    kb: str = "default",
) -> AnswerRecord:
    """Remember an answer of knowledge base ``kb`` (``citations``: anything with n, doc_id,
    start, end, quote)."""
    spans = tuple(CitedSpan(int(c.n), str(c.doc_id), int(c.start), int(c.end), str(c.quote))
                  for c in citations)
    record = AnswerRecord(answer_id, question, text, answerable, spans, index_version, time.time(), kb)
    log_.add(record)
    return record


def cited_docs(citations: Sequence[CitedSpan]) -> list[str]:
    """The reports an answer cited, in citation order, each once."""
    return list(dict.fromkeys(c.doc_id for c in citations))
