"""Knowledge bases: several pools of reports in one deployment, each with its own corpus folder,
index and curated answers (``<ZHIWEN_KBS_DIR>/<name>/reports``, ``index``, ``faq.sqlite3``),
served by one process and one loaded model. ``default`` is the configured corpus and index, so
every URL without ``?kb=`` works as before.

A knowledge base is created with its first report (an index needs text) and opened again on
start; deleting one removes its folder. On the Milvus backend only ``default`` exists for now
(each knowledge base would be its own collection prefix; not built yet).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from service.kb import KnowledgeBase, open_knowledge_base

if TYPE_CHECKING:
    from indexer.update import Change
    from service.milvus_kb import MilvusKnowledgeBase
    from zhiwen.settings import Settings

log = logging.getLogger(__name__)

DEFAULT = "default"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_NAME = re.compile(NAME_PATTERN)


class KnowledgeBaseError(ValueError):
    """A knowledge base that cannot be created, found or deleted; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def kb_settings(settings: Settings, folder: Path) -> Settings:
    """The settings of the knowledge base in ``folder``: its own corpus, index and curated answers."""
    return settings.model_copy(update={
        "corpus_dir": folder / "reports", "index_dir": folder / "index",
        "faq_db": folder / "faq.sqlite3", "seed_dir": None,
    })


class KnowledgeBases:
    """``default`` and the named knowledge bases, by name."""

    def __init__(self, settings: Settings, default: KnowledgeBase | MilvusKnowledgeBase) -> None:
        self.settings = settings
        self.default = default
        self.root = Path(settings.kbs_dir)
        self._named: dict[str, KnowledgeBase] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [DEFAULT, *sorted(self._named)]

    def get(self, name: str) -> KnowledgeBase | MilvusKnowledgeBase | None:
        return self.default if name == DEFAULT else self._named.get(name)

    def open_existing(self) -> None:
        """Open the knowledge bases found under the folder (those with an index)."""
        if self.settings.backend != "local" or not self.root.is_dir():
            return
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name)):
            if not (folder / "index").exists():
                continue
            try:
                self._named[folder.name] = self._open(folder)
            except Exception:  # one broken knowledge base must not keep the others from serving
                log.exception("knowledge base %s not opened", folder.name)

    def _open(self, folder: Path) -> KnowledgeBase:
        kb = open_knowledge_base(kb_settings(self.settings, folder), embedder=self.default.engine.embedder)
        log.info("knowledge base %s: %d reports", folder.name, len(kb.current.reports))
        return kb

    def create(self, name: str, first: Sequence[Change]) -> KnowledgeBase:
        """A new knowledge base holding the reports of ``first``; raises
        :class:`KnowledgeBaseError` or the change's ``UpdateError`` (then nothing is left)."""
        from service.kb import make_live_index

        if not _NAME.match(name):
            raise KnowledgeBaseError(f"knowledge base name {name[:50]!r}: use 1-40 of a-z 0-9 _ -, "
                                     "starting with a letter or digit", 422)
        if self.settings.backend != "local":
            raise KnowledgeBaseError("on the Milvus backend only the default knowledge base exists", 409)
        with self._lock:
            folder = self.root / name
            if name == DEFAULT or name in self._named or folder.exists():
                raise KnowledgeBaseError(f"knowledge base {name!r} already exists", 409)
            (folder / "reports").mkdir(parents=True)
            try:
                settings = kb_settings(self.settings, folder)
                make_live_index(settings, self.default.engine.embedder).apply(first)
                kb = self._open(folder)
                kb.writes_enabled = self.default.writes_enabled
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._named[name] = kb
            return kb

    def delete(self, name: str) -> None:
        if name == DEFAULT:
            raise KnowledgeBaseError("the default knowledge base cannot be deleted", 409)
        with self._lock:
            kb = self._named.pop(name, None)
            if kb is None:
                raise KnowledgeBaseError(f"unknown knowledge base: {name[:50]}", 404)
            kb.close()
            shutil.rmtree(self.root / name, ignore_errors=True)

    def close(self) -> None:
        for kb in self._named.values():
            kb.close()
        self.default.close()
