"""Filters on report metadata: which reports a search may draw from.

A :class:`ReportFilter` selects reports by the places the cleaner found in them (``meta["places"]``),
by date (``meta["date"]``, ISO), by id and by file format. :func:`allowed_reports` turns it into
the set of report ids that :meth:`~indexer.retrieval.search.Searcher.search` takes as ``within``: the
retrievers then rank only those reports' chunks, so a filter never returns a passage from outside
it, and a narrow filter still finds passages that an unfiltered top-k would have cut.

Each given criterion must hold (AND); within one, any value may match (OR). A report without a
date never matches a date range: nothing shows it to be inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from indexer.text.zh import compatibility_to_unified, place_stem
from indexer.types import Report


@dataclass(frozen=True)
class ReportFilter:
    places: tuple[str, ...] = ()  # 街道/社区/区 names; 九水 matches 九水街道
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None  # ISO date, inclusive
    doc_ids: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()  # txt md html docx pdf image

    @property
    def empty(self) -> bool:
        """True when it selects every report (no criterion given)."""
        return not (self.places or self.date_from or self.date_to or self.doc_ids or self.formats)

    def matches(self, report: Report) -> bool:
        meta = report.meta
        if self.doc_ids and report.doc_id not in self.doc_ids:
            return False
        if self.formats and report_format(meta) not in self.formats:
            return False
        if self.date_from or self.date_to:
            date = str(meta.get("date") or "")
            if not date or (self.date_from and date < self.date_from) or (self.date_to and date > self.date_to):
                return False
        if self.places:
            wanted = {_place_key(p) for p in self.places}
            found = {_place_key(str(p)) for p in meta.get("places") or ()}
            if not wanted & found:
                return False
        return True


def report_format(meta: Mapping[str, object]) -> str:
    """The format a report was read from (plain text when the reader did not say)."""
    return str(meta.get("format") or "txt")


def _place_key(name: str) -> str:
    """A place name as compared: radicals unified, and without its suffix (九水街道 → 九水), so
    a filter may name a place with or without 街道."""
    name = compatibility_to_unified(name.strip())
    return place_stem(name) or name


def allowed_reports(reports: Iterable[Report], report_filter: ReportFilter) -> frozenset[str]:
    """The ids of the reports ``report_filter`` selects."""
    return frozenset(r.doc_id for r in reports if report_filter.matches(r))
