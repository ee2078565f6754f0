"""`zhiwen index`: build or update the index of a folder of reports."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from indexer.embed import SENTENCE_SCHEMES

if TYPE_CHECKING:
    from zhiwen.settings import Settings


log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "index",
        help="build or update the index of a folder of reports (incremental)",
        description="Index every report under --corpus into --index: .txt .md .html .docx .pdf "
        "and images (.png .jpg, by OCR); binary formats are recognised by their bytes. A file "
        "that cannot be read is skipped and named. Re-running redoes only what changed; an "
        "unchanged corpus returns at once.",
    )
    p.add_argument("--corpus", type=Path, help="folder of reports (default: var/reports, "
                   "created from data/reports the first time)")
    p.add_argument("--index", type=Path, help="index directory (default: var/index)")
    p.add_argument("--model", help="sentence-transformers model name or local path (default: m3e-small)")
    p.add_argument("--max-chars", type=int, default=None, help="target chunk size in characters (300)")
    p.add_argument("--overlap", type=int, default=None, help="chunk overlap in characters (100)")
    p.add_argument("--user-words", type=Path, help="extra terms for the keyword tokenizer, one a line")
    p.add_argument("--force", action="store_true", help="rebuild everything, ignoring the current index")
    p.add_argument("--sentence-vectors", choices=SENTENCE_SCHEMES, default=None,
                   help="how chunk and sentence vectors are made (indexer.embed): composed "
                   "from each sentence encoded once, separate encodes chunks and sentences, pooled "
                   "takes sentences from the chunk's forward pass (default: what the index records, "
                   "else separate); another choice than the index's rebuilds it")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when any file was skipped")
    p.add_argument("--check", action="store_true", help="only report whether the index is up to date (exit 1 if not)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--backend", choices=("local", "milvus"), help="where the index goes: a local "
                   "folder (--index) or Milvus ($ZHIWEN_MILVUS_URI; default: $ZHIWEN_BACKEND, local)")
    p.add_argument("--milvus-uri", help="Milvus server or Milvus Lite .db file (default: $ZHIWEN_MILVUS_URI)")
    p.add_argument("--rebuild", action="store_true", help="the same as --force (on Milvus: the store "
                   "created again, with a new tokenizer dictionary from the folder)")
    p.add_argument(
        "--repair",
        action="store_true",
        help="recover from a crashed update: drop temporary snapshots and files, replay the "
        "journal, fall back to (or rebuild) a snapshot that verifies, then update incrementally",
    )
    p.set_defaults(func=run)

    # live changes (same code path as the HTTP write endpoints; safe while `zhiwen serve` runs)
    add = subparsers.add_parser(
        "add",
        help="add or replace reports: store report files in the corpus and update the index",
        description="Copy each FILE (.txt .md .html .docx .pdf .png .jpg) into the corpus folder as "
        "<doc_id> plus its extension (doc_id: the file name without its extension, or --id; the same "
        "report in another format is replaced) and update the index in one new snapshot; only these "
        "reports are embedded. Crash-safe; a running server picks the change up within seconds.",
    )
    add.add_argument("files", nargs="+", type=Path, metavar="FILE", help="report file (text: UTF-8 or GBK)")
    add.add_argument("--id", dest="doc_id", help="doc_id for a single FILE (default: its name)")
    add.add_argument("--new", action="store_true", help="fail if a doc_id already exists")
    _live_options(add)
    add.set_defaults(func=run_add)

    remove = subparsers.add_parser(
        "remove",
        help="delete reports from the corpus and the index",
        description="Delete <DOC_ID>.txt from the corpus folder and its passages from the index, "
        "in one new snapshot. Crash-safe; a running server picks the change up within seconds.",
    )
    remove.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    _live_options(remove)
    remove.set_defaults(func=run_remove)

    migrate = subparsers.add_parser(
        "migrate",
        help="copy an index into Milvus (its vectors as they are, nothing embedded again)",
        description="Copy the index snapshot into the Milvus collections <prefix>_chunks, "
        "_sentences, _reports, _live and _meta (the layout `zhiwen serve` on ZHIWEN_BACKEND=milvus "
        "reads): chunk and sentence vectors from the index files, BM25 tokens made again with the "
        "index's own tokenizer. A complete copy of the same snapshot is left alone. "
        "Token from $ZHIWEN_MILVUS_TOKEN.",
    )
    migrate.add_argument("--index", type=Path, help="index directory (default: var/index)")
    migrate.add_argument("--milvus-uri", help="Milvus server (http://host:19530) or Milvus Lite "
                         "database file ending in .db (default: $ZHIWEN_MILVUS_URI)")
    migrate.add_argument("--collection", help="collection name prefix (default: zhiwen)")
    migrate.add_argument("--replace", action="store_true", help="replace the index the collections hold (another snapshot); a complete copy of the same snapshot is kept")
    migrate.set_defaults(func=run_migrate)


def _live_options(p: Any) -> None:
    p.add_argument("--corpus", type=Path, help="folder of reports (default: var/reports, "
                   "created from data/reports the first time)")
    p.add_argument("--index", type=Path, help="index directory (default: var/index)")
    p.add_argument("--model", help="model the index was built with (default: m3e-small)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for another writer (60)")


def _settings(args: argparse.Namespace) -> Settings:
    """The settings ``zhiwen`` read at start (``zhiwen/cli.py``); options override them."""
    settings: Settings = args.settings
    return settings


def _corpus(args: argparse.Namespace) -> Path:
    """The corpus folder: ``--corpus`` as given, or the configured one, seeded on first use
    (``indexer.ingest.corpus``). Raises ``SeedError`` when it must be seeded and cannot be."""
    from indexer.ingest.corpus import seed_corpus

    if args.corpus:
        return Path(args.corpus)
    settings = _settings(args)
    seed_corpus(settings.corpus_dir, settings.seed_dir)
    return settings.corpus_dir


def _user_words(words_file: Path | None) -> list[str]:
    """The extra tokenizer terms of ``words_file`` (none without one); ``OSError`` /
    ``UnicodeDecodeError`` when it cannot be read."""
    from indexer.text.tokenize import read_user_words

    return read_user_words(Path(words_file).read_text(encoding="utf-8")) if words_file else []


def run(args: argparse.Namespace) -> int:
    from embeddings import ModelNotFoundError, load_embedder
    from indexer.backends import connect_backend
    from indexer.configure import backend_config, milvus_config
    from indexer.errors import BackendUnavailable, IndexLoadError, UpdateError, WriterBusy
    from indexer.ingest.corpus import SeedError

    settings = _settings(args)
    try:
        corpus = _corpus(args)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = args.model or settings.model
    words_file = args.user_words or settings.user_words_path
    try:
        words = _user_words(words_file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read user words file {words_file}: {exc}", file=sys.stderr)
        return 2
    if not Path(corpus).is_dir():
        print(f"error: corpus folder {corpus} does not exist", file=sys.stderr)
        return 2
    progress = not args.quiet and sys.stderr.isatty()
    try:
        milvus = milvus_config(settings, args.milvus_uri) if (args.milvus_uri or settings.milvus_uri) else None
        config = backend_config(
            settings, kind=args.backend or settings.backend, corpus_dir=Path(corpus),
            index_dir=Path(args.index or settings.index_dir), milvus=milvus,
            max_chars=args.max_chars or settings.chunk_max_chars,
            overlap=args.overlap if args.overlap is not None else settings.chunk_overlap,
            user_words=tuple(words), lock_timeout=60.0, pause=None, sentence_vectors=args.sentence_vectors)
        backend = connect_backend(config, require_index=False)
    except (ValueError, BackendUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.check:
            fresh = backend.up_to_date(model)
            print("index is up to date" if fresh else "index is missing or stale")
            return 0 if fresh else 1
        embedder = load_embedder(model, cache_path=settings.cache_path)
        if args.repair:
            report = backend.repair(embedder, progress=progress)
            for action in report.actions:
                print(f"repair: {action}")
            print(f"index {backend.where} verifies: {report.reports} reports, {report.chunks} chunks "
                  f"(version {report.version})")
            return 0
        stats = backend.sync(embedder, force=args.force or args.rebuild, progress=progress)
    except (ModelNotFoundError, WriterBusy, IndexLoadError, BackendUnavailable, UpdateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        backend.close()
    for name, reason in sorted(stats.skipped.items()):
        print(f"skipped {name}: {reason}", file=sys.stderr)
    notes = "".join(f"; {n}" for n in stats.notes)
    if stats.up_to_date:
        print(f"index {backend.where} is up to date: {stats.reports} reports, {stats.chunks} chunks "
              f"({stats.seconds:.2f}s{notes})")
    else:
        print(
            f"indexed {stats.reports} reports from {stats.sources} files into {backend.where}: {stats.chunks} chunks "
            f"({stats.embedded} embedded, {stats.reused} reused; +{len(stats.added)} ~{len(stats.changed)} "
            f"-{len(stats.removed)} files, {len(stats.skipped)} skipped) in {stats.seconds:.1f}s{notes}"
        )
    return 1 if args.strict and stats.skipped else 0


# -- live changes -------------------------------------------------------------------------------
def _apply(args: argparse.Namespace, changes: list[Any]) -> Any:
    """``zhiwen add``/``remove``: apply ``changes`` on the configured backend (``ZHIWEN_BACKEND``),
    configured like ``zhiwen index`` and like the server's writer, fault injection included
    (``ZHIWEN_FAULT_PAUSE_AT``)."""
    from embeddings import load_embedder
    from indexer.backends import connect_backend
    from indexer.configure import backend_config

    settings = _settings(args)
    config = backend_config(settings, corpus_dir=_corpus(args), index_dir=Path(args.index or settings.index_dir),
                            lock_timeout=args.wait)
    backend = connect_backend(config, require_index=False)
    try:
        embedder = load_embedder(args.model or settings.model, cache_path=settings.cache_path)
        return backend.apply(changes, None, embedder, args.wait)
    finally:
        backend.close()


@contextlib.contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[None]:
    """A terminal progress bar of a change's stages (read, OCR page n/N, chunk, embed n/N, publish)."""
    if not enabled:
        yield
        return
    from tqdm import tqdm

    from embeddings.progress import Progress, reporting

    names = {"read": "读取", "ocr": "OCR", "chunk": "切分", "embed": "向量化", "publish": "发布"}
    bar = tqdm(total=0, unit="", leave=False, file=sys.stderr)

    def show(p: Progress) -> None:
        bar.set_description(names.get(p.stage, p.stage))
        if bar.total != p.total:
            bar.reset(total=p.total)
        bar.n = p.done
        bar.refresh()

    try:
        with reporting(show):
            yield
    finally:
        bar.close()


def _run_changes(args: argparse.Namespace, changes: list[Any]) -> int:
    from embeddings import ModelNotFoundError
    from indexer.errors import BackendUnavailable, IndexLoadError, UpdateError, WriterBusy

    try:
        with _progress_bar(enabled=sys.stderr.isatty() and not getattr(args, "quiet", False)):
            result = _apply(args, changes)
    except (UpdateError, WriterBusy, IndexLoadError, BackendUnavailable, ModelNotFoundError, OSError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, action in result.files.items():
        print(f"{action} {name}")
    print(
        f"index version {result.version}: {result.reports} reports, {result.chunks} chunks "
        f"(reports +{len(result.reports_added)} ~{len(result.reports_updated)} "
        f"-{len(result.reports_removed)}; chunks +{result.chunks_added} -{result.chunks_removed}, "
        f"{result.embedded} embedded) in {result.seconds:.1f}s"
    )
    return 0


def run_add(args: argparse.Namespace) -> int:
    from indexer.changes import Put
    from indexer.errors import InvalidDocument
    from indexer.ingest.corpus import doc_id_from_name, validate_doc_id
    from indexer.ingest.decode import ReadError, decode_bytes
    from indexer.ingest.readers import SUFFIXES, sniff

    if args.doc_id and len(args.files) > 1:
        print("error: --id names one file; give one FILE with it", file=sys.stderr)
        return 2
    changes = []
    must: Literal["new", "any"] = "new" if args.new else "any"
    for path in args.files:
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            print(f"error: {path}: not a report format ({' '.join(sorted(SUFFIXES))})", file=sys.stderr)
            return 2
        try:
            doc_id = validate_doc_id(args.doc_id or doc_id_from_name(path.stem) or path.stem)
            data = path.read_bytes()
            if sniff(data, path.name) == "txt":
                changes.append(Put(doc_id, decode_bytes(data, path.name), must=must))
            else:  # stored as it is; the indexer reads it with its format's reader
                changes.append(Put(doc_id, must=must, data=data, suffix=suffix))
        except InvalidDocument as exc:
            print(f"error: {path}: {exc} (name it with --id)", file=sys.stderr)
            return 2
        except ReadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"error: {path}: cannot read file ({exc.strerror or exc})", file=sys.stderr)
            return 2
    return _run_changes(args, changes)


def run_remove(args: argparse.Namespace) -> int:
    from indexer.changes import Delete

    return _run_changes(args, [Delete(d) for d in args.doc_ids])


def run_migrate(args: argparse.Namespace) -> int:
    import dataclasses

    from pymilvus.exceptions import MilvusException

    from indexer.configure import milvus_config
    from indexer.errors import IndexLoadError
    from indexer.migrate import migrate

    settings = _settings(args)
    try:
        config = milvus_config(settings, args.milvus_uri)
        if args.collection:
            config = dataclasses.replace(config, prefix=args.collection)
        done = migrate(Path(args.index or settings.index_dir), config.uri, config.token, config.prefix,
                       timeout_s=config.timeout_s, replace=args.replace)
    except (ValueError, IndexLoadError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MilvusException as exc:
        print(f"error: Milvus at {config.uri}: {exc}", file=sys.stderr)
        return 2
    verb = "copied" if done.copied else "already complete:"
    print(f"{verb} {done.reports} reports, {done.chunks} chunks and {done.sentences} sentences into "
          f"{config.prefix}_* at {config.uri} ({done.seconds:.1f}s)")
    return 0
