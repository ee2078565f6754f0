"""The rules of a change, written once for every backend: what a batch of puts and deletes does to
the files an index holds, and the changes that cannot be made.

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

from indexer.backends.local.update import Change, Put
from indexer.errors import DocumentConflict, DocumentExists, DocumentNotFound, NothingToIndex
from indexer.ingest.corpus import source_id
from indexer.types import Report

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


__all__ = ["LAST_REPORT", "Holding", "Plan", "plan_changes"]
