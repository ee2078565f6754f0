"""Embedding cache keyed by content hash (model name + text), so unchanged chunks cost no model time."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

# float32 rows, L2-normalised: what every embedder returns (embeddings.base re-exports it)
Vectors = npt.NDArray[np.float32]


def cache_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """A SQLite file of key -> float32 vector bytes. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INT, data BLOB)")
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, Vectors]:
        found: dict[str, Vectors] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = list(keys[start : start + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT key, data FROM vec WHERE key IN ({marks})", part
                ).fetchall()
                for key, data in rows:
                    found[key] = np.frombuffer(data, dtype=np.float32)
        return found

    def put_many(self, items: Iterable[tuple[str, Vectors]]) -> None:
        rows = [(k, int(v.shape[0]), np.asarray(v, np.float32).tobytes()) for k, v in items]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?, ?)", rows)
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def encode_cached(
    cache: EmbeddingCache, model: str, texts: Sequence[str], encode: Callable[[list[str]], Vectors], dim: int
) -> Vectors:
    """Vectors for ``texts``, sending to ``encode`` only those not cached for ``model`` yet."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    keys = [cache_key(model, t) for t in texts]
    found = cache.get_many(keys)
    missing = [i for i, k in enumerate(keys) if k not in found]
    if missing:
        fresh = encode([texts[i] for i in missing])
        cache.put_many((keys[i], fresh[j]) for j, i in enumerate(missing))
        for j, i in enumerate(missing):
            found[keys[i]] = fresh[j]
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
