"""The Milvus store: a whole index — reports, chunks, BM25 tokens, vectors, settings — in Milvus,
so API nodes keep nothing on local disk and any node can answer and cite (issue 14).

Five collections, named ``<prefix>_<what>`` (:class:`~indexer.backends.milvus.rows.StoreNames`):

* ``chunks`` — one row per chunk: ``doc_id``, ``gen`` and ``idx`` (which version of which report,
  and the chunk's place in it), ``tokens`` (our jieba tokens, space-joined, read by a whitespace
  analyzer: BM25 sees exactly the local backend's tokens), ``sparse`` (Milvus' BM25 function
  output), ``vector`` and ``data`` (the chunk as JSON, for citing);
* ``sentences`` — ``chunk`` (the chunk row's primary key), ``gen``, ``sentence`` and ``vector``:
  small-to-big sentence vectors;
* ``reports`` — the report as JSON (``doc_id``, ``gen``, in ``part`` s of at most 16,000
  characters: Milvus' VARCHAR holds 65,535 bytes);
* ``live`` — one row per visible report (primary key ``doc_id``): its ``gen``, ``seq`` (the order
  reports are listed and chunks numbered in), ``source`` file and the file's ``digest``;
* ``meta`` — the index settings (model, dimension, chunker, BM25 k1/b, tokenizer) and the user
  dictionary, fixed when the store is created.

Changing a report never edits rows in place. A writer *stages* the new version's rows under a
fresh generation number (invisible: no ``live`` row points at it), then *switches* by upserting the
report's ``live`` row — one row, so a reader sees the old report or the new one, never a mix —
and then *sweeps* the old generation's rows. A writer that dies before the switch leaves only
unreferenced rows; one that dies after it leaves old rows nobody reads. Either way
:meth:`MilvusStore.sweep_orphans` (run by ``zhiwen index --backend milvus``) removes them once
they are older than any write in progress could be. Two writers on two nodes never touch each
other's rows; two writers of the *same* report both stage complete versions and the later switch
wins (last writer wins, per report), the other's rows becoming orphans.

Generation numbers are ``milliseconds since the epoch << 20 | 20 random bits``: unique without
coordination, and their age tells a sweep which unreferenced rows are abandoned.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from indexer.backends.milvus.connection import MilvusConnection, unavailable
from indexer.backends.milvus.rows import (
    EMPTY_DOCUMENT,
    GEN_FILTER_BATCH,
    MAX_DOC_ID_BYTES,
    MAX_VARCHAR_BYTES,
    PAD_DIM,
    PART_CHARS,
    LiveEntry,
    Staged,
    StoredReport,
    StoreNames,
    gen_filter,
    generation_age_s,
)
from indexer.errors import IndexLoadError

if TYPE_CHECKING:

    from indexer.types import Chunk

log = logging.getLogger(__name__)

STORE_FORMAT = 1
INSERT_BATCH = 512  # rows per insert call: well under gRPC's 64 MB message limit at dim 1024
QUERY_BATCH = 1000  # rows per page when reading many rows
# Unreferenced rows younger than this may belong to a write in progress; a sweep leaves them.
ORPHAN_GRACE_S = 600.0


class MilvusStore:
    """The store's collections over one connection (see the module docstring)."""

    def __init__(self, conn: MilvusConnection) -> None:
        self.conn = conn
        self.names = StoreNames.of(conn.config.prefix)
        self._meta: dict[str, Any] | None = None

    @property
    def where(self) -> str:
        return f"Milvus at {self.conn.config.uri} (collections {self.conn.config.prefix}_*)"

    # -- creating -----------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.conn.client.has_collection(self.names.meta, timeout=self.conn.timeout))

    def prefixes(self) -> list[str]:
        """The prefixes of every store on this Milvus server (the collections ending ``_meta``)."""
        suffix = "_meta"
        listed = self.conn.client.list_collections(timeout=self.conn.timeout)
        return sorted(name[: -len(suffix)] for name in listed if name.endswith(suffix))

    def drop(self) -> None:
        client, timeout = self.conn.client, self.conn.timeout
        for name in self.names.all():
            if client.has_collection(name, timeout=timeout):
                client.drop_collection(name, timeout=timeout)
        self._meta = None

    def create(self, meta: Mapping[str, Any], user_words: Sequence[str]) -> None:
        """Create the collections for an index with ``meta`` (``dim``, ``model``, ``bm25`` k1/b,
        …) and the tokenizer's ``user_words``; the meta row is written last, so a store whose
        creation was interrupted reads as absent and is created again."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        client, timeout, names = self.conn.client, self.conn.timeout, self.names
        for name in names.all():
            if client.has_collection(name, timeout=timeout):
                client.drop_collection(name, timeout=timeout)
        dim = int(meta["dim"])
        k1, b = float(meta["bm25"]["k1"]), float(meta["bm25"]["b"])

        def schema(auto_id: bool = True) -> Any:
            s = MilvusClient.create_schema(auto_id=auto_id, enable_dynamic_field=False)
            if auto_id:
                s.add_field("id", DataType.INT64, is_primary=True)
            return s

        def create(name: str, s: Any, vector: str = "pad", metric: str = "L2", extra: Any = None) -> None:
            index = client.prepare_index_params()
            index.add_index(field_name=vector, index_type="FLAT", metric_type=metric)
            if extra is not None:
                extra(index)
            client.create_collection(name, schema=s, index_params=index, consistency_level="Strong",
                                     timeout=timeout)

        s = schema()
        # plain fields: is_partition_key breaks every filter on Milvus Lite 2.5.1
        s.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
        s.add_field("gen", DataType.INT64)
        s.add_field("idx", DataType.INT64)
        s.add_field("tokens", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES, enable_analyzer=True,
                    analyzer_params={"tokenizer": "whitespace"})
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("data", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
        s.add_function(Function(name="tokens_bm25", function_type=FunctionType.BM25,
                                input_field_names=["tokens"], output_field_names=["sparse"]))
        create(names.chunks, s, "vector", "IP", lambda index: index.add_index(
            field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
            params={"bm25_k1": k1, "bm25_b": b}))

        s = schema()
        s.add_field("chunk", DataType.INT64)
        s.add_field("gen", DataType.INT64)
        s.add_field("sentence", DataType.INT64)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        create(names.sentences, s, "vector", "IP")

        s = schema()
        s.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
        s.add_field("gen", DataType.INT64)
        s.add_field("part", DataType.INT64)
        s.add_field("data", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
        s.add_field("pad", DataType.FLOAT_VECTOR, dim=PAD_DIM)
        create(names.reports, s)

        s = schema(auto_id=False)
        s.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES, is_primary=True)
        s.add_field("gen", DataType.INT64)
        s.add_field("seq", DataType.INT64)
        s.add_field("source", DataType.VARCHAR, max_length=4096)
        s.add_field("digest", DataType.VARCHAR, max_length=128)
        s.add_field("pad", DataType.FLOAT_VECTOR, dim=PAD_DIM)
        create(names.live, s)

        s = schema(auto_id=False)
        s.add_field("key", DataType.VARCHAR, max_length=64, is_primary=True)
        s.add_field("data", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
        s.add_field("pad", DataType.FLOAT_VECTOR, dim=PAD_DIM)
        create(names.meta, s)

        words = "\n".join(user_words)
        parts = [words[i : i + PART_CHARS] for i in range(0, len(words), PART_CHARS)]
        full = {**meta, "store_format": STORE_FORMAT, "user_word_parts": len(parts)}
        rows = [{"key": f"words:{k}", "data": p, "pad": [0.0] * PAD_DIM} for k, p in enumerate(parts)]
        rows.append({"key": "meta", "data": json.dumps(full, ensure_ascii=False), "pad": [0.0] * PAD_DIM})
        client.upsert(names.meta, rows, timeout=timeout)
        self._meta = full

    # -- reading ------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The store's settings; ``IndexLoadError`` when there is no store at this prefix."""
        if self._meta is None:
            client, timeout = self.conn.client, self.conn.timeout
            rows = (client.query(self.names.meta, filter='key == "meta"', output_fields=["data"], timeout=timeout)
                    if self.exists() else [])
            if not rows:
                raise IndexLoadError(f"no zhiwen index in {self.where}; build it with "
                                     "`zhiwen index --backend milvus` or copy one with `zhiwen migrate`")
            meta = json.loads(rows[0]["data"])
            if meta.get("store_format") != STORE_FORMAT:
                raise IndexLoadError(f"{self.where}: store format expected {STORE_FORMAT}, found "
                                     f"{meta.get('store_format')}; copy the index again with `zhiwen migrate --replace`")
            self._meta = meta
        return self._meta

    def user_words(self) -> list[str]:
        n = int(self.meta().get("user_word_parts", 0))
        if n == 0:
            return []
        keys = ",".join(f'"words:{k}"' for k in range(n))
        rows = self.conn.client.query(self.names.meta, filter=f"key in [{keys}]", output_fields=["key", "data"],
                                      timeout=self.conn.timeout)
        parts = {r["key"]: r["data"] for r in rows}
        if len(parts) != n:
            raise IndexLoadError(f"{self.where}: user dictionary parts expected {n}, found {len(parts)}")
        return "".join(parts[f"words:{k}"] for k in range(n)).split("\n")

    def _rows(self, collection: str, filter: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        it = self.conn.client.query_iterator(collection, batch_size=QUERY_BATCH, filter=filter,
                                             output_fields=fields, timeout=self.conn.timeout)
        try:
            while True:
                try:
                    batch = it.next()
                except Exception as exc:
                    raise unavailable(self.conn.config, exc) from exc
                if not batch:
                    break
                yield from batch
        finally:
            it.close()

    def live(self) -> dict[str, LiveEntry]:
        """Every visible report's live row, by doc_id."""
        rows = self._rows(self.names.live, "", ["doc_id", "gen", "seq", "source", "digest"])
        return {r["doc_id"]: LiveEntry(r["doc_id"], int(r["gen"]), int(r["seq"]), r["source"], r["digest"])
                for r in rows}

    def fetch(self, gens: Sequence[int]) -> dict[int, StoredReport]:
        """The reports, chunks and tokens of these generations (all rows of each; a generation
        whose rows are incomplete is an ``IndexLoadError``)."""
        from indexer.types import chunk_from_json, report_from_json

        out: dict[int, StoredReport] = {}
        for i in range(0, len(gens), GEN_FILTER_BATCH):
            part = list(gens[i : i + GEN_FILTER_BATCH])
            where = gen_filter(part)
            bodies: dict[int, dict[int, str]] = {}
            for r in self._rows(self.names.reports, where, ["gen", "part", "data"]):
                bodies.setdefault(int(r["gen"]), {})[int(r["part"])] = r["data"]
            chunks: dict[int, dict[int, tuple[Chunk, tuple[str, ...], int]]] = {}
            for r in self._rows(self.names.chunks, where, ["id", "gen", "idx", "data", "tokens"]):
                tokens = () if r["tokens"] == EMPTY_DOCUMENT else tuple(r["tokens"].split(" "))
                chunks.setdefault(int(r["gen"]), {})[int(r["idx"])] = (
                    chunk_from_json(json.loads(r["data"])), tokens, int(r["id"]))
            for gen in part:
                parts = bodies.get(gen)
                if not parts or sorted(parts) != list(range(len(parts))):
                    raise IndexLoadError(f"{self.where}: report generation {gen} is incomplete "
                                         f"({len(parts or {})} parts); write the report again")
                report = report_from_json(json.loads("".join(parts[k] for k in range(len(parts)))))
                rows = chunks.get(gen, {})
                if sorted(rows) != list(range(len(rows))):
                    raise IndexLoadError(f"{self.where}: report {report.doc_id}: chunks missing")
                ordered = [rows[k] for k in range(len(rows))]
                out[gen] = StoredReport(gen, report, tuple(c for c, _, _ in ordered), tuple(t for _, t, _ in ordered),
                                        tuple(k for _, _, k in ordered))
        return out

    def generations(self, collection: str | None = None) -> set[int]:
        """Every generation that has rows (in the chunks collection, or ``collection``)."""
        return {int(r["gen"]) for r in self._rows(collection or self.names.chunks, "", ["gen"])}

    # -- writing ------------------------------------------------------------------------------
    def stage(self, staged: Staged) -> None:
        """Write one report version's rows (invisible until :meth:`switch`)."""
        client, timeout = self.conn.client, self.conn.timeout
        keys: list[int] = []
        for name, rows in ((self.names.reports, staged.reports), (self.names.chunks, staged.chunks)):
            for i in range(0, len(rows), INSERT_BATCH):
                done = client.insert(name, rows[i : i + INSERT_BATCH], timeout=timeout)
                if name == self.names.chunks:
                    keys += [int(k) for k in done["ids"]]
        if len(keys) != len(staged.chunks):
            raise IndexLoadError(f"{self.where}: {len(staged.chunks)} chunks written, {len(keys)} keys returned")
        sentences = [{**row, "chunk": keys[idx]} for idx, row in staged.sentences]
        for i in range(0, len(sentences), INSERT_BATCH):
            client.insert(self.names.sentences, sentences[i : i + INSERT_BATCH], timeout=timeout)

    def switch(self, entries: Sequence[LiveEntry]) -> None:
        """Make these generations the visible ones of their reports (an upsert of their rows)."""
        rows = [{"doc_id": e.doc_id, "gen": e.gen, "seq": e.seq, "source": e.source, "digest": e.digest,
                 "pad": [0.0] * PAD_DIM} for e in entries]
        for i in range(0, len(rows), INSERT_BATCH):
            self.conn.client.upsert(self.names.live, rows[i : i + INSERT_BATCH], timeout=self.conn.timeout)

    def hide(self, doc_ids: Sequence[str]) -> None:
        """Make these reports invisible (their rows stay until swept)."""
        for i in range(0, len(doc_ids), INSERT_BATCH):
            self.conn.client.delete(self.names.live, ids=list(doc_ids[i : i + INSERT_BATCH]), timeout=self.conn.timeout)

    def sweep(self, gens: Iterable[int]) -> None:
        """Delete every row of these generations (none of them may be live)."""
        gens = sorted(set(gens))
        for i in range(0, len(gens), GEN_FILTER_BATCH):
            where = gen_filter(gens[i : i + GEN_FILTER_BATCH])
            for name in (self.names.chunks, self.names.sentences, self.names.reports):
                self.conn.client.delete(name, filter=where, timeout=self.conn.timeout)

    def sweep_orphans(self, grace_s: float = ORPHAN_GRACE_S) -> int:
        """Delete rows of generations no live row points at and older than ``grace_s`` (left by
        a writer that died, or by the loser of two writes of one report); how many."""
        live = {e.gen for e in self.live().values()}
        found = set()
        for name in (self.names.chunks, self.names.reports, self.names.sentences):
            found |= self.generations(name)
        orphans = {g for g in found - live if generation_age_s(g) >= grace_s}
        if orphans:
            self.sweep(orphans)
            log.info("%s: swept %d abandoned report version(s)", self.where, len(orphans))
        return len(orphans)


def next_seq(live: Mapping[str, LiveEntry]) -> int:
    return max((e.seq for e in live.values()), default=-1) + 1
