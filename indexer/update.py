"""Live changes to an index: add, replace and delete report files, and bring the index up to date
with a new snapshot that reuses every unchanged chunk's stored vector.

The corpus folder of ``.txt`` files is the source of truth; the index is derived from it.
:func:`apply_update` is the index mutation: given the corpus-relative names of files that
changed, it writes a complete new snapshot (only the changed files are read, chunked and
embedded; everything else is taken over from the current snapshot, vectors included via
``DenseIndex.vectors``), verifies it by loading it, and only then swaps the ``index_dir`` link.

:class:`LiveIndex` is the writer (used by the HTTP service and by ``zhiwen add/remove/index``):
under the writer lock it journals a change, stores the file durably, updates the index and marks
the change done (see :mod:`indexer.journal`). A crash at any point leaves the old snapshot live
and the change re-runnable: the next writer, the service on start or ``zhiwen index --repair``
rolls pending journal entries forward. A change that *fails* (an exception, not a crash) is rolled
back: the previous file content is restored.

Every snapshot written here carries ``checksums.json`` (size and SHA-256 of each file), checked
by :func:`verify_checksums` so that a truncated or corrupted file is named on start even where
the format would still parse (a user dictionary cut short, flipped bytes in a BM25 array).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from indexer.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.journal import (
    Journal,
    JournalEntry,
    WriterBusy,
    fsync_dir,
    journal_path,
    remove_file_durably,
    remove_temp_files,
    write_file_durably,
    writer_lock,
)
from indexer.types import Chunk, Report

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.build import BuildStats
    from indexer.search import Searcher

log = logging.getLogger(__name__)

__all__ = [
    "STAGES",
    "CorpusUnavailable",
    "Delete",
    "DocumentConflict",
    "DocumentExists",
    "DocumentNotFound",
    "InvalidDocument",
    "LiveIndex",
    "NotText",
    "Put",
    "UpdateError",
    "UpdateResult",
    "WriterBusy",
    "apply_update",
    "verify_checksums",
]

# Where a writer can be paused by a test hook (see :func:`pause_hook`), in the order they occur.
STAGES = ("after_store", "after_snapshot_write", "before_swap", "after_swap")
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_DOC_ID_RE = re.compile(DOC_ID_PATTERN)
CHECKSUMS = "checksums.json"
KEEP_SNAPSHOTS = 2

Pause = Callable[[str], None]


# -- errors -------------------------------------------------------------------------------------
class UpdateError(Exception):
    """A change that cannot be made; nothing was stored. ``code`` is stable for API clients."""

    code = "update_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDocument(UpdateError):
    code = "invalid_document"


class NotText(UpdateError):
    code = "unsupported_media_type"


class DocumentExists(UpdateError):
    code = "document_exists"


class DocumentNotFound(UpdateError):
    code = "not_found"


class DocumentConflict(UpdateError):
    code = "conflict"


class IndexMismatch(UpdateError):
    code = "index_mismatch"


class CorpusUnavailable(UpdateError):
    code = "corpus_unavailable"


# -- changes and results ------------------------------------------------------------------------
@dataclass(frozen=True)
class Put:
    """Store ``text`` as ``<doc_id>.txt``. ``must``: "new" (fail if it exists), "any" (upsert)."""

    doc_id: str
    text: str
    title: str | None = None
    must: Literal["new", "any"] = "any"

    @property
    def name(self) -> str:
        return f"{self.doc_id}.txt"


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


def validate_doc_id(doc_id: str) -> str:
    """``doc_id`` if it is safe as a file name and report id, else :class:`InvalidDocument`."""
    if not isinstance(doc_id, str) or not _DOC_ID_RE.fullmatch(doc_id):
        shown = doc_id if isinstance(doc_id, str) and len(doc_id) <= 80 else f"{str(doc_id)[:80]}…"
        raise InvalidDocument(
            f"invalid doc_id {shown!r}: use 1-128 characters from A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return doc_id


def document_text(text: str, title: str | None = None) -> str:
    """The file content stored for an upload: the title as the first line (unless the text
    already starts with it), then the text; line endings normalised."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if title and title.strip() and not text.lstrip().startswith(title.strip()):
        text = f"{title.strip()}\n\n{text}"
    return text if text.endswith("\n") else text + "\n"


def default_doc_id(text: str) -> str:
    """A doc_id for an upload that names none: derived from its content, so a retried upload
    gets the same id (and answers 409 instead of storing a duplicate)."""
    return "doc_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fault_pause(stages: Sequence[str], marker: Path | None) -> Pause | None:
    """The writer pause of ``ZHIWEN_FAULT_PAUSE_AT`` / ``_MARKER`` (None without stages: always,
    in production); used by the server and by ``zhiwen add/remove`` alike."""
    if not stages:
        return None
    log.warning("ZHIWEN_FAULT_PAUSE_AT=%s: the writer will pause there (fault injection)",
                ",".join(stages))
    return pause_hook(stages, marker)


def pause_hook(stages: Iterable[str], marker: Path | None = None, max_wait: float = 600.0) -> Pause:
    """A test hook that stops a writer each time it reaches one of ``stages`` so a test can kill
    the process there. With ``marker`` it writes the stage name to that file on pausing and
    resumes when the file is deleted; without one it just waits ``max_wait`` seconds."""
    wanted = {s.strip() for s in stages if s.strip()}
    unknown = wanted - set(STAGES)
    if unknown:
        raise ValueError(f"unknown pause stage(s) {sorted(unknown)}; stages are {', '.join(STAGES)}")

    def pause(stage: str) -> None:
        if stage not in wanted:
            return
        log.warning("test hook: writer paused at stage %s (pid %d)", stage, os.getpid())
        if marker is not None:
            # Written whole (temp file + rename): a watcher that sees the file sees the stage, never
            # an empty file caught between its creation and its write.
            write_file_durably(marker, stage.encode("utf-8"))
        deadline = time.monotonic() + max_wait
        while time.monotonic() < deadline:
            if marker is not None and not marker.exists():
                break
            time.sleep(0.05)
        log.warning("test hook: writer resumed after stage %s", stage)

    return pause


def _no_pause(stage: str) -> None:
    return None


# -- checksums ----------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(snapshot: Path) -> None:
    """Record size and SHA-256 of every file of ``snapshot`` in ``checksums.json`` (durably)."""
    snapshot = Path(snapshot).resolve()
    files = {
        p.relative_to(snapshot).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(snapshot.rglob("*"))
        if p.is_file() and p.name != CHECKSUMS
    }
    data = json.dumps({"algorithm": "sha256", "files": files}, ensure_ascii=False, indent=2)
    write_file_durably(snapshot / CHECKSUMS, data.encode("utf-8"))


def verify_checksums(index_dir: Path) -> bool:
    """Check every file against ``checksums.json``; raises ``IndexLoadError`` naming the first
    file that is missing, truncated or corrupted. False when the index has no checksums (built
    by a plain ``build_index``), True when all match."""
    from indexer.store import IndexLoadError

    root = Path(index_dir).resolve()
    path = root / CHECKSUMS
    if not path.exists():
        return False
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        expected_all = {str(k): (int(v["bytes"]), str(v["sha256"])) for k, v in files.items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexLoadError(f"{CHECKSUMS}: unreadable ({exc}); run `zhiwen index --repair`") from exc
    for name, (size, digest) in expected_all.items():
        file = root / name
        if not file.is_file():
            raise IndexLoadError(f"{name}: missing in {root}; run `zhiwen index --repair`")
        found = file.stat().st_size
        if found != size:
            what = "truncated" if found < size else "has extra data"
            raise IndexLoadError(
                f"{name}: {what} (size expected {size} bytes, found {found}); "
                "run `zhiwen index --repair`"
            )
        actual = _sha256(file)
        if actual != digest:
            raise IndexLoadError(
                f"{name}: corrupted (sha256 expected {digest[:12]}…, found {actual[:12]}…); "
                "run `zhiwen index --repair`"
            )
    return True


# -- snapshots ----------------------------------------------------------------------------------
def current_snapshot(index_dir: Path) -> Path | None:
    """The snapshot folder ``index_dir`` points at, or None when there is none."""
    index_dir = Path(index_dir)
    return index_dir.resolve() if index_dir.exists() else None


def snapshot_version(meta: Mapping[str, Any]) -> str:
    return str(meta.get("snapshot") or meta.get("created_at") or "")


def cleanup(index_dir: Path, corpus_dir: Path | None = None) -> list[str]:
    """Remove what interrupted writers leave behind: staging folders, half-written snapshots,
    temporary links and temporary corpus files. Call with the writer lock held."""
    from indexer.store import snapshots_dir

    index_dir = Path(index_dir)
    removed: list[str] = []
    parent = index_dir.parent
    if parent.is_dir():
        for stale in sorted(parent.glob(f".{index_dir.name}.staging-*")):
            _remove(stale)
            removed.append(stale.name)
        for stale in sorted(parent.glob(f".{index_dir.name}.link-*")):
            stale.unlink(missing_ok=True)
            removed.append(stale.name)
    snaps = snapshots_dir(index_dir)
    if snaps.is_dir():
        for stale in sorted(snaps.glob(".tmp-*")):
            _remove(stale)
            removed.append(f"{snaps.name}/{stale.name}")
    if corpus_dir is not None:
        removed += [p.name for p in remove_temp_files(Path(corpus_dir))]
    if removed:
        log.info("removed leftovers of an interrupted write: %s", ", ".join(removed))
    return removed


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _stage_snapshot(index_dir: Path, write: Callable[[Path], Path]) -> Path:
    """Write a complete snapshot with the core writer (``write(link)`` = ``write_index``) into
    a private staging area, then move it beside the live snapshots, *without* swapping the
    link: the caller verifies it first."""
    from indexer.store import snapshots_dir

    index_dir = Path(index_dir)
    snaps = snapshots_dir(index_dir)
    snaps.mkdir(parents=True, exist_ok=True)
    staging = index_dir.parent / f".{index_dir.name}.staging-{uuid.uuid4().hex[:8]}"
    staging_snaps = snapshots_dir(staging)
    try:
        written = write(staging)
        write_checksums(written)
        final = snaps / written.name
        os.rename(written, final)
        fsync_dir(snaps)
    finally:
        _remove(staging)
        _remove(staging_snaps)
    return final


def point_at(index_dir: Path, snapshot: Path) -> None:
    """Atomically make ``index_dir`` point at ``snapshot`` (one rename; the folder is fsynced)."""
    from indexer.store import _point_at

    _point_at(Path(index_dir), Path(snapshot))


def prune(index_dir: Path, keep: int = KEEP_SNAPSHOTS) -> None:
    """Keep the live snapshot and the newest ``keep - 1`` others."""
    from indexer.store import snapshots_dir

    snaps = snapshots_dir(Path(index_dir))
    live = current_snapshot(index_dir)
    try:
        done = sorted((p for p in snaps.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.name) if snaps.is_dir() else []
    except OSError as exc:  # never fail a change that is already live over housekeeping
        log.warning("could not list old snapshots: %s", exc)
        return
    others = [p for p in done if live is None or p.resolve() != live]
    for old in others[: max(0, len(others) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)


# -- the index mutation -------------------------------------------------------------------------
def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


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
    vector_index: str = "auto",
    pause: Pause | None = None,
    parsed: Mapping[str, tuple[str, list[Report]]] | None = None,
    note: Mapping[str, Any] | None = None,
) -> UpdateResult:
    """Bring ``index_dir`` in line with the current content of the corpus files ``names``
    (present: (re)index it; absent: drop its reports), in a new snapshot swapped in atomically.

    ``base`` is the loaded current snapshot if the caller has it (else it is loaded and
    verified). ``parsed`` may hold ``name -> (sha256, reports)`` already parsed by the caller.
    Raises ``IndexLoadError`` when the current index is unusable and :class:`IndexMismatch`
    when it was built with other parameters; the live index is unchanged then.
    """
    from indexer.build import (
        _check_unique,
        _chunk,
        _parse,
        _token_limit,
        _write,
        build_params,
        corpus_hash,
        embed_chunks,
        embed_sentences,
        source_id,
    )
    from indexer.reading import ReadError, read_text
    from indexer.store import IndexLoadError, load_index

    t0 = time.perf_counter()
    pause = pause or _no_pause
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    live = current_snapshot(index_dir)
    if live is None:
        raise IndexLoadError(f"index directory {index_dir} does not exist; build it with `zhiwen index`")
    if base is None or base.path is None or Path(base.path).resolve() != live:
        verify_checksums(index_dir)
        base = load_index(index_dir, embedder)
    old_meta = dict(base.meta)
    params = build_params(embedder.name, max_chars, overlap, user_words)
    if old_meta.get("params") != params:
        raise IndexMismatch(
            f"the index was built with other parameters ({old_meta.get('params')}) than configured "
            f"({params}); rebuild it with `zhiwen index --force`"
        )
    old_sources: dict[str, str] = dict(old_meta.get("sources") or {})
    previous = snapshot_version(old_meta)

    digests = {name: _file_digest(corpus_dir / name) for name in sorted(set(names))}
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
    kept = [r for r in base.reports.values() if r.meta.get("source") not in touched]
    kept_ids = {r.doc_id for r in kept}
    rows = np.array([i for i, c in enumerate(base.chunks) if c.doc_id in kept_ids], dtype=np.int64)
    chunks: list[Chunk] = [base.chunks[i] for i in rows]
    vectors: list[npt.NDArray[np.float32]] = [base.dense.vectors(rows)] if len(rows) else []
    sentence_vectors = [base.sentence_vectors_for(rows)] if len(rows) else []  # lead: small-to-big vectors

    skipped = {k: v for k, v in dict(old_meta.get("skipped") or {}).items() if k not in touched}
    new_reports: list[Report] = []
    for name, digest in touched.items():
        if digest is None:
            continue
        given = (parsed or {}).get(name)
        if given is not None and given[0] == digest:
            new_reports += given[1]
            continue
        try:
            text = read_text(corpus_dir / name)
        except ReadError as exc:
            skipped[name] = exc.reason
            log.warning("skipped %s: %s", name, exc.reason)
            continue
        new_reports += _parse(source_id(name), text, name)
    reports = kept + new_reports
    try:
        _check_unique(reports)
    except ValueError as exc:
        raise DocumentConflict(str(exc)) from exc

    token_len, max_tokens = _token_limit(embedder)
    new_chunks: list[Chunk] = []
    for report in new_reports:
        new_chunks += _chunk(report, max_chars, overlap, token_len, max_tokens)
    before = embedder.model_calls
    if new_chunks:
        vectors.append(embed_chunks(embedder, new_chunks))
        sentence_vectors.append(embed_sentences(embedder, new_chunks))
    embedded = embedder.model_calls - before
    chunks += new_chunks

    sources = {n: d for n, d in old_sources.items() if n not in touched}
    sources.update({n: d for n, d in touched.items() if d is not None})
    sources = dict(sorted(sources.items()))
    meta: dict[str, Any] = {
        "model": embedder.name,
        "params": params,
        "sources": sources,
        "corpus_hash": corpus_hash(sources),
        "skipped": skipped,
        "chunker": params["chunker"] | {"max_tokens": max_tokens},
        "previous_snapshot": previous,
        "last_change": {"files": files, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(note or {})},
    }
    snapshot = _stage_snapshot(
        index_dir, lambda link: _write(
            link, reports, chunks, vectors, sentence_vectors, embedder, meta, user_words, vector_index
        )
    )
    pause("after_snapshot_write")
    try:
        searcher = load_index(snapshot, embedder)  # verify before it goes live
    except IndexLoadError:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    pause("before_swap")
    point_at(index_dir, snapshot)
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
        chunks_added=len(new_chunks),
        chunks_removed=old_chunks,
        embedded=embedded,
        reused=len(rows),
        reports=len(reports),
        chunks=len(chunks),
        skipped={k: v for k, v in skipped.items() if k in touched},
        seconds=time.perf_counter() - t0,
        searcher=searcher,
    )


# -- the writer ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RepairReport:
    actions: tuple[str, ...]
    version: str
    reports: int
    chunks: int
    rebuilt: bool


@dataclass
class LiveIndex:
    """Crash-safe writes to a corpus folder and its index (one writer at a time)."""

    corpus_dir: Path
    index_dir: Path
    embedder: Embedder
    max_chars: int = DEFAULT_MAX_CHARS
    overlap: int = DEFAULT_OVERLAP
    user_words: Sequence[str] = ()
    vector_index: str = "auto"
    pause: Pause | None = None
    lock_timeout: float = 5.0

    def __post_init__(self) -> None:
        self.corpus_dir = Path(self.corpus_dir)
        self.index_dir = Path(self.index_dir)

    @property
    def journal(self) -> Journal:
        return Journal(journal_path(self.index_dir))

    def _pause(self, stage: str) -> None:
        if self.pause is not None:
            self.pause(stage)

    def _update(self, names: Iterable[str], base: Searcher | None, **kw: Any) -> UpdateResult:
        return apply_update(
            self.corpus_dir, self.index_dir, self.embedder, names, base=base,
            max_chars=self.max_chars, overlap=self.overlap, user_words=self.user_words,
            vector_index=self.vector_index, pause=self.pause, **kw,
        )

    # -- changes --------------------------------------------------------------------------------
    def apply(self, changes: Sequence[Change], *, base: Searcher | None = None,
              lock_timeout: float | None = None) -> UpdateResult:
        """Store and index ``changes`` as one snapshot. Raises an :class:`UpdateError` (nothing
        stored), :class:`WriterBusy`, or ``IndexLoadError`` when the index is unusable."""
        from indexer.reading import ReadError, decode_bytes
        from indexer.store import load_index

        if not changes:
            raise InvalidDocument("no changes given")
        if not self.corpus_dir.is_dir():
            raise CorpusUnavailable(
                f"corpus folder {self.corpus_dir} does not exist; point ZHIWEN_CORPUS_DIR (or "
                "--corpus) at the folder the index was built from"
            )
        for change in changes:
            validate_doc_id(change.doc_id)
        seen: set[str] = set()
        for change in changes:
            if change.doc_id in seen:
                raise InvalidDocument(f"doc_id {change.doc_id!r} is given twice")
            seen.add(change.doc_id)
        # decode and check the text exactly as the indexer will read the stored file
        payloads: dict[str, tuple[bytes, str]] = {}
        for change in changes:
            if isinstance(change, Put):
                data = document_text(change.text, change.title).encode("utf-8")
                try:
                    payloads[change.name] = (data, decode_bytes(data, change.name))
                except ReadError as exc:
                    kind = InvalidDocument if "empty" in exc.reason else NotText
                    raise kind(f"{change.name}: {exc.reason}") from exc

        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            cleanup(self.index_dir, self.corpus_dir)
            live = current_snapshot(self.index_dir)
            if live is None:
                base = None  # no index yet: store the files, then build over the whole corpus
            elif base is None or base.path is None or Path(base.path).resolve() != live:
                verify_checksums(self.index_dir)
                base = load_index(self.index_dir, self.embedder)
            replay_ids, replay_names = self._roll_forward()
            plan, parsed = self._plan(changes, payloads, base, replay_names)
            entry = self.journal.begin(
                "put" if all(isinstance(c, Put) for c in changes) else "delete",
                {name: (hashlib.sha256(new).hexdigest() if new is not None else None)
                 for name, (new, _old) in plan.items()},
                doc_id=",".join(c.doc_id for c in changes)[:300],
                previous={name: (hashlib.sha256(old).hexdigest() if old is not None else None)
                          for name, (_data, old) in plan.items()},
            )
            try:
                for name, (content, _old) in plan.items():
                    if content is None:
                        remove_file_durably(self.corpus_dir / name)
                    else:
                        write_file_durably(self.corpus_dir / name, content)
                self._pause("after_store")
                if base is None:
                    result = self._first_build(plan)
                else:
                    result = self._update(
                        [*plan, *replay_names], base, parsed=parsed,
                        note={"doc_ids": [c.doc_id for c in changes],
                              "kind": "delete" if isinstance(changes[0], Delete) else "put"},
                    )
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise  # the process is going down: leave the entry for roll-forward
                self._roll_back(plan)
                self.journal.done([entry.op_id], "aborted")
                raise
            self.journal.done([entry.op_id, *replay_ids], result.version)
            self.journal.compact()
        return _with(result, replayed=tuple(replay_ids))

    def _first_build(self, plan: Mapping[str, tuple[bytes | None, bytes | None]]) -> UpdateResult:
        from indexer.build import build_index
        from indexer.store import load_index

        stats = build_index(self.corpus_dir, self.index_dir, self.embedder, max_chars=self.max_chars,
                            overlap=self.overlap, user_words=self.user_words,
                            vector_index=self.vector_index)
        self._seal()
        searcher = load_index(self.index_dir, self.embedder)
        files = {n: ("deleted" if data is None else "created") for n, (data, _old) in plan.items()}
        return UpdateResult(snapshot_version(searcher.meta), "", True, files,
                            reports_added=tuple(sorted(searcher.reports)), chunks_added=stats.chunks,
                            embedded=stats.embedded, reports=stats.reports, chunks=stats.chunks,
                            skipped=dict(stats.skipped), seconds=stats.seconds, searcher=searcher)

    def _plan(self, changes: Sequence[Change], payloads: Mapping[str, tuple[bytes, str]], base: Searcher | None,
              replay_names: set[str]) -> tuple[dict[str, tuple[bytes | None, bytes | None]],
                                               dict[str, tuple[str, list[Report]]]]:
        """name -> (new bytes or None to delete, old bytes or None) and the parsed new reports;
        raises an :class:`UpdateError` when a change cannot be made."""
        from indexer.build import _parse, source_id

        plan: dict[str, tuple[bytes | None, bytes | None]] = {}
        parsed: dict[str, tuple[str, list[Report]]] = {}
        touched = {c.name if isinstance(c, Put) else f"{c.doc_id}.txt" for c in changes}
        owners = {r.doc_id: str(r.meta.get("source", "")) for r in base.reports.values()} if base else {}
        for change in changes:
            if isinstance(change, Put):
                path = self.corpus_dir / change.name
                old = path.read_bytes() if path.is_file() else None
                if change.must == "new" and old is not None:
                    raise DocumentExists(
                        f"document {change.doc_id!r} already exists; "
                        f"replace it with PUT /v1/documents/{change.doc_id}"
                    )
                data, text = payloads[change.name]
                reports = _parse(source_id(change.name), text, change.name)
                for r in reports:
                    owner = owners.get(r.doc_id)
                    if owner and owner not in touched and owner not in replay_names:
                        raise DocumentConflict(
                            f"report id {r.doc_id!r} already belongs to {owner}; choose another doc_id"
                        )
                plan[change.name] = (data, old)
                parsed[change.name] = (hashlib.sha256(data).hexdigest(), reports)
            else:
                name = f"{change.doc_id}.txt"
                if not (self.corpus_dir / name).is_file():
                    owner = owners.get(change.doc_id)
                    if not owner:
                        raise DocumentNotFound(f"unknown document: {change.doc_id}")
                    if source_id(owner) != change.doc_id:
                        siblings = sorted(i for i, s in owners.items() if s == owner)
                        raise DocumentConflict(
                            f"report {change.doc_id!r} is one of {len(siblings)} reports of file "
                            f"{owner} ({', '.join(siblings[:5])}); delete the whole file as "
                            f"{source_id(owner)!r}"
                        )
                    name = owner
                    if not (self.corpus_dir / name).is_file():
                        raise DocumentNotFound(f"unknown document: {change.doc_id} (file {name} is gone)")
                plan[name] = (None, (self.corpus_dir / name).read_bytes())
        return plan, parsed

    def _roll_back(self, plan: Mapping[str, tuple[bytes | None, bytes | None]]) -> None:
        for name, (_data, old) in plan.items():
            path = self.corpus_dir / name
            try:
                if old is None:
                    remove_file_durably(path)
                else:
                    write_file_durably(path, old)
            except OSError:
                log.exception("could not restore %s after a failed update", path)
        log.warning("update failed; restored %s", ", ".join(plan))

    def _roll_forward(self) -> tuple[list[str], set[str]]:
        """Finish the file operations of journal entries a crashed writer left pending; return
        their ids and the files whose index entries must be brought up to date."""
        pending = self.journal.pending()
        names: set[str] = set()
        for entry in pending:
            names |= _roll_forward_files(self.corpus_dir, entry)
        if pending:
            log.warning("rolling forward %d interrupted change(s): %s", len(pending),
                        ", ".join(sorted(names)))
        return [e.op_id for e in pending], names

    def replay(self, *, base: Searcher | None = None, lock_timeout: float | None = None) -> UpdateResult | None:
        """Roll forward the changes crashed writers left in the journal (None when there are
        none). The service calls this on start, before it reports ready."""
        if not self.journal.pending():
            try:  # tidy up if nobody is writing; never wait for that
                with writer_lock(self.index_dir, 0.0):
                    cleanup(self.index_dir, self.corpus_dir)
                    prune(self.index_dir)
            except WriterBusy:
                pass
            return None
        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            cleanup(self.index_dir, self.corpus_dir)
            ids, names = self._roll_forward()
            if not ids:
                return None
            result = self._update(names, base, note={"kind": "replay", "doc_ids": []})
            self.journal.done(ids, result.version)
            self.journal.compact()
            prune(self.index_dir)  # a writer killed after its swap never pruned
        return _with(result, replayed=tuple(ids))

    # -- bulk -----------------------------------------------------------------------------------
    def rebuild(self, *, force: bool = False, progress: bool = False,
                lock_timeout: float | None = None) -> BuildStats:
        """``zhiwen index``: the incremental bulk build, under the writer lock, settling the
        journal (a full build over the corpus subsumes every pending entry)."""
        from indexer.build import build_index
        from indexer.store import IndexLoadError

        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            cleanup(self.index_dir, self.corpus_dir)
            ids, _names = self._roll_forward()
            if not force and current_snapshot(self.index_dir) is not None:
                try:
                    verify_checksums(self.index_dir)
                except IndexLoadError as exc:
                    log.warning("current index fails verification (%s); rebuilding it", exc)
                    force = True
            stats = build_index(
                self.corpus_dir, self.index_dir, self.embedder, max_chars=self.max_chars,
                overlap=self.overlap, user_words=self.user_words, force=force,
                progress=progress, vector_index=self.vector_index,
            )
            self._seal()
            if ids:
                self.journal.done(ids, "rebuild")
                self.journal.compact()
        return stats

    def _seal(self) -> None:
        """Give the live snapshot its checksums if a plain build wrote it without."""
        live = current_snapshot(self.index_dir)
        if live is not None and not (live / CHECKSUMS).exists():
            write_checksums(live)

    def repair(self, *, progress: bool = False, lock_timeout: float | None = None) -> RepairReport:
        """``zhiwen index --repair``: drop leftovers of crashed writers, replay or discard the
        journal, fall back to the newest snapshot that verifies (or rebuild from the corpus when
        none does) and bring it up to date with the corpus."""
        from indexer.build import build_index
        from indexer.store import load_index, snapshots_dir

        actions: list[str] = []
        with writer_lock(self.index_dir, self.lock_timeout if lock_timeout is None else lock_timeout):
            removed = cleanup(self.index_dir, self.corpus_dir)
            if removed:
                actions.append(f"removed {len(removed)} leftover(s) of interrupted writes: {', '.join(removed)}")
            ids, names = self._roll_forward()
            if ids:
                actions.append(f"rolled forward {len(ids)} interrupted change(s) to {', '.join(sorted(names))}")
            live = current_snapshot(self.index_dir)
            problem = self._check(live)
            force = False
            if problem:
                actions.append(f"current index fails verification: {problem}")
                fallback = None
                snaps = snapshots_dir(self.index_dir)
                candidates = sorted((p for p in snaps.iterdir() if p.is_dir() and not p.name.startswith(".")
                                     and (live is None or p.resolve() != live)),
                                    key=lambda p: p.name, reverse=True) if snaps.is_dir() else []
                for candidate in candidates:
                    reason = self._check(candidate)
                    if reason is None:
                        fallback = candidate
                        break
                    actions.append(f"snapshot {candidate.name} fails verification too: {reason}")
                if live is not None and live.parent == snaps.resolve():
                    shutil.rmtree(live, ignore_errors=True)
                    actions.append(f"removed broken snapshot {live.name}")
                if fallback is not None:
                    point_at(self.index_dir, fallback)
                    actions.append(f"fell back to snapshot {fallback.name}")
                else:
                    force = True
                    actions.append("no snapshot verifies: rebuilding from the corpus")
            stats = build_index(
                self.corpus_dir, self.index_dir, self.embedder, max_chars=self.max_chars,
                overlap=self.overlap, user_words=self.user_words, force=force,
                progress=progress, vector_index=self.vector_index,
            )
            self._seal()
            if not stats.up_to_date:
                actions.append(
                    f"brought the index up to date with the corpus ({stats.embedded} chunks embedded, "
                    f"{stats.reused} reused)"
                )
            if ids:
                self.journal.done(ids, "repair")
            self.journal.compact()
            verify_checksums(self.index_dir)
            searcher = load_index(self.index_dir, self.embedder)
            prune(self.index_dir)
        if not actions:
            actions.append("nothing to repair: the index verifies and matches the corpus")
        return RepairReport(tuple(actions), snapshot_version(searcher.meta), len(searcher.reports),
                            len(searcher.chunks), force)

    def _check(self, snapshot: Path | None) -> str | None:
        """Why ``snapshot`` cannot be served, or None when it verifies."""
        from indexer.store import IndexLoadError, load_index

        if snapshot is None or not snapshot.exists():
            return f"index directory {self.index_dir} does not exist"
        try:
            verify_checksums(snapshot)
            load_index(snapshot, self.embedder)
        except IndexLoadError as exc:
            return str(exc)
        return None

    # -- status ---------------------------------------------------------------------------------
    def pending(self) -> list[JournalEntry]:
        return self.journal.pending()


def _roll_forward_files(corpus_dir: Path, entry: JournalEntry) -> set[str]:
    """Finish the file side of a journal entry: a delete whose file is still there (with the
    content it had when the delete began) is done now; a put whose file write completed is
    kept, one that did not leaves the old file (its temp file is removed by ``cleanup``)."""
    names = set()
    for name, digest in entry.files.items():
        if not isinstance(name, str) or name.startswith("/") or ".." in Path(name).parts:
            log.warning("journal entry %s: ignored unsafe file name %r", entry.op_id, name)
            continue
        path = Path(corpus_dir) / name
        if digest is None and path.is_file():
            before = entry.previous.get(name)
            if before is None or _file_digest(path) == before:
                remove_file_durably(path)
        names.add(name)
    return names


def _with(result: UpdateResult, **changes: Any) -> UpdateResult:
    from dataclasses import replace

    return replace(result, **changes)
