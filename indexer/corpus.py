"""The service's own corpus folder, seeded once from the reports a checkout ships.

The bundled reports (``data/reports``) are seed data under version control: live writes (the
HTTP write endpoints, ``zhiwen add``/``remove``) change the service's corpus folder
(``var/reports`` by default), never the checkout. The first time zhiwen opens a corpus folder that
does not exist, it is created as a copy of the seed folder, whole or not at all.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from indexer.journal import fsync_dir

log = logging.getLogger(__name__)


class SeedError(OSError):
    """The seed folder cannot be copied (missing, unreadable): the message names it."""


def seed_corpus(corpus_dir: Path, seed_dir: Path | None) -> int:
    """Create ``corpus_dir`` as a copy of ``seed_dir`` when it does not exist yet.

    Returns the number of files copied (0 when the corpus folder exists, no seed folder is
    configured, or both name the same folder). The copy is staged in a hidden folder beside
    ``corpus_dir``, synced, then renamed into place, so a crash leaves no half-seeded corpus; when
    another process seeded first, its copy is kept. Hidden files of the seed are not copied.
    """
    corpus_dir = Path(corpus_dir)
    if seed_dir is None or corpus_dir.exists():
        return 0
    seed_dir = Path(seed_dir)
    if not seed_dir.is_dir():
        raise SeedError(
            f"seed folder {seed_dir} does not exist (ZHIWEN_SEED_DIR); the corpus folder "
            f"{corpus_dir} cannot be created from it"
        )
    if seed_dir.resolve() == corpus_dir.resolve():
        return 0
    corpus_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{corpus_dir.name}.seeding-", dir=corpus_dir.parent))
    try:
        copy = staging / corpus_dir.name
        shutil.copytree(seed_dir, copy, ignore=shutil.ignore_patterns(".*"))
        files = [p for p in copy.rglob("*") if p.is_file()]
        for path in files:
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        for folder in {p.parent for p in files} | {copy}:
            fsync_dir(folder)
        try:
            os.rename(copy, corpus_dir)
        except OSError:
            if corpus_dir.is_dir():  # another process seeded it first: keep theirs
                return 0
            raise
        fsync_dir(corpus_dir.parent)
    except OSError as exc:
        raise SeedError(f"cannot seed the corpus folder {corpus_dir} from {seed_dir}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("corpus folder %s created from %s (%d files)", corpus_dir, seed_dir, len(files))
    return len(files)
