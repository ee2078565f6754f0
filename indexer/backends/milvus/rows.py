"""What a report version becomes in the Milvus store: its generation number, its rows for each
collection (:func:`stage_rows`) and the entries the store reads back (see :mod:`.store`)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from indexer.types import Chunk, Report

MAX_VARCHAR_BYTES = 65535  # Milvus' VARCHAR limit
MAX_DOC_ID_BYTES = 512
PART_CHARS = 16000  # a report's JSON is stored in parts of this many characters (≤ 64,000 bytes)
PAD_DIM = 2  # Milvus 2.5 wants a vector field in every collection; reports/live/meta carry a zero one
# A document without tokens is indexed as this one token, as KeywordIndex.build does for bm25s
# (it changes the average document length, so Milvus must see it too).
EMPTY_DOCUMENT = "\x00"
GEN_FILTER_BATCH = 200  # generations per `gen in [...]` filter
_RANDOM_BITS = 20

def new_generation(now: float | None = None) -> int:
    """A generation number: unique without coordination, ordered by time, its age readable."""
    ms = int((time.time() if now is None else now) * 1000)
    return (ms << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)


def generation_age_s(gen: int, now: float | None = None) -> float:
    return (time.time() if now is None else now) - (gen >> _RANDOM_BITS) / 1000.0


@dataclass(frozen=True)
class StoreNames:
    chunks: str
    sentences: str
    reports: str
    live: str
    meta: str

    @classmethod
    def of(cls, prefix: str) -> StoreNames:
        return cls(*(f"{prefix}_{what}" for what in ("chunks", "sentences", "reports", "live", "meta")))

    def all(self) -> tuple[str, ...]:
        return (self.chunks, self.sentences, self.reports, self.live, self.meta)


@dataclass(frozen=True)
class LiveEntry:
    """A visible report: which generation of it is live, and where it came from."""

    doc_id: str
    gen: int
    seq: int  # reports are listed (and chunks numbered) by seq, then doc_id
    source: str = ""  # corpus file name ("" for a report not from a file)
    digest: str = ""  # sha256 of that file when it was indexed


@dataclass(frozen=True)
class StoredReport:
    """One generation of a report as stored: the report, its chunks and their BM25 tokens."""

    gen: int
    report: Report
    chunks: tuple[Chunk, ...]
    tokens: tuple[tuple[str, ...], ...]
    keys: tuple[int, ...]  # the chunks' primary keys


@dataclass(frozen=True)
class Staged:
    """What :func:`stage_rows` made of one report version: the rows for each collection (a
    sentence row gets its chunk's primary key when the chunks are written)."""

    gen: int
    chunks: list[dict[str, Any]]
    sentences: list[tuple[int, dict[str, Any]]]  # (the chunk's idx, the row)
    reports: list[dict[str, Any]]


def gen_filter(gens: Iterable[int]) -> str:
    return f"gen in [{','.join(str(int(g)) for g in gens)}]"


def stage_rows(gen: int, report: Report, chunks: Sequence[Chunk], token_lists: Sequence[Sequence[str]],
               vectors: npt.NDArray[np.float32], sentence_vectors: npt.NDArray[np.float32]) -> Staged:
    """The rows of one report version (pure: nothing is written). ``sentence_vectors`` are the
    chunks' sentences, chunk after chunk. ValueError names a field too long for Milvus."""
    from indexer.types import chunk_to_json, report_to_json

    if len(report.doc_id.encode()) > MAX_DOC_ID_BYTES:
        raise ValueError(f"report id {report.doc_id[:40]!r}…: longer than {MAX_DOC_ID_BYTES} bytes")
    n_sentences = sum(len(c.sentences) for c in chunks)
    if len(vectors) != len(chunks) or len(sentence_vectors) != n_sentences or len(token_lists) != len(chunks):
        raise ValueError(f"report {report.doc_id}: {len(chunks)} chunks, {len(token_lists)} token lists, "
                         f"{len(vectors)} vectors; {n_sentences} sentences, {len(sentence_vectors)} vectors")
    chunk_rows, sentence_rows = [], []
    row = 0
    for idx, (chunk, tokens) in enumerate(zip(chunks, token_lists, strict=True)):
        text = " ".join(tokens) or EMPTY_DOCUMENT
        data = json.dumps(chunk_to_json(chunk), ensure_ascii=False)
        for what, value in (("tokens", text), ("data", data)):
            if len(value.encode()) > MAX_VARCHAR_BYTES:
                raise ValueError(f"chunk {chunk.chunk_id}: its {what} are over Milvus' {MAX_VARCHAR_BYTES} bytes")
        chunk_rows.append({"doc_id": report.doc_id, "gen": gen, "idx": idx, "tokens": text,
                           "vector": vectors[idx].tolist(), "data": data})
        for j in range(len(chunk.sentences)):
            sentence_rows.append((idx, {"gen": gen, "sentence": j, "vector": sentence_vectors[row].tolist()}))
            row += 1
    body = json.dumps(report_to_json(report), ensure_ascii=False)
    report_rows = [{"doc_id": report.doc_id, "gen": gen, "part": k, "data": body[i : i + PART_CHARS],
                    "pad": [0.0] * PAD_DIM}
                   for k, i in enumerate(range(0, max(len(body), 1), PART_CHARS))]
    return Staged(gen, chunk_rows, sentence_rows, report_rows)


