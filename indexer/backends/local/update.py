"""Live changes to an index: the change types and :func:`apply_update`, the index mutation.

The corpus folder of ``.txt`` files is the source of truth; the index is derived from it. Given
the corpus-relative names of files that changed, :func:`apply_update` writes a complete new
snapshot (only the changed files are read, chunked and embedded; every other row, vectors
included, is taken over from the current snapshot by :func:`indexer.backends.local.assembly.assemble_snapshot`),
verifies it by loading it, and only then publishes it. The journaled writer that stores files
and calls it under the writer lock is :class:`indexer.backends.local.writer.LiveIndex`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from embeddings import progress
from indexer.backends.local.faults import Pause, no_pause
from indexer.durable import remove_path
from indexer.errors import (
    DocumentConflict,
    IndexLoadError,
    IndexMismatch,
    InvalidDocument,
    NothingToIndex,
    NotText,
    TooLarge,
)
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.ingest.corpus import document_text, validate_doc_id
from indexer.types import Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.ingest.readers import Extracted, Limits
    from indexer.retrieval.dense import VectorIndexParams
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)


# -- changes and results ------------------------------------------------------------------------
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


def apply_update(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    names: Iterable[str],
    *,
    base: Searcher | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    user_words: Sequence[str] = (),
    vector_index: VectorIndexParams | None = None,
    pause: Pause | None = None,
    parsed: Mapping[str, tuple[str, list[Report]]] | None = None,
    note: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
) -> UpdateResult:
    """Bring ``index_dir`` in line with the current content of the corpus files ``names``
    (present: (re)index it; absent: drop its reports), in a new snapshot swapped in atomically.

    ``base`` is the loaded current snapshot if the caller has it (else it is loaded and
    verified). ``parsed`` may hold ``name -> (sha256, reports)`` already parsed by the caller.
    Raises ``IndexLoadError`` when the current index is unusable and :class:`IndexMismatch`
    when it was built with other parameters; the live index is unchanged then.
    """
    from indexer.backends.local.assembly import assemble_snapshot, kept_from_searcher
    from indexer.backends.local.build import build_params, recorded_params
    from indexer.backends.local.snapshots import (
        current_snapshot,
        prune,
        publish,
        snapshot_version,
        verify_checksums,
    )
    from indexer.backends.local.store import load_index
    from indexer.embed import recorded_scheme
    from indexer.ingest.corpus import file_digest, read_reports

    t0 = time.perf_counter()
    pause = pause or no_pause
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    live = current_snapshot(index_dir)
    if live is None:
        raise IndexLoadError(f"index directory {index_dir} does not exist; build it with `zhiwen index`")
    if base is None or base.path is None or Path(base.path).resolve() != live:
        verify_checksums(index_dir)
        base = load_index(index_dir, embedder, vector_search=vector_index)
    old_meta = dict(base.meta)
    # the index's own sentence-vector scheme: a change never mixes two kinds of vector
    params = build_params(embedder.name, max_chars, overlap, user_words, recorded_scheme(old_meta))
    if recorded_params(old_meta) != params:
        raise IndexMismatch(
            f"the index was built with other parameters ({old_meta.get('params')}) than configured "
            f"({params}); rebuild it with `zhiwen index --force`"
        )
    old_sources: dict[str, str] = dict(old_meta.get("sources") or {})
    previous = snapshot_version(old_meta)

    digests = {name: file_digest(corpus_dir / name) for name in sorted(set(names))}
    touched = {n: d for n, d in digests.items() if old_sources.get(n) != d}
    files = {n: "unchanged" for n in digests if n not in touched}
    for n, d in touched.items():
        files[n] = "deleted" if d is None else ("replaced" if n in old_sources else "created")
    if not touched:
        return UpdateResult(previous, previous, False, files, reports=len(base.reports),
                            chunks=len(base.chunks), seconds=time.perf_counter() - t0, searcher=base)

    old_by_source: dict[str, list[Report]] = {}
    for r in base.reports.values():
        old_by_source.setdefault(str(r.meta.get("source", "")), []).append(r)
    kept = kept_from_searcher(base, touched)
    skipped = {k: v for k, v in dict(old_meta.get("skipped") or {}).items() if k not in touched}
    present = [n for n, d in touched.items() if d is not None]
    new_reports, unreadable = read_reports(corpus_dir, present, parsed=parsed, digests=touched,
                                             limits=limits)
    skipped |= unreadable
    sources = {n: d for n, d in old_sources.items() if n not in touched}
    sources.update({n: d for n, d in touched.items() if d is not None})
    extra_meta = {
        "previous_snapshot": previous,
        "last_change": {"files": files, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(note or {})},
    }
    try:
        built = assemble_snapshot(index_dir, embedder, kept, new_reports, params=params,
                                  sources=dict(sorted(sources.items())), skipped=skipped,
                                  user_words=user_words, vector_index=vector_index, extra_meta=extra_meta)
    except NothingToIndex:
        raise NothingToIndex("this change would leave the index without text; add another report "
                             "before removing the last one") from None
    except ValueError as exc:  # two reports with one id
        raise DocumentConflict(str(exc)) from exc
    snapshot = built.path
    pause("after_snapshot_write")
    try:
        searcher = load_index(snapshot, embedder, vector_search=vector_index)  # verify before it goes live
    except IndexLoadError:
        remove_path(snapshot)
        raise
    pause("before_swap")
    publish(index_dir, snapshot)
    pause("after_swap")
    prune(index_dir)

    old_ids = {r.doc_id for n in touched for r in old_by_source.get(n, [])}
    new_ids = {r.doc_id for r in new_reports}
    old_chunks = sum(1 for c in base.chunks if c.doc_id in old_ids)
    return UpdateResult(
        version=snapshot_version(searcher.meta),
        previous_version=previous,
        changed=True,
        files=files,
        reports_added=tuple(sorted(new_ids - old_ids)),
        reports_updated=tuple(sorted(new_ids & old_ids)),
        reports_removed=tuple(sorted(old_ids - new_ids)),
        chunks_added=built.new_chunks,
        chunks_removed=old_chunks,
        embedded=built.embedded,
        reused=len(kept.chunks),
        reports=len(built.reports),
        chunks=built.chunks,
        skipped={k: v for k, v in skipped.items() if k in touched},
        seconds=time.perf_counter() - t0,
        searcher=searcher,
    )
