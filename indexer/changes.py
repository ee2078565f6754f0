"""Changes to an index, written once for every backend: the change types (:class:`Put`,
:class:`Delete`) and what a change did (:class:`UpdateResult`); :func:`prepare`, which reads each
upload as the indexer will before anything is stored; and the rules of what a batch of puts and
deletes does to the files an index holds, and the changes that cannot be made.

A backend describes what it holds (:class:`Holding`: its report files, and the file each report
came from) and hands over the parsed reports of its uploads; :func:`plan_changes` says which files
are written and removed, or raises the :class:`~indexer.errors.UpdateError` that names the problem
before anything is stored:

* a put with ``must="new"`` of a report that exists: :class:`DocumentExists`;
* a put whose file holds a report id another file owns: :class:`DocumentConflict`;
* a delete of a report nobody holds: :class:`DocumentNotFound`; of one report of a file holding
  several: :class:`DocumentConflict` (delete the whole file);
* a change that would leave no report: :class:`NothingToIndex`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from embeddings import progress
from indexer.errors import (
    DocumentConflict,
    DocumentExists,
    DocumentNotFound,
    InvalidDocument,
    NothingToIndex,
    NotText,
    TooLarge,
)
from indexer.ingest.corpus import document_text, source_id, validate_doc_id
from indexer.types import Report

if TYPE_CHECKING:
    from indexer.ingest.readers import Extracted, Limits
    from indexer.retrieval.search import Searcher

@dataclass(frozen=True)
class Put:
    """Store a report as ``<doc_id><suffix>``: ``text`` (a ``.txt`` file, ``title`` as its first
    line), or ``data``, a file's bytes in any format a reader takes (``suffix`` names it: ``.docx``,
    ``.pdf``, ``.md``, ``.html``, ``.png``…). A report stored under another suffix is replaced.
    ``must``: "new" (fail if the report exists), "any" (upsert)."""

    doc_id: str
    text: str = ""
    title: str | None = None
    must: Literal["new", "any"] = "any"
    data: bytes | None = field(default=None, repr=False)
    suffix: str = ".txt"

    @property
    def name(self) -> str:
        return f"{self.doc_id}{self.suffix}"

    def stored_bytes(self) -> bytes:
        """The bytes stored for the report: the file's, or the text with its title as a .txt."""
        return self.data if self.data is not None else document_text(self.text, self.title).encode("utf-8")


@dataclass(frozen=True)
class Delete:
    """Remove the file ``<doc_id>.txt`` (or the sub-folder file whose reports have this id)."""

    doc_id: str


Change = Put | Delete


@dataclass(frozen=True)
class UpdateResult:
    """What a change did to the index. ``files`` maps each touched corpus file to
    created / replaced / deleted / unchanged."""

    version: str
    previous_version: str
    changed: bool
    files: dict[str, str] = field(default_factory=dict)
    reports_added: tuple[str, ...] = ()
    reports_updated: tuple[str, ...] = ()
    reports_removed: tuple[str, ...] = ()
    chunks_added: int = 0
    chunks_removed: int = 0
    embedded: int = 0
    reused: int = 0
    reports: int = 0
    chunks: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    replayed: tuple[str, ...] = ()  # journal entries of crashed writers rolled forward first
    seconds: float = 0.0
    searcher: Searcher | None = field(default=None, compare=False, repr=False)


def prepare(changes: Sequence[Change], limits: Limits | None = None
            ) -> dict[str, tuple[bytes, Extracted]]:
    """Check ``changes`` before anything is stored: valid, distinct doc ids, and each upload read
    exactly as the indexer will read the stored file, within ``limits``. Returns ``file name ->
    (bytes, extracted)`` of the uploads; raises :class:`InvalidDocument`, :class:`NotText` or
    :class:`TooLarge`."""
    from indexer.ingest.decode import OverLimit, ReadError
    from indexer.ingest.readers import SUFFIXES, Limits, extract, read_text

    limits = limits or Limits()

    for change in changes:
        validate_doc_id(change.doc_id)
    seen: set[str] = set()
    for change in changes:
        if change.doc_id in seen:
            raise InvalidDocument(f"doc_id {change.doc_id!r} is given twice")
        seen.add(change.doc_id)
    payloads: dict[str, tuple[bytes, Extracted]] = {}
    for change in changes:
        if not isinstance(change, Put):
            continue
        if change.suffix not in SUFFIXES:
            raise InvalidDocument(f"{change.name}: not a report format ({' '.join(sorted(SUFFIXES))})")
        progress.report("read")
        try:
            data = change.stored_bytes()
            if change.data is None:
                limits.check_size(len(data), "txt", change.name)
                extracted = read_text(data, change.name)
            else:
                if change.title:
                    raise InvalidDocument(f"{change.name}: a title goes with text only; a file's "
                                          "title is read from the file")
                extracted = extract(data, change.name, limits)
        except OverLimit as exc:
            raise TooLarge(f"{change.name}: {exc.reason}") from exc
        except ReadError as exc:
            kind = InvalidDocument if "empty" in exc.reason else NotText
            raise kind(f"{change.name}: {exc.reason}") from exc
        payloads[change.name] = (data, extracted)
    return payloads



LAST_REPORT = ("this change would leave the index without text; add another report "
               "before removing the last one")


@dataclass(frozen=True)
class Holding:
    """What an index holds now: its report files (corpus-relative names) and, for each report
    id, the file it came from."""

    files: frozenset[str]
    owners: Mapping[str, str] = field(default_factory=dict)

    def stored_as(self, doc_id: str) -> list[str]:
        """The top-level files holding report ``doc_id``, in any format."""
        return sorted(n for n in self.files if "/" not in n and source_id(n) == doc_id)


@dataclass(frozen=True)
class Plan:
    """What a batch does: the files written (with their parsed reports), the files removed (a
    delete, or the report's file in another format), and each touched file's fate."""

    writes: Mapping[str, Sequence[Report]]
    removes: tuple[str, ...]
    files: Mapping[str, str]  # name -> created / replaced / deleted

    def removed_reports(self, held: Holding) -> list[str]:
        """The ids of the reports held now that the batch replaces or removes."""
        gone = set(self.removes) | set(self.writes)
        return sorted(d for d, owner in held.owners.items() if owner in gone)


def plan_changes(changes: Sequence[Change], parsed: Mapping[str, Sequence[Report]], held: Holding,
                 settled: Collection[str] = ()) -> Plan:
    """The plan of ``changes`` over ``held``; ``parsed`` maps each put's file name to its
    reports; ``settled`` names files an interrupted change is bringing up to date (their report
    ids are free to move). Raises an ``UpdateError`` when a change cannot be made."""
    stored = {c.doc_id: held.stored_as(c.doc_id) for c in changes}
    touched = {n for names in stored.values() for n in names} | {c.name for c in changes if isinstance(c, Put)}
    writes: dict[str, Sequence[Report]] = {}
    removes: list[str] = []
    files: dict[str, str] = {}
    for change in changes:
        names = stored[change.doc_id]
        if isinstance(change, Put):
            if change.must == "new" and names:
                raise DocumentExists(f"document {change.doc_id!r} already exists; "
                                     f"replace it with PUT /v1/documents/{change.doc_id}")
            reports = parsed[change.name]
            if not reports:
                raise NothingToIndex(f"{change.name}: no report text in it")
            for r in reports:
                owner = held.owners.get(r.doc_id)
                if owner and owner not in touched and owner not in settled:
                    raise DocumentConflict(f"report id {r.doc_id!r} already belongs to {owner}; "
                                           "choose another doc_id")
            writes[change.name] = reports
            files[change.name] = "replaced" if change.name in held.files else "created"
            removes += [n for n in names if n != change.name]  # the report in another format
        else:
            if not names:
                names = [_owning_file(change.doc_id, held)]
            removes += names
    for name in removes:
        files[name] = "deleted"
    remaining = {d for d, owner in held.owners.items() if owner not in removes and owner not in writes}
    if not remaining and not any(writes.values()):
        raise NothingToIndex(LAST_REPORT)
    return Plan(writes, tuple(dict.fromkeys(removes)), files)


def _owning_file(doc_id: str, held: Holding) -> str:
    """The file to delete for report ``doc_id`` when no file is named after it: the one file it
    came from, when that file holds only it."""
    owner = held.owners.get(doc_id)
    if not owner:
        raise DocumentNotFound(f"unknown document: {doc_id}")
    if source_id(owner) != doc_id:
        siblings = sorted(i for i, s in held.owners.items() if s == owner)
        raise DocumentConflict(f"report {doc_id!r} is one of {len(siblings)} reports of file {owner} "
                               f"({', '.join(siblings[:5])}); delete the whole file as {source_id(owner)!r}")
    if owner not in held.files:
        raise DocumentNotFound(f"unknown document: {doc_id} (file {owner} is gone)")
    return owner


__all__ = ["LAST_REPORT", "Change", "Delete", "Holding", "Plan", "Put", "UpdateResult", "plan_changes", "prepare"]
