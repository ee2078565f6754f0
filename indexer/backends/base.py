"""The interface every backend implements (the local index folder, :mod:`.local`; Milvus,
:mod:`.milvus`) and what it is configured with; :func:`indexer.backends.connect_backend` picks one.

A backend is connected first (cheap: a missing or unreadable index, or a Milvus that does not
answer, fails before the model loads), then loaded with the model (its searcher, after rolling
forward what a crashed writer left). Writes go through :meth:`Backend.apply`, which returns the
searcher to serve next; :meth:`Backend.refresh` finds a change another process or node made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.ingest.readers.base import Limits

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.backends.milvus.connection import MilvusConfig
    from indexer.changes import Change, UpdateResult
    from indexer.faults import Pause
    from indexer.retrieval.dense import VectorIndexParams
    from indexer.retrieval.search import Searcher

BackendKind = Literal["local", "milvus"]


@dataclass(frozen=True)
class BackendConfig:
    """Everything a backend needs: where the index is and how reports become chunks."""

    kind: BackendKind = "local"
    corpus_dir: Path = Path("var/reports")  # local: the report files
    index_dir: Path = Path("var/index")  # local: the index folder
    milvus: MilvusConfig | None = None  # milvus: where the collections are
    max_chars: int = DEFAULT_MAX_CHARS
    overlap: int = DEFAULT_OVERLAP
    user_words: tuple[str, ...] = ()
    vector_index: VectorIndexParams | None = None
    limits: Limits = field(default_factory=Limits)
    lock_timeout: float = 5.0  # how long a write waits for another writer
    pause: Pause | None = None  # crash tests only (indexer.faults)
    # sentence-vector scheme of a build (indexer.embed); None: the one the index
    # records (the default for a new one); changes always keep the recorded one
    sentence_vectors: str | None = None


@dataclass(frozen=True)
class SyncReport:
    """What ``zhiwen index`` did: the index brought in line with the corpus folder."""

    reports: int
    chunks: int
    sources: int = 0
    embedded: int = 0  # texts sent to the model
    reused: int = 0  # chunks taken over unchanged
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # file -> why it was not read
    up_to_date: bool = False
    seconds: float = 0.0
    notes: tuple[str, ...] = ()  # what else was done (abandoned versions swept…)


@dataclass(frozen=True)
class RepairReport:
    """What ``zhiwen index --repair`` did and the index it left."""

    actions: tuple[str, ...]
    version: str
    reports: int
    chunks: int
    rebuilt: bool = False


class Backend(Protocol):
    """One index, wherever it lives."""

    kind: BackendKind
    where: str  # for messages: the folder, or the Milvus server and collections
    corpus_dir: Path | None  # where the original files are kept (None: they are not)
    limits: Limits
    lock_timeout: float

    def load(self, embedder: Embedder, *, recover: bool = True) -> Searcher:
        """Load and verify the index and (``recover``: a writer's start, not a reader's) roll
        forward interrupted changes; the searcher to serve.
        Raises ``IndexLoadError`` / ``BackendUnavailable`` with a message fit for /readyz."""
        ...

    def apply(self, changes: Sequence[Change], current: Searcher | None, embedder: Embedder,
              lock_timeout: float) -> UpdateResult:
        """Store and index ``changes``; ``result.searcher`` serves them. Raises an
        ``UpdateError`` (nothing stored) or ``WriterBusy``."""
        ...

    def refresh(self, current: Searcher, embedder: Embedder) -> Searcher | None:
        """The index another process or node changed, when it is not ``current``."""
        ...

    def sync(self, embedder: Embedder, *, force: bool = False, progress: bool = False) -> SyncReport:
        """``zhiwen index``: bring the index in line with the report files of
        ``config.corpus_dir``, embedding only what changed (everything with ``force``); creates
        the index when there is none. Raises ``NothingToIndex``, ``WriterBusy``, ``IndexMismatch``."""
        ...

    def up_to_date(self, model: str) -> bool:
        """Whether the index holds exactly the corpus folder, built with ``model`` and this
        configuration (no model is loaded)."""
        ...

    def repair(self, embedder: Embedder, *, progress: bool = False) -> RepairReport:
        """Recover from crashed writers and bring the index in line with the corpus folder."""
        ...

    def exists(self) -> bool:
        """Whether there is an index (a knowledge base's first write creates it)."""
        ...

    def destroy(self) -> None:
        """Drop what the index keeps outside its knowledge base's folder (Milvus collections;
        the local index lives in the folder and goes with it)."""
        ...

    def stores_beside(self) -> list[str]:
        """The collection prefixes of the zhiwen stores that live where this one does and outside
        any folder (Milvus: every store of the same server, this one too); [] for the local index,
        whose stores are folders."""
        ...

    def pending(self) -> int:
        """Changes a crashed writer left to roll forward (-1: cannot tell)."""
        ...

    def info(self, current: Searcher) -> dict[str, Any]:
        """What GET /v1/index shows that depends on where the index lives."""
        ...

    def close(self) -> None: ...


__all__ = ["Backend", "BackendConfig", "BackendKind", "RepairReport", "SyncReport"]
