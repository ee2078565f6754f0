"""Capacity arithmetic for a distributed index (docs/scale-out.md): bytes per chunk, measured on
real chunks, times 10M and 100M chunks.

    python -m bench.capacity                      # the bundled reports' index (var/index)
    python -m bench.capacity --index DIR          # any index folder
    python -m bench.capacity --cmrc 2000          # the first 2000 CMRC 2018 passages, chunked
                                                  # with the default chunker (no embedding)

What is measured: the chunks' text, context, keyword tokens (as the keyword index sees them),
distinct terms and sentences, and the records the Milvus store keeps to cite from (each chunk's
JSON, each report's JSON spread over its chunks). What is arithmetic: the bytes each store needs
in the Milvus store (:mod:`indexer.backends.milvus.store`) — chunk and sentence vectors (float32), the
BM25 sparse row (a 4-byte term id and a 4-byte weight per distinct term), and the ids and
metadata of each row; index structures (HNSW links, the inverted index) come on top and depend
on their parameters.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.text.tokenize import Tokenizer
from indexer.types import Chunk, Report

log = logging.getLogger(__name__)

SCALES = (10_000_000, 100_000_000)
ID_AND_META_BYTES = 64  # a chunk row's key, doc_id, generation and position
SENTENCE_ROW_BYTES = 24  # a sentence row's key, chunk key and generation


@dataclass(frozen=True)
class ChunkStats:
    """Means per chunk over a sample of real chunks."""

    chunks: int
    text_bytes: float  # UTF-8 of the chunk text
    context_bytes: float  # title / place / heading prepended for search
    token_bytes: float  # the keyword tokens, space-joined (what a whitespace analyzer reads)
    terms: float  # distinct keyword terms (entries of the BM25 sparse row)
    sentences: float  # sentence vectors per chunk (small-to-big)
    chunk_record_bytes: float  # the chunk as JSON (text, context, sentences): what a node cites from
    report_record_bytes: float  # the reports' JSON (full text, metadata) over their chunks


def measure(chunks: Sequence[Chunk], tokenizer: Tokenizer, reports: Sequence[Report]) -> ChunkStats:
    from indexer.types import chunk_to_json, report_to_json

    tokens = [tokenizer.tokens(c.index_text) for c in chunks]
    ids = {c.doc_id for c in chunks}
    report_bytes = sum(len(json.dumps(report_to_json(r), ensure_ascii=False).encode())
                       for r in reports if r.doc_id in ids)
    return ChunkStats(
        chunks=len(chunks),
        text_bytes=statistics.fmean(len(c.text.encode()) for c in chunks),
        context_bytes=statistics.fmean(len(c.context.encode()) for c in chunks),
        token_bytes=statistics.fmean(len(" ".join(t).encode()) for t in tokens),
        terms=statistics.fmean(len(set(t)) for t in tokens),
        sentences=statistics.fmean(len(c.sentences) for c in chunks),
        chunk_record_bytes=statistics.fmean(len(json.dumps(chunk_to_json(c), ensure_ascii=False).encode())
                                            for c in chunks),
        report_record_bytes=report_bytes / len(chunks),
    )


def per_chunk_bytes(stats: ChunkStats, dim: int) -> dict[str, float]:
    """Bytes per chunk in the Milvus store (arithmetic over the measured means); the chunk
    record holds the text and context, the sentences' text and their offsets."""
    return {
        "chunk vector (float32)": dim * 4.0,
        "sentence vectors (float32)": stats.sentences * dim * 4.0,
        "keyword tokens": stats.token_bytes,
        "BM25 sparse row": stats.terms * 8.0,
        "chunk record (JSON)": stats.chunk_record_bytes,
        "report record (JSON, its share)": stats.report_record_bytes,
        "ids and metadata": float(ID_AND_META_BYTES) + stats.sentences * SENTENCE_ROW_BYTES,
    }


def report(stats: ChunkStats, dim: int, source: str) -> str:
    parts = per_chunk_bytes(stats, dim)
    lines = [
        f"Measured on {stats.chunks} chunks of {source}: {stats.text_bytes:.0f} B text, "
        f"{stats.context_bytes:.0f} B context, {stats.token_bytes:.0f} B tokens, "
        f"{stats.terms:.1f} distinct terms, {stats.sentences:.2f} sentences per chunk; records "
        f"{stats.chunk_record_bytes:.0f} B (chunk) and {stats.report_record_bytes:.0f} B (report share).",
        "",
        "| store | bytes / chunk | " + " | ".join(f"{n // 1_000_000}M chunks" for n in SCALES) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in SCALES) + " |",
    ]
    for name, size in [*parts.items(), ("total", sum(parts.values())),
                       ("total without sentence vectors",
                        sum(parts.values()) - parts["sentence vectors (float32)"])]:
        cells = " | ".join(_gb(size * n) for n in SCALES)
        lines.append(f"| {name} | {size:,.0f} | {cells} |")
    return "\n".join(lines)


def _gb(size: float) -> str:
    return f"{size / 1e9:,.0f} GB" if size >= 1e10 else f"{size / 1e9:,.1f} GB"


def _index_chunks(index_dir: Path) -> tuple[list[Chunk], Tokenizer, int, list[Report]]:
    from indexer.backends.local.store import read_chunks, read_reports
    from indexer.text.tokenize import read_user_words

    meta = json.loads((index_dir / "meta.json").read_text(encoding="utf-8"))
    words_file = index_dir / "userdict.txt"
    words = read_user_words(words_file.read_text(encoding="utf-8")) if words_file.is_file() else []
    return read_chunks(index_dir), Tokenizer(words), int(meta["dim"]), read_reports(index_dir)


def _cmrc_chunks(limit: int) -> tuple[list[Chunk], Tokenizer, int, list[Report]]:
    from bench.common import load_cmrc
    from embeddings import load_embedder
    from indexer.embed import chunk_reports
    from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP

    embedder = load_embedder("m3e-small")  # for its tokenizer's lengths; nothing is encoded
    reports = load_cmrc().reports[:limit]
    chunks = chunk_reports(embedder, reports, max_chars=DEFAULT_MAX_CHARS, overlap=DEFAULT_OVERLAP)
    return chunks, Tokenizer(), embedder.dim, list(reports)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=Path("var/index"), help="an index folder")
    parser.add_argument("--cmrc", type=int, metavar="N", help="measure N CMRC 2018 passages instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.cmrc:
        chunks, tokenizer, dim, reports = _cmrc_chunks(args.cmrc)
        source = f"the first {args.cmrc} CMRC 2018 passages"
    else:
        chunks, tokenizer, dim, reports = _index_chunks(args.index)
        source = f"the index {args.index}"
    print(report(measure(chunks, tokenizer, reports), dim, source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
