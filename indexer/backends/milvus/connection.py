"""The connection to Milvus (a server, or a Milvus Lite database file run in this process) and
where the collections are: every call bounded by a timeout, and any failure of a call raised as
:class:`~indexer.errors.BackendUnavailable` naming the server."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.errors import BackendUnavailable, IndexLoadError

if TYPE_CHECKING:
    from pymilvus import MilvusClient

_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
# Milvus Lite 2.5.1 opens a database file only if its name matches this (and is short).
_LITE_NAME = re.compile(r"^[a-zA-Z0-9.\-_]{1,36}$")


@dataclass(frozen=True)
class MilvusConfig:
    """Where the collections live and how long one call may take."""

    uri: str  # http://host:19530, or a Milvus Lite database file ending in .db
    token: str = ""
    prefix: str = "zhiwen"  # collection names start with it (letters, digits, _)
    timeout_s: float = 10.0  # per call; a dead server fails the call after this

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ValueError(f"Milvus collection prefix {self.prefix!r}: use letters, digits and _, "
                             "starting with a letter or _ (at most 100 characters)")
        if self.timeout_s <= 0:
            raise ValueError(f"Milvus timeout must be positive, got {self.timeout_s}")
        if is_lite(self.uri) and not _LITE_NAME.match(Path(self.uri).name):
            raise ValueError(f"Milvus Lite database {self.uri!r}: its file name must be at most 36 "
                             "characters from a-z A-Z 0-9 . - _ (Milvus Lite 2.5.1 refuses others)")


def is_lite(uri: str) -> bool:
    """Whether ``uri`` names a Milvus Lite database file (an embedded engine) rather than a server."""
    return uri.endswith(".db")


# Milvus Lite runs one engine per database file in a process, shared by every client of it, and
# stopping it stops it for all: it is stopped when the last connection to it closes.
_LITE_OPEN: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


class MilvusConnection:
    """A client for one Milvus (or Milvus Lite database); :meth:`close` releases it, and stops the
    Milvus Lite engine when it was the last connection of this process to it."""

    def __init__(self, config: MilvusConfig) -> None:
        from pymilvus import MilvusClient

        self.config = config
        self.timeout = config.timeout_s
        # each paged read warns that Milvus Lite gives no MVCC timestamp (it then uses the
        # client's clock, which is what we want): once per poll would flood the log
        logging.getLogger("pymilvus.orm.iterator").setLevel(logging.ERROR)
        if is_lite(config.uri):
            Path(config.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            client = MilvusClient(uri=config.uri, token=config.token, timeout=config.timeout_s)
        except Exception as exc:  # pymilvus raises MilvusException, grpc errors or OSError
            raise unavailable(config, exc) from exc
        self.client: MilvusClient = _Guarded(client, config)  # type: ignore[assignment]
        self._closed = False
        if is_lite(config.uri):
            with _LITE_LOCK:
                _LITE_OPEN[_lite_key(config.uri)] = _LITE_OPEN.get(_lite_key(config.uri), 0) + 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.client.close()
        if is_lite(self.config.uri):
            from milvus_lite.server_manager import server_manager_instance

            key = _lite_key(self.config.uri)
            with _LITE_LOCK:
                _LITE_OPEN[key] = _LITE_OPEN.get(key, 1) - 1
                if _LITE_OPEN[key] > 0:
                    return
                del _LITE_OPEN[key]
                server_manager_instance.release_server(self.config.uri)

    def __enter__(self) -> MilvusConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def row_count(self, collection: str) -> int | None:
        """Rows of ``collection`` (None when it does not exist)."""
        if not self.client.has_collection(collection, timeout=self.timeout):
            return None
        rows = self.client.query(collection, filter="", output_fields=["count(*)"], timeout=self.timeout)
        return int(rows[0]["count(*)"])


def _lite_key(uri: str) -> str:
    return str(Path(uri).absolute().resolve())


def unavailable(config: MilvusConfig, exc: BaseException) -> BackendUnavailable:
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    return BackendUnavailable(f"Milvus at {config.uri} did not answer: {type(exc).__name__}: {first}")


class _Guarded:
    """The client, with any failure of a call raised as :class:`BackendUnavailable` naming the
    server (a timeout, a refused connection, a server error): the API answers 503 with it."""

    def __init__(self, client: MilvusClient, config: MilvusConfig) -> None:
        self._client = client
        self._config = config

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except (BackendUnavailable, IndexLoadError, ValueError, KeyError):
                raise
            except Exception as exc:
                raise unavailable(self._config, exc) from exc

        return call


__all__ = ["MilvusConfig", "MilvusConnection", "is_lite", "unavailable"]
