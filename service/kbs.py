"""Knowledge bases: several pools of reports in one deployment, each with its own corpus folder,
index and curated answers (``<ZHIWEN_KBS_DIR>/<name>/reports``, ``index``, ``faq.sqlite3``),
served by one process and one loaded model. ``default`` is the configured corpus and index, so
every URL without ``?kb=`` works as before.

A knowledge base is created with its first report (an index needs text) and opened again on
start, each in its own thread (``open_named``), so one rolling forward a long interrupted change
is ``loading`` while the others serve. Deleting one refuses its new writes at once, waits (at most
``ZHIWEN_WRITE_LOCK_TIMEOUT_S``) for the write in flight, then removes its folder; a folder an
interrupted create left without an index is removed (on start, or when the name is created again),
so no name is half there: every name is listed by ``states()`` or free.

On the Milvus backend each knowledge base is its own set of collections
(``<ZHIWEN_MILVUS_COLLECTION>_kb_<name>_*``) and its folder holds only its curated answers; a
node opens on start the bases it has folders for and those whose collections it finds (made
through another node; their curated answers stay in that node's folder unless ``ZHIWEN_KBS_DIR``
is shared). Creating a name whose collections another node made since never drops them: this node
opens that base and answers 409, as the other would; only an empty store, what an interrupted
create leaves, is dropped and made again.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from service.kb import KnowledgeBase, open_knowledge_base

if TYPE_CHECKING:
    from embeddings import Embedder
    from indexer.backends.base import Backend
    from indexer.changes import Change
    from zhiwen.settings import Settings

log = logging.getLogger(__name__)

DEFAULT = "default"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_NAME = re.compile(NAME_PATTERN)

State = Literal["ready", "loading", "deleting", "unavailable"]

# What an interrupted create can leave in a knowledge base's folder before its index exists
# (the first report, the snapshot being written, the writer's journal and lock); a folder holding
# only these and no index is a leftover, removed rather than answering 409 for a name listed nowhere.
_LEFTOVER = frozenset({"reports", "index", "index.snapshots", "index.journal.jsonl", "index.lock"})


class KnowledgeBaseError(ValueError):
    """A knowledge base that cannot be created, found or deleted; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def kb_settings(settings: Settings, folder: Path) -> Settings:
    """The settings of the knowledge base in ``folder``: its own corpus and index (a local index
    folder, or Milvus collections of its own) and curated answers."""
    from indexer.configure import kb_collection_prefix

    return settings.model_copy(update={
        "corpus_dir": folder / "reports", "index_dir": folder / "index",
        "faq_db": folder / "faq.sqlite3", "seed_dir": None,
        "milvus_collection": kb_collection_prefix(settings.milvus_collection, folder.name),
    })


def _backend(settings: Settings, folder: Path) -> Backend:
    """The backend of the knowledge base in ``folder``, connected (no index needed), for creating
    and dropping it (never paused by the crash tests' hook, as its writes after that are)."""
    from indexer.backends import connect_backend
    from indexer.configure import backend_config

    return connect_backend(backend_config(kb_settings(settings, folder), pause=None), require_index=False)


class KnowledgeBases:
    """``default`` and the named knowledge bases, by name, each ``ready``, ``loading`` (being
    opened: rolling forward), ``deleting`` or ``unavailable`` (could not be opened; ``reason``)."""

    def __init__(self, settings: Settings, default: KnowledgeBase | None = None,
                 *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.default = default  # None while it is being opened (or when it could not be)
        self.embedder = embedder if embedder is not None else (default.engine.embedder if default else None)
        self.root = Path(settings.kbs_dir)
        self._named: dict[str, KnowledgeBase] = {}
        self._loading: set[str] = set() if default is not None else {DEFAULT}
        self._failed: dict[str, str] = {}  # name -> why it could not be opened
        self._busy: dict[str, str] = {}  # name -> "creating" / "deleting"
        self._closed = False
        self._lock = threading.Lock()

    # -- reading ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every listed name: ``default`` first, then the others (ready or not) sorted."""
        with self._lock:
            named = set(self._named) | self._loading | set(self._failed)
            named |= {n for n, what in self._busy.items() if what == "deleting"}
        return [DEFAULT, *sorted(named - {DEFAULT})]

    def get(self, name: str) -> KnowledgeBase | None:
        """The knowledge base ``name`` if it is open (None while loading, unavailable or unknown)."""
        return self.default if name == DEFAULT else self._named.get(name)

    def state(self, name: str) -> tuple[State, str] | None:
        """``(state, reason)`` of a listed name, None for a name listed nowhere."""
        with self._lock:
            if name in self._loading:
                return "loading", (f"knowledge base {name!r} is loading (opening its index and rolling forward "
                                    "interrupted changes, if any)")
            if name in self._failed:
                return "unavailable", self._failed[name]
            if self._busy.get(name) == "deleting":
                return "deleting", f"knowledge base {name!r} is being deleted"
            if self.get(name) is not None:
                return "ready", ""
        return None

    # -- start-up -----------------------------------------------------------------------------
    def found(self) -> list[str]:
        """The knowledge bases under the folder (those with an index), marked ``loading`` until
        :meth:`open_named` opens them; folders an interrupted create left are removed."""
        if not self.root.is_dir():
            return []
        names = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name)):
            if folder.name == DEFAULT:
                continue
            try:
                indexed = self._has_index(folder)
            except Exception as exc:  # (Milvus does not answer) one base must not keep the others from serving
                with self._lock:
                    self._failed[folder.name] = f"knowledge base {folder.name!r} could not be opened: {exc}"
                continue
            if indexed:
                names.append(folder.name)
            elif _is_leftover(folder):
                log.warning("removing %s: a knowledge base whose creation was interrupted", folder)
                shutil.rmtree(folder, ignore_errors=True)
            else:
                with self._lock:
                    self._failed[folder.name] = (f"knowledge base folder {folder} has no index; "
                                                 "DELETE it or restore its index")
        for name in self._made_elsewhere():
            if name not in names and name not in self._failed:
                (self.root / name).mkdir(parents=True, exist_ok=True)  # (for its curated answers)
                names.append(name)
        with self._lock:
            self._loading |= set(names)
        return sorted(names)

    def _made_elsewhere(self) -> list[str]:
        """The names of the bases whose index lives outside any folder of this node (Milvus
        collections another node created); [] when Milvus does not answer (logged)."""
        from indexer.backends import connect_backend
        from indexer.configure import backend_config, kb_of_collection_prefix

        try:
            backend = connect_backend(backend_config(self.settings, pause=None), require_index=False)
            try:
                stores = backend.stores_beside()
            finally:
                backend.close()
        except Exception as exc:
            log.error("the knowledge bases other nodes created could not be listed: %s", exc)
            return []
        named = (kb_of_collection_prefix(self.settings.milvus_collection, s) for s in stores)
        return sorted(n for n in named if n is not None and n != DEFAULT and _NAME.match(n))

    def open_named(self, name: str) -> None:
        """Open (and roll forward) the knowledge base ``name`` found on start; a failure is logged
        and kept as its reason, never keeping the others from serving."""
        try:
            kb = self._open(self.root / name)
        except Exception as exc:  # one broken knowledge base must not keep the others from serving
            log.exception("knowledge base %s not opened", name)
            with self._lock:
                self._loading.discard(name)
                self._failed[name] = f"knowledge base {name!r} could not be opened: {exc}"
            return
        with self._lock:
            self._loading.discard(name)
            closed = self._closed
            if not closed:
                self._named[name] = kb
        if closed:  # the service stopped while it was opening
            kb.close()

    def open_existing(self) -> None:
        """Open every knowledge base found under the folder, one after another."""
        for name in self.found():
            self.open_named(name)

    def set_default(self, kb: KnowledgeBase | None, reason: str = "") -> None:
        """The default knowledge base is open (``kb``), or could not be opened (``reason``)."""
        with self._lock:
            self._loading.discard(DEFAULT)
            self.default = kb
            if kb is None:
                self._failed[DEFAULT] = reason
            elif self.embedder is None:
                self.embedder = kb.engine.embedder

    def _open(self, folder: Path) -> KnowledgeBase:
        kb = open_knowledge_base(kb_settings(self.settings, folder), embedder=self._model())
        kb.name = folder.name
        kb.writes_enabled = bool(self.settings.api_keys)
        log.info("knowledge base %s: %d reports", folder.name, len(kb.current.reports))
        return kb

    def _has_index(self, folder: Path) -> bool:
        backend = _backend(self.settings, folder)
        try:
            return backend.exists()
        finally:
            backend.close()

    def _destroy(self, folder: Path) -> None:
        """Drop the index of the base in ``folder`` where it lives outside the folder (Milvus)."""
        backend = _backend(self.settings, folder)
        try:
            backend.destroy()
        finally:
            backend.close()

    def _model(self) -> Embedder:
        if self.embedder is None:
            raise KnowledgeBaseError("the model is not loaded yet", 503)
        return self.embedder

    # -- creating and deleting ----------------------------------------------------------------
    def create(self, name: str, first: Sequence[Change]) -> KnowledgeBase:
        """A new knowledge base holding the reports of ``first``; raises
        :class:`KnowledgeBaseError` or the change's ``UpdateError`` (then nothing is left)."""
        if not _NAME.match(name):
            raise KnowledgeBaseError(f"knowledge base name {name[:50]!r}: use 1-40 of a-z 0-9 _ -, "
                                     "starting with a letter or digit", 422)
        folder = self.root / name
        with self._lock:
            self._refuse_taken(name)
            if folder.exists():
                if not _is_leftover(folder):
                    self._failed[name] = (f"knowledge base folder {folder} appeared after start; "
                                          "restart the service to open it, or DELETE it")
                    raise KnowledgeBaseError(f"knowledge base {name!r} already exists "
                                             "(its folder was not opened: restart or DELETE it)", 409)
                log.warning("removing %s: a knowledge base whose creation was interrupted", folder)
                shutil.rmtree(folder, ignore_errors=True)
            self._busy[name] = "creating"
        kb: KnowledgeBase | None = None
        try:
            folder.mkdir(parents=True)
            backend = _backend(self.settings, folder)
            try:
                if backend.exists():
                    adopted = self._adopt(folder)
                    if adopted is not None:
                        kb = adopted
                        raise KnowledgeBaseError(f"knowledge base {name!r} already exists (created through "
                                                 "another node; this node serves it now)", 409)
                    backend.destroy()  # (collections an interrupted create left, holding no report)
                if backend.corpus_dir is not None:
                    backend.corpus_dir.mkdir(parents=True, exist_ok=True)
                backend.apply(first, None, self._model(), backend.lock_timeout)
            except KnowledgeBaseError:
                raise
            except BaseException:
                with contextlib.suppress(Exception):  # (the error that stopped it is the one to report)
                    backend.destroy()
                raise
            finally:
                backend.close()
            kb = self._open(folder)
        except BaseException:
            if kb is None:  # (an adopted base keeps its folder: it holds its curated answers)
                shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            with self._lock:
                self._busy.pop(name, None)
                if kb is not None:
                    self._named[name] = kb
        return kb

    def _adopt(self, folder: Path) -> KnowledgeBase | None:
        """The base whose index already exists outside ``folder`` (Milvus collections another node
        created), opened, when it holds reports; None for the empty store an interrupted create left."""
        kb = self._open(folder)
        if kb.current.reports:
            return kb
        kb.close()
        return None

    def _refuse_taken(self, name: str) -> None:
        """409 for a name in use in any state (called under the lock)."""
        busy = self._busy.get(name)
        if busy is not None:
            raise KnowledgeBaseError(f"knowledge base {name!r} is being {'created' if busy == 'creating' else 'deleted'}; "
                                     "retry when that has finished", 409)
        if name == DEFAULT or name in self._named or name in self._loading:
            raise KnowledgeBaseError(f"knowledge base {name!r} already exists", 409)
        if name in self._failed:
            raise KnowledgeBaseError(f"knowledge base {name!r} already exists but is unavailable "
                                     f"({self._failed[name]}); DELETE it first", 409)

    def delete(self, name: str) -> None:
        """Remove ``name`` and its folder, after the write in flight (if any) has finished.

        Raises :class:`KnowledgeBaseError` (404 unknown, 409 default / loading / being created or
        deleted) or ``WriterBusy`` when a write outlasts ``ZHIWEN_WRITE_LOCK_TIMEOUT_S`` (nothing
        is deleted then)."""
        if name == DEFAULT:
            raise KnowledgeBaseError("the default knowledge base cannot be deleted", 409)
        with self._lock:
            busy = self._busy.get(name)
            if busy is not None:
                raise KnowledgeBaseError(f"knowledge base {name!r} is being {'created' if busy == 'creating' else 'deleted'}", 409)
            if name in self._loading:
                raise KnowledgeBaseError(f"knowledge base {name!r} is loading; delete it when it is ready", 409)
            kb = self._named.get(name)
            if kb is None and name not in self._failed:
                raise KnowledgeBaseError(f"unknown knowledge base: {name[:50]}", 404)
            self._busy[name] = "deleting"
        try:
            if kb is not None:
                kb.retire(self.settings.write_lock_timeout_s)  # new writes: 409, then 404
            with self._lock:
                self._named.pop(name, None)
                self._failed.pop(name, None)
            try:
                self._destroy(self.root / name)
            except Exception as exc:
                log.error("the index of knowledge base %s could not be dropped: %s", name, exc)
                with self._lock:
                    self._failed[name] = (f"the index of knowledge base {name!r} could not be dropped ({exc}); "
                                          "DELETE it again")
                return
            shutil.rmtree(self.root / name, ignore_errors=True)
            if (self.root / name).exists():
                log.error("knowledge base folder %s could not be removed completely", self.root / name)
                with self._lock:
                    self._failed[name] = f"knowledge base folder {self.root / name} could not be removed; DELETE it again"
        finally:
            with self._lock:
                self._busy.pop(name, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            named = list(self._named.values())
        for kb in named:
            kb.close()
        if self.default is not None:
            self.default.close()


def _is_leftover(folder: Path) -> bool:
    """A folder an interrupted create left: no index, nothing but what creating writes."""
    if (folder / "index").exists():
        return False
    return all(p.name in _LEFTOVER or p.name.startswith(".") for p in folder.iterdir())
