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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.changes import UpdateResult
from indexer.durable import remove_path
from indexer.errors import (
    DocumentConflict,
    IndexLoadError,
    IndexMismatch,
    NothingToIndex,
)
from indexer.faults import Pause, no_pause
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.types import Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.ingest.readers import Limits
    from indexer.retrieval.dense import VectorIndexParams
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)


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
    from indexer.backends.local.snapshots import current_snapshot, prune, publish, verify_checksums
    from indexer.backends.local.store import load_index
    from indexer.embed import recorded_scheme
    from indexer.ingest.corpus import file_digest, read_reports
    from indexer.params import build_params, recorded_params, snapshot_version

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
