"""`zhiwen index`: build or update the index of a folder of reports."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "index",
        help="build or update the index of a folder of .txt reports (incremental)",
        description="Index every .txt report under --corpus into --index. Re-running redoes only "
        "what changed; an unchanged corpus returns at once.",
    )
    p.add_argument("--corpus", type=Path, help="folder of .txt reports (default: data/reports)")
    p.add_argument("--index", type=Path, help="index directory (default: var/index)")
    p.add_argument("--model", help="sentence-transformers model name or local path (default: m3e-small)")
    p.add_argument("--max-chars", type=int, default=None, help="target chunk size in characters (300)")
    p.add_argument("--overlap", type=int, default=None, help="chunk overlap in characters (60)")
    p.add_argument("--user-words", type=Path, help="extra terms for the keyword tokenizer, one a line")
    p.add_argument("--force", action="store_true", help="rebuild everything, ignoring the current index")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when any file was skipped")
    p.add_argument("--check", action="store_true", help="only report whether the index is up to date (exit 1 if not)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _setting(args: argparse.Namespace, name: str, default: Any) -> Any:
    settings = getattr(args, "settings", None)
    return getattr(settings, name, default) if settings is not None else default


def run(args: argparse.Namespace) -> int:
    from embeddings import ModelNotFoundError, load_embedder
    from indexer.build import build_index, build_params, is_up_to_date
    from indexer.tokenize import read_user_words

    corpus = args.corpus or Path(_setting(args, "corpus_dir", "data/reports"))
    index = args.index or Path(_setting(args, "index_dir", "var/index"))
    model = args.model or _setting(args, "model", "m3e-small")
    max_chars = args.max_chars or _setting(args, "chunk_max_chars", 300)
    overlap = args.overlap if args.overlap is not None else _setting(args, "chunk_overlap", 60)
    words_file = args.user_words or _setting(args, "user_words_path", None)
    words: list[str] = []
    if words_file:
        try:
            words = read_user_words(Path(words_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: cannot read user words file {words_file}: {exc}", file=sys.stderr)
            return 2
    if not Path(corpus).is_dir():
        print(f"error: corpus folder {corpus} does not exist", file=sys.stderr)
        return 2
    if args.check:
        fresh = is_up_to_date(corpus, index, build_params(model, max_chars, overlap, words))
        print("index is up to date" if fresh else "index is missing or stale")
        return 0 if fresh else 1
    try:
        embedder = load_embedder(model, cache_path=Path(_setting(args, "cache_path", "var/cache/embeddings.sqlite")))
        stats = build_index(
            corpus, index, embedder, max_chars=max_chars, overlap=overlap, user_words=words,
            force=args.force, progress=not args.quiet and sys.stderr.isatty(),
        )
    except ModelNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, reason in sorted(stats.skipped.items()):
        print(f"skipped {name}: {reason}", file=sys.stderr)
    if stats.up_to_date:
        print(f"index {index} is up to date: {stats.reports} reports, {stats.chunks} chunks ({stats.seconds:.2f}s)")
    else:
        print(
            f"indexed {stats.reports} reports from {stats.sources} files into {index}: {stats.chunks} chunks "
            f"({stats.embedded} embedded, {stats.reused} reused; +{len(stats.added)} ~{len(stats.changed)} "
            f"-{len(stats.removed)} files, {len(stats.skipped)} skipped) in {stats.seconds:.1f}s"
        )
    return 1 if args.strict and stats.skipped else 0
