"""Durable file-system steps shared by every writer of zhiwen's state (corpus files, journal,
snapshots): a crash leaves the old or the new content, never a torn one.

* :func:`write_file_durably` / :func:`remove_file_durably`: temp file in the same folder, fsync,
  rename, fsync the folder.
* :func:`fsync_tree` / :func:`fsync_dir`: make a freshly written folder durable before it is
  renamed into place.
* :func:`remove_temp_files` / :func:`remove_path`: tidy up what interrupted writers left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

# Temporary files of durable writes are hidden (a corpus scan skips names starting with a dot).
TMP_MARK = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (creations, renames, deletions) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file below ``root``, every folder holding one, and ``root`` itself."""
    root = Path(root)
    folders = {root}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
            folders.add(path.parent)
    for folder in sorted(folders, reverse=True):
        fsync_dir(folder)


def write_file_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content."""
    path = Path(path)
    tmp = path.parent / f".{path.name}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def remove_file_durably(path: Path) -> bool:
    """Delete ``path`` (and make the deletion durable); False when it was not there."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete leftovers of interrupted :func:`write_file_durably` calls in ``folder``."""
    removed = []
    if Path(folder).is_dir():
        for stale in Path(folder).glob(f".*{TMP_MARK}*"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed


def remove_path(path: Path) -> None:
    """Remove a file, link or folder tree, whichever ``path`` is (no error when it is gone)."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
