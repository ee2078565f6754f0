"""Index snapshots on disk: written whole, verified, published with one atomic rename, pruned.

``index_dir`` is a symlink to a snapshot folder beside it (``<name>.snapshots/<id>``). Writing and
publishing are separate calls, so a writer can verify a new snapshot before anyone reads it:

* :func:`write_snapshot` fills a hidden ``.tmp-<id>`` folder (with ``write``), records size and
  SHA-256 of every file in ``checksums.json``, fsyncs it and renames it to ``<id>``;
* :func:`publish` swaps the ``index_dir`` link to it (one rename; the folder is fsynced);
* :func:`prune` keeps the live snapshot and the newest others; :func:`cleanup` removes what
  interrupted writers left (staging folders, temporary links and snapshots, corpus temp files).

:func:`verify_checksums` names a truncated or corrupted file on start even where the format would
still parse (a user dictionary cut short, flipped bytes in a BM25 array).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from indexer.durable import (
    fsync_dir,
    fsync_tree,
    remove_path,
    remove_temp_files,
    write_file_durably,
)
from indexer.errors import IndexLoadError

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
KEEP_SNAPSHOTS = 2
# A temporary snapshot older than this is a leftover even when no writer lock is held.
_STALE_TMP_S = 3600


def snapshots_dir(index_dir: Path) -> Path:
    index_dir = Path(index_dir)
    return index_dir.parent / f"{index_dir.name}.snapshots"


def current_snapshot(index_dir: Path) -> Path | None:
    """The snapshot folder ``index_dir`` points at, or None when there is none."""
    index_dir = Path(index_dir)
    return index_dir.resolve() if index_dir.exists() else None


def snapshot_folders(index_dir: Path, *, but: Path | None = None) -> list[Path]:
    """The complete snapshots of ``index_dir``, oldest first (``but`` left out)."""
    snaps = snapshots_dir(index_dir)
    found = [p for p in snaps.iterdir() if p.is_dir() and not p.name.startswith(".")] if snaps.is_dir() else []
    return sorted((p for p in found if but is None or p.resolve() != but), key=lambda p: p.name)


# -- writing and publishing -----------------------------------------------------------------------
def write_snapshot(index_dir: Path, write: Callable[[Path, str], None]) -> Path:
    """A new complete snapshot of ``index_dir``, not yet live: ``write(folder, snapshot_id)``
    writes the index files; checksums are added, everything is fsynced and the folder renamed
    into place. On any error nothing is left behind."""
    snaps = snapshots_dir(index_dir)
    snaps.mkdir(parents=True, exist_ok=True)
    snap_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = snaps / f".tmp-{snap_id}"
    tmp.mkdir()
    try:
        write(tmp, snap_id)
        write_checksums(tmp)
        fsync_tree(tmp)
        final = snaps / snap_id
        tmp.rename(final)
        fsync_dir(snaps)
    except BaseException:
        remove_path(tmp)
        raise
    return final


def publish(index_dir: Path, snapshot: Path) -> None:
    """Atomically make ``index_dir`` a symlink to ``snapshot`` (relative, so the tree can move)."""
    index_dir = Path(index_dir)
    rel = os.path.relpath(snapshot, index_dir.parent)
    if index_dir.exists() and not index_dir.is_symlink():
        # A real directory from elsewhere: move it aside first (the only non-atomic step).
        aside = index_dir.parent / f".{index_dir.name}.replaced-{uuid.uuid4().hex[:6]}"
        index_dir.rename(aside)
        remove_path(aside)
    link_tmp = index_dir.parent / f".{index_dir.name}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(rel, link_tmp)
    os.replace(link_tmp, index_dir)
    fsync_dir(index_dir.parent)


def prune(index_dir: Path, keep: int = KEEP_SNAPSHOTS) -> None:
    """Keep the live snapshot and the newest ``keep - 1`` others; drop temporary snapshots older
    than an hour (younger ones may belong to a writer at work). Never raises over housekeeping."""
    snaps = snapshots_dir(index_dir)
    try:
        others = snapshot_folders(index_dir, but=current_snapshot(index_dir))
        temporary = list(snaps.glob(".tmp-*")) if snaps.is_dir() else []
    except OSError as exc:
        log.warning("could not list old snapshots: %s", exc)
        return
    for old in others[: max(0, len(others) - (keep - 1))]:
        remove_path(old)
    for stale in temporary:
        try:
            if time.time() - stale.stat().st_mtime > _STALE_TMP_S:
                remove_path(stale)
        except OSError:
            pass


def cleanup(index_dir: Path, corpus_dir: Path | None = None) -> list[str]:
    """Remove what interrupted writers leave behind: staging folders, half-written snapshots,
    temporary links and temporary corpus files. Call with the writer lock held."""
    index_dir = Path(index_dir)
    removed: list[str] = []
    parent = index_dir.parent
    if parent.is_dir():
        for pattern in (f".{index_dir.name}.staging-*", f".{index_dir.name}.link-*"):
            for stale in sorted(parent.glob(pattern)):
                remove_path(stale)
                removed.append(stale.name)
    snaps = snapshots_dir(index_dir)
    if snaps.is_dir():
        for stale in sorted(snaps.glob(".tmp-*")):
            remove_path(stale)
            removed.append(f"{snaps.name}/{stale.name}")
    if corpus_dir is not None:
        removed += [p.name for p in remove_temp_files(Path(corpus_dir))]
    if removed:
        log.info("removed leftovers of an interrupted write: %s", ", ".join(removed))
    return removed


# -- checksums ------------------------------------------------------------------------------------
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
    """Check every file against ``checksums.json``; raises :class:`IndexLoadError` naming the
    first file that is missing, truncated or corrupted. False when the snapshot has no checksums
    (written by an older zhiwen), True when all match."""
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
