"""Build or update an index from a folder of reports, redoing only what changed.

Incremental rules: a file is identified by its path relative to the corpus folder and its
SHA-256. When the chunker parameters and model are unchanged, reports and vectors of unchanged
files are reused from the current index; only new or changed files are read, chunked and
embedded (and the embedding cache skips chunks whose text was embedded before). BM25 is rebuilt
from tokens on every change because its statistics are corpus-wide. An unchanged corpus returns
at once without loading the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.types import Chunk, Report

if TYPE_CHECKING:
    from embeddings import Embedder

log = logging.getLogger(__name__)

# Bump when cleaning/chunking logic changes so existing indexes are rebuilt, not reused.
PIPELINE_VERSION = 2
EMBED_BATCH = 64


@dataclass(frozen=True)
class BuildStats:
    sources: int
    reports: int
    chunks: int
    embedded: int  # chunks sent to the model (cache and reuse excluded)
    reused: int  # chunks taken over from the previous index
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # file -> reason
    up_to_date: bool = False
    seconds: float = 0.0
    path: str = ""


def scan_corpus(corpus_dir: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every ``.txt`` file under ``corpus_dir``."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    out = {}
    for path in sorted(corpus_dir.rglob("*.txt")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(corpus_dir).parts):
            out[path.relative_to(corpus_dir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def source_id(rel_path: str) -> str:
    """Report id of a file: its stem; files in sub-folders keep the folder in the id."""
    return rel_path[: -len(".txt")].replace("/", "__") if rel_path.endswith(".txt") else rel_path


def corpus_hash(sources: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(sources.items())).encode()).hexdigest()


def build_params(model: str, max_chars: int, overlap: int, user_words: Sequence[str]) -> dict[str, Any]:
    return {
        "pipeline_version": PIPELINE_VERSION,
        "model": model,
        "chunker": {"max_chars": max_chars, "overlap": overlap},
        "extra_user_words": hashlib.sha256("\n".join(sorted(user_words)).encode()).hexdigest()[:16],
    }


def is_up_to_date(corpus_dir: Path, index_dir: Path, params: dict[str, Any]) -> bool:
    """True when ``index_dir`` holds an index of exactly this corpus with these parameters."""
    from indexer.store import IndexLoadError, read_meta

    try:
        meta = read_meta(index_dir)
    except IndexLoadError:
        return False
    return meta.get("params") == params and meta.get("sources") == scan_corpus(corpus_dir)


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    user_words: Sequence[str] = (),
    force: bool = False,
    progress: bool = False,
    vector_index: str = "auto",
) -> BuildStats:
    """Index every ``.txt`` under ``corpus_dir`` into ``index_dir`` (incrementally)."""
    from indexer.reading import ReadError, read_text
    from indexer.store import IndexLoadError, read_meta

    t0 = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    sources = scan_corpus(corpus_dir)
    params = build_params(embedder.name, max_chars, overlap, user_words)
    old_meta: dict[str, Any] | None
    try:
        old_meta = read_meta(index_dir)
    except IndexLoadError:
        old_meta = None
    if not force and old_meta and old_meta.get("params") == params and old_meta.get("sources") == sources:
        counts = old_meta.get("counts", {})
        return BuildStats(
            len(sources), counts.get("reports", 0), counts.get("chunks", 0), 0, counts.get("chunks", 0),
            skipped=dict(old_meta.get("skipped", {})), up_to_date=True,
            seconds=time.perf_counter() - t0, path=str(index_dir),
        )

    old_sources: dict[str, str] = dict(old_meta.get("sources", {})) if old_meta else {}
    reusable = bool(old_meta) and not force and old_meta is not None and old_meta.get("params") == params
    keep = {name for name, digest in sources.items() if reusable and old_sources.get(name) == digest}
    added = tuple(sorted(set(sources) - set(old_sources)))
    changed = tuple(sorted(n for n in sources if n in old_sources and old_sources[n] != sources[n]))
    removed = tuple(sorted(set(old_sources) - set(sources)))

    reports: list[Report] = []
    chunks: list[Chunk] = []
    vectors: list[npt.NDArray[np.float32]] = []
    sentence_vectors: list[npt.NDArray[np.float32]] = []
    skipped: dict[str, str] = {}
    reused = 0
    if keep and old_meta is not None:
        old_skipped = old_meta.get("skipped", {})
        skipped.update({k: v for k, v in old_skipped.items() if k in keep})
        r, c, v, sv = _reuse(index_dir, keep)
        reports += r
        chunks += c
        vectors += v
        sentence_vectors += sv
        reused = len(c)

    todo = [name for name in sources if name not in keep]
    token_len, max_tokens = _token_limit(embedder) if todo else (None, None)
    new_reports: list[Report] = []
    new_chunks: list[Chunk] = []
    for name in _progress(todo, progress, "reading"):
        try:
            text = read_text(corpus_dir / name)
        except ReadError as exc:
            skipped[name] = exc.reason
            log.warning("skipped %s: %s", name, exc.reason)
            continue
        parsed = _parse(source_id(name), text, name)
        for report in parsed:
            new_reports.append(report)
            new_chunks += _chunk(report, max_chars, overlap, token_len, max_tokens)
    reports += new_reports
    _check_unique(reports)
    embedded_before = embedder.model_calls
    if new_chunks:
        vectors.append(embed_chunks(embedder, new_chunks, progress=progress))
        sentence_vectors.append(embed_sentences(embedder, new_chunks, progress=progress))
    chunks += new_chunks
    embedded = embedder.model_calls - embedded_before

    meta = {
        "model": embedder.name,
        "params": params,
        "sources": sources,
        "corpus_hash": corpus_hash(sources),
        "skipped": skipped,
        "chunker": params["chunker"] | {"max_tokens": max_tokens},
    }
    path = _write(index_dir, reports, chunks, vectors, sentence_vectors, embedder, meta, user_words, vector_index)
    return BuildStats(
        len(sources), len(reports), len(chunks), embedded, reused, added, changed, removed,
        skipped, False, time.perf_counter() - t0, str(path),
    )


def build_index_from_reports(
    reports: Sequence[Report],
    index_dir: Path,
    embedder: Embedder,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    user_words: Sequence[str] = (),
    progress: bool = False,
    vector_index: str = "auto",
) -> BuildStats:
    """Index reports that are already parsed (benchmarks, API uploads): chunk, embed, write."""
    t0 = time.perf_counter()
    _check_unique(reports)
    token_len, max_tokens = _token_limit(embedder)
    chunks: list[Chunk] = []
    for report in _progress(reports, progress, "chunking"):
        chunks += _chunk(report, max_chars, overlap, token_len, max_tokens)
    before = embedder.model_calls
    vectors = [embed_chunks(embedder, chunks, progress=progress)] if chunks else []
    sentence_vectors = [embed_sentences(embedder, chunks, progress=progress)] if chunks else []
    params = build_params(embedder.name, max_chars, overlap, user_words)
    meta = {"model": embedder.name, "params": params, "sources": {}, "corpus_hash": "", "skipped": {},
            "chunker": params["chunker"] | {"max_tokens": max_tokens}}
    path = _write(index_dir, list(reports), chunks, vectors, sentence_vectors, embedder, meta, user_words, vector_index)
    return BuildStats(0, len(reports), len(chunks), embedder.model_calls - before, 0,
                      seconds=time.perf_counter() - t0, path=str(path))


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk], *, progress: bool = False) -> npt.NDArray[np.float32]:
    texts = [c.index_text for c in chunks]
    parts = [
        embedder.encode_documents(texts[i : i + EMBED_BATCH])
        for i in _progress(range(0, len(texts), EMBED_BATCH), progress, "embedding", unit="batch")
    ]
    return np.concatenate(parts).astype(np.float32, copy=False)


def embed_sentences(embedder: Embedder, chunks: Sequence[Chunk], *, progress: bool = False) -> npt.NDArray[np.float32]:
    """Vectors of every chunk's sentences, chunk after chunk (each distinct text embedded once)."""
    texts = [s.text for c in chunks for s in c.sentences]
    unique = list(dict.fromkeys(texts))
    if not unique:
        return np.zeros((0, embedder.dim), np.float32)
    parts = [
        embedder.encode_documents(unique[i : i + EMBED_BATCH * 2])
        for i in _progress(range(0, len(unique), EMBED_BATCH * 2), progress, "sentences", unit="batch")
    ]
    matrix = np.concatenate(parts)
    row = {t: i for i, t in enumerate(unique)}
    return matrix[[row[t] for t in texts]].astype(np.float32, copy=False)


# -- helpers ------------------------------------------------------------------------------------
def _parse(sid: str, text: str, name: str) -> list[Report]:
    from indexer.cleaning import parse_reports

    return parse_reports(sid, text, source_name=name)


def _chunk(report: Report, max_chars: int, overlap: int, token_len: Callable[[str], int] | None,
           max_tokens: int | None) -> list[Chunk]:
    from indexer.chunking import chunk_report

    return chunk_report(report, max_chars=max_chars, overlap=overlap, token_len=token_len, max_tokens=max_tokens)


def _token_limit(embedder: Embedder) -> tuple[Callable[[str], int], int]:
    return embedder.token_len, embedder.max_seq_length


def _check_unique(reports: Sequence[Report]) -> None:
    seen: dict[str, str] = {}
    for r in reports:
        src = str(r.meta.get("source", ""))
        if r.doc_id in seen:
            raise ValueError(f"report id {r.doc_id!r} occurs twice ({seen[r.doc_id]} and {src})")
        seen[r.doc_id] = src


def _reuse(
    index_dir: Path, keep: set[str]
) -> tuple[list[Report], list[Chunk], list[npt.NDArray[np.float32]], list[npt.NDArray[np.float32]]]:
    """Reports, chunks, chunk vectors and sentence vectors of the unchanged sources."""
    from indexer.dense import DenseIndex
    from indexer.store import _read_jsonl, chunk_from_json, report_from_json

    root = Path(index_dir).resolve()
    reports = [r for r in map(report_from_json, _read_jsonl(root / "reports.jsonl")) if r.meta.get("source") in keep]
    ids = {r.doc_id for r in reports}
    all_chunks = [chunk_from_json(c) for c in _read_jsonl(root / "chunks.jsonl")]
    rows = np.array([i for i, c in enumerate(all_chunks) if c.doc_id in ids], dtype=np.int64)
    chunks = [all_chunks[i] for i in rows]
    vectors = [DenseIndex.load(root / "dense.faiss").vectors(rows)] if len(rows) else []
    offsets = np.concatenate([[0], np.cumsum([len(c.sentences) for c in all_chunks])]).astype(np.int64)
    old_sentences = np.load(root / "sentences.npy", mmap_mode="r", allow_pickle=False)
    sent_rows = [np.arange(offsets[i], offsets[i + 1]) for i in rows]
    sentence_vectors = (
        [np.asarray(old_sentences[np.concatenate(sent_rows)], np.float32)] if sent_rows else []
    )
    return reports, chunks, vectors, sentence_vectors


def _write(index_dir: Path, reports: list[Report], chunks: list[Chunk], vectors: list[npt.NDArray[np.float32]],
           sentence_vectors: list[npt.NDArray[np.float32]], embedder: Embedder, meta: dict[str, Any], extra_words: Sequence[str], vector_index: str) -> Path:
    from indexer.store import write_index
    from indexer.tokenize import Tokenizer, derive_user_words

    places = [p for r in reports for p in r.meta.get("places", []) if isinstance(p, str)]
    words = sorted(set(derive_user_words((r.text for r in reports), places)) | set(extra_words))
    tokenizer = Tokenizer(words)
    token_lists = tokenizer.tokenize_many(c.index_text for c in chunks)
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    sentences = np.concatenate(sentence_vectors) if sentence_vectors else np.zeros((0, matrix.shape[1]), np.float32)
    meta = {**meta, "dim": int(matrix.shape[1]) if len(matrix) else embedder.dim, "tokenizer": {
        "kind": "jieba-search", "user_words": len(words), "fingerprint": tokenizer.fingerprint}}
    return write_index(index_dir, reports=reports, chunks=chunks, vectors=matrix, sentence_vectors=sentences,
                       token_lists=token_lists,
                       user_words=words, meta=meta, vector_index=vector_index)


def _progress(items: Any, enabled: bool, desc: str, unit: str = "file") -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, leave=False)
