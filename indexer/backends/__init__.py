"""Where an index lives, behind one interface (:class:`~indexer.backends.base.Backend`): the local
index folder (:mod:`.local`) or Milvus (:mod:`.milvus`). The service's knowledge base,
``zhiwen index``/``add``/``remove``/``ask`` and the start-up checks talk to a backend;
:func:`connect_backend` is the one place that picks the implementation by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.backends.base import Backend, BackendConfig


def connect_backend(config: BackendConfig, *, require_index: bool = True) -> Backend:
    """The backend ``config`` names, connected; with ``require_index``, an index must be there
    (checked before any model loads). Raises ``IndexLoadError`` / ``BackendUnavailable``."""
    if config.kind == "milvus":
        from indexer.backends.milvus.backend import MilvusBackend

        return MilvusBackend.connect(config, require_index=require_index)
    from indexer.backends.local.backend import LocalBackend

    return LocalBackend.connect(config, require_index=require_index)


__all__ = ["connect_backend"]
