"""Crash safety for live index writes: a write-ahead journal and a writer lock.

* :class:`Journal` — an append-only JSON-lines file beside the index (``<index>.journal.jsonl``).
  A writer appends a ``begin`` entry (fsynced) naming the corpus files it is about to change and
  their new SHA-256 *before* touching them, and a ``done`` entry once the new index snapshot is
  live. An entry begun but never done is *pending*: the writer crashed in between, and the next
  writer (or the service on start, or ``zhiwen index --repair``) rolls it forward.
* :class:`WriterLock` — ``fcntl.flock`` on ``<index>.lock``: one writer at a time across
  processes (the server and ``zhiwen add``/``remove``/``index``) and across threads.

Its appends and compactions use the durable steps of :mod:`indexer.durable`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from indexer.durable import fsync_dir, write_file_durably
from indexer.errors import WriterBusy

log = logging.getLogger(__name__)

EntryKind = Literal["put", "delete", "rebuild"]


def journal_path(index_dir: Path) -> Path:
    """Where the journal of ``index_dir`` lives: beside it, so it moves with the index."""
    index_dir = Path(index_dir)
    return index_dir.parent / f"{index_dir.name}.journal.jsonl"


def lock_path(index_dir: Path) -> Path:
    index_dir = Path(index_dir)
    return index_dir.parent / f"{index_dir.name}.lock"


# -- journal ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JournalEntry:
    """One change: ``files`` maps corpus-relative names to their new SHA-256 (None = deleted)."""

    op_id: str
    kind: EntryKind
    files: dict[str, str | None]
    doc_id: str = ""
    at: str = ""
    # for deletes: the SHA-256 the file had when its deletion began (roll forward only if equal)
    previous: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"op": "begin", "id": self.op_id, "kind": self.kind, "files": self.files,
                "previous": self.previous, "doc_id": self.doc_id, "at": self.at}


class Journal:
    """Append-only, fsynced log of index changes; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _append(self, row: Mapping[str, Any]) -> None:
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def begin(self, kind: EntryKind, files: Mapping[str, str | None], *, doc_id: str = "",
              previous: Mapping[str, str | None] | None = None) -> JournalEntry:
        entry = JournalEntry(uuid.uuid4().hex[:12], kind, dict(files), doc_id,
                             time.strftime("%Y-%m-%dT%H:%M:%S%z"), dict(previous or {}))
        self._append(entry.to_json())
        return entry

    def done(self, op_ids: list[str] | tuple[str, ...], version: str) -> None:
        for op_id in op_ids:
            self._append({"op": "done", "id": op_id, "version": version,
                          "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def read(self) -> tuple[list[JournalEntry], set[str]]:
        """All begun entries (in order) and the ids of those that are done.

        A line that does not parse is a torn append from a crash: only the last line can be
        one, and it cannot be a ``begin`` whose writer went on (the append is fsynced first).
        """
        if not self.path.exists():
            return [], set()
        entries: list[JournalEntry] = []
        done: set[str] = set()
        lines = self.path.read_bytes().decode("utf-8", errors="replace").splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if row["op"] == "begin":
                    entries.append(JournalEntry(str(row["id"]), row["kind"], dict(row["files"]),
                                                str(row.get("doc_id", "")), str(row.get("at", "")),
                                                dict(row.get("previous") or {})))
                elif row["op"] == "done":
                    done.add(str(row["id"]))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                log.warning("%s: line %d ignored (torn or invalid entry: %s)", self.path.name, n, exc)
        return entries, done

    def pending(self) -> list[JournalEntry]:
        """Entries begun but not done: changes a crashed writer left to roll forward."""
        entries, done = self.read()
        return [e for e in entries if e.op_id not in done]

    def compact(self) -> None:
        """Drop finished entries (keeps pending ones); atomic, so a crash keeps either file."""
        if not self.path.exists():
            return
        pending = self.pending()
        data = b"".join((json.dumps(e.to_json(), ensure_ascii=False) + "\n").encode() for e in pending)
        write_file_durably(self.path, data)


# -- writer lock --------------------------------------------------------------------------------
class WriterLock:
    """Exclusive ``flock`` on ``path``, waited for up to ``timeout`` seconds.

    flock locks belong to an open file description, so two threads of one process that each
    open the file exclude each other just like two processes do.
    """

    def __init__(self, path: Path, timeout: float = 5.0, poll: float = 0.05) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise WriterBusy(
                        f"another writer is updating the index{holder}; retry in a few seconds"
                    ) from None
                time.sleep(self.poll)
        # say who holds it, for the message another writer gets
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": time.strftime("%H:%M:%S")}).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        import fcntl

        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 200, 0) or b"{}")
        return f" (pid {info['pid']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


@contextlib.contextmanager
def writer_lock(index_dir: Path, timeout: float = 5.0) -> Iterator[WriterLock]:
    """Hold the writer lock of ``index_dir`` (raises :class:`WriterBusy` after ``timeout``)."""
    lock = WriterLock(lock_path(index_dir), timeout)
    Path(index_dir).parent.mkdir(parents=True, exist_ok=True)
    with lock:
        yield lock
