"""``zhiwen serve`` (the HTTP API under uvicorn) and ``zhiwen ask`` (one answer in the terminal).

Only argparse at import time: ``zhiwen --help`` must not pay for FastAPI or torch.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from indexer.types import Report
    from service.answering.types import Answer
    from zhiwen.settings import Settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the HTTP API (search, ask, documents; OpenAPI at /docs)",
        description="Serve the API with uvicorn. The model and index load in the background: "
        "/healthz answers at once, /readyz once the index is loaded (or says why not). "
        "Defaults come from ZHIWEN_* settings.",
    )
    serve.add_argument("--host", help="interface to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: 8000)")
    serve.add_argument("--index", type=Path, help="index directory (default: var/index)")
    serve.add_argument("--model", help="embedding model the index was built with (m3e-small)")
    serve.set_defaults(func=run_serve)

    ask = subparsers.add_parser(
        "ask",
        help="answer a question with citations, in the terminal",
        description="Load the index in-process and print the answer, its citations (report, "
        "offsets, quote) and, when the reports do not answer, the closest passages.",
    )
    ask.add_argument("question", help="the question, e.g. 九水街道党工委获得了什么荣誉称号？")
    ask.add_argument("--top-k", type=int, help="passages to compose from (default: 5)")
    ask.add_argument("--composer", choices=("extractive", "llm"), help="answer composer")
    ask.add_argument("--index", type=Path, help="index directory (default: var/index)")
    ask.add_argument("--model", help="embedding model the index was built with (m3e-small)")
    ask.add_argument("--passages", action="store_true", help="also list the retrieved passages")
    ask.add_argument("--json", action="store_true", help="print the /v1/ask JSON instead")
    ask.set_defaults(func=run_ask)

    feedback = subparsers.add_parser(
        "feedback",
        help="work with the feedback users gave on answers (export corrections for eval)",
        description="Feedback stored by POST /v1/feedback (ZHIWEN_FEEDBACK_DB).",
    )
    actions = feedback.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write corrected questions as a QA set for `zhiwen eval --qa`",
        description="Write the feedback of one knowledge base that carries a correction (the "
        "right answer and/or the right report and passage) as QA JSONL lines {id, question, doc, "
        "answers, evidence, type, kb, count}, the format `zhiwen eval --qa` reads. A correction "
        "without a report is located in that knowledge base's reports; identical questions are "
        "one line, `count` saying how many feedback rows it stands for (see README, Feedback).",
    )
    export.add_argument("--db", type=Path, help="feedback database (default: ZHIWEN_FEEDBACK_DB)")
    export.add_argument("--kb", default="default", metavar="NAME",
                        help="knowledge base whose feedback to export (default: default); '*': "
                        "each knowledge base with feedback into its own file <out>/<name>.jsonl")
    export.add_argument("--out", type=Path, help="QA file to write (default: standard output); "
                        "with --kb '*' the folder to write into (needed)")
    export.add_argument("--index", type=Path,
                        help="index whose reports locate corrections (default: the knowledge "
                        "base's: ZHIWEN_INDEX_DIR for default, <ZHIWEN_KBS_DIR>/<name>/index)")
    export.add_argument("--all", action="store_true",
                        help="also export 👍 answers without a correction (confirmed answers and "
                        "confirmed refusals) of the knowledge base exported")
    export.set_defaults(func=run_feedback_export)


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The dispatcher's settings (``args.settings``) with command-line values on top, validated."""
    from zhiwen.settings import Settings, get_settings

    base: Settings = getattr(args, "settings", None) or get_settings()
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings.model_validate({**base.model_dump(), **given}) if given else base


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 2


def run_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from zhiwen.settings import describe_errors

    try:
        settings = _settings(
            args, host=args.host, port=args.port, index_dir=args.index, model=args.model
        )
    except ValidationError as exc:
        return _fail(f"invalid option:\n{describe_errors(exc)}")

    import uvicorn

    from service.api.app import create_app
    from service.api.server import guarded_protocol

    log.info("serving on http://%s:%d (index %s)", settings.host, settings.port, settings.index_dir)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=guarded_protocol(settings.header_timeout_s, settings.body_timeout_s),
    )
    return 0


def run_ask(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from zhiwen.settings import describe_errors

    try:
        settings = _settings(args, index_dir=args.index, model=args.model)
    except ValidationError as exc:
        return _fail(f"invalid option:\n{describe_errors(exc)}")
    question = args.question.strip()
    if not question:
        return _fail("the question is empty")
    if len(question) > settings.max_question_chars:
        return _fail(f"the question is over {settings.max_question_chars} characters")
    top_k = args.top_k if args.top_k is not None else settings.ask_top_k
    if not 1 <= top_k <= settings.max_top_k:
        return _fail(f"--top-k must be between 1 and {settings.max_top_k}")

    from embeddings import ModelNotFoundError
    from indexer.errors import BackendUnavailable, IndexLoadError
    from service.kb import open_engine

    try:
        backend, engine = open_engine(settings, recover=False)  # on the configured backend (ZHIWEN_BACKEND)
    except (IndexLoadError, ModelNotFoundError, BackendUnavailable, ValueError) as exc:
        return _fail(str(exc))
    start = time.perf_counter()
    try:
        answer = engine.ask(question, top_k, args.composer)
    finally:
        backend.close()
    took_ms = round((time.perf_counter() - start) * 1000, 2)
    if args.json:
        from service.api.schemas import AskResponse

        body = AskResponse.from_answer(answer, engine.reports, took_ms=took_ms)
        sys.stdout.write(body.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(format_answer(answer, engine.reports, passages=args.passages))
    return 0


def _one_line(text: str) -> str:
    # page-break line breaks inside a quote mean nothing in Chinese prose: drop them
    return re.sub(r"\s*\n\s*", "", text).strip()


def format_answer(answer: Answer, reports: Mapping[str, Report], *, passages: bool = False) -> str:
    """The answer as the terminal shows it: text, citations with offsets and quotes, warnings,
    and the closest passages when the reports do not answer (or when asked for)."""
    lines = [answer.text, ""]
    if answer.citations:
        lines.append("引用：")
        for c in answer.citations:
            mark = "" if c.supported else "（未被原文支持）"
            lines.append(f"[{c.n}] {c.title}（{c.doc_id}）第 {c.start}–{c.end} 字{mark}")
            lines.append(f"    “{_one_line(c.quote)}”")
        lines.append("")
    if passages or not answer.answerable:
        lines.append("最接近的段落：" if not answer.answerable else "检索到的段落：")
        for i, hit in enumerate(answer.passages, 1):
            chunk = hit.chunk
            title = chunk.title or getattr(reports.get(chunk.doc_id), "title", "")
            text = _one_line(chunk.text)
            snippet = text if len(text) <= 120 else text[:120] + "……"
            lines.append(
                f"{i}. {title}（{chunk.doc_id}）第 {chunk.start}–{chunk.end} 字"
                f"  score={hit.score:.3f}"
            )
            lines.append(f"    {snippet}")
        lines.append("")
    for warning in answer.warnings:
        lines.append(f"注意：{warning}")
    lines.append(f"（回答方式：{answer.composer}）")
    return "\n".join(lines) + "\n"


def _index_texts(index_dir: Path) -> dict[str, str]:
    """doc_id → text of the reports an index holds; empty (with a warning) when it cannot be read."""
    from indexer.backends.local.store import read_reports
    from indexer.errors import IndexLoadError

    try:
        return {r.doc_id: r.text for r in read_reports(index_dir)}
    except (IndexLoadError, OSError, ValueError) as exc:
        log.warning("reports of %s not read (%s): corrections without a report fall back to the "
                    "report the answer cited", index_dir, exc)
        return {}


EVERY_KB = "*"  # --kb '*': each knowledge base on its own (the keys file's spelling of "all")


def _kb_index(settings: Settings, kb: str) -> Path:
    """Where knowledge base ``kb``'s index lives (as the server opens it)."""
    from service.kbs import DEFAULT, kb_settings

    if kb == DEFAULT:
        return Path(settings.index_dir)
    return Path(kb_settings(settings, Path(settings.kbs_dir) / kb).index_dir)


def run_feedback_export(args: argparse.Namespace) -> int:
    import json
    import sqlite3

    from service.feedback import Feedback, FeedbackStore
    from service.feedback_export import qa_rows
    from service.kbs import NAME_PATTERN

    every = args.kb == EVERY_KB
    if not every and not re.fullmatch(NAME_PATTERN, args.kb):
        return _fail(f"--kb {args.kb[:50]!r}: not a knowledge base name (1-40 of a-z 0-9 _ -) "
                     f"nor '{EVERY_KB}'")
    if every and (args.out is None or args.index is not None):
        return _fail(f"--kb '{EVERY_KB}' writes one file per knowledge base: give --out FOLDER "
                     "(and no --index: each base's own index locates its corrections)")
    settings = _settings(args)
    db = Path(args.db or settings.feedback_db)
    if not db.is_file():
        return _fail(f"{db}: no feedback database (set ZHIWEN_FEEDBACK_DB or give --db)")
    try:
        store = FeedbackStore.open(db)
        try:
            kbs = store.kbs() if every else [args.kb]
            feedback: dict[str, list[Feedback]] = {kb: store.list(kb=kb) for kb in kbs}
        finally:
            store.close()
    except sqlite3.Error as exc:
        return _fail(f"{db}: {exc}")
    for kb, rows in feedback.items():
        export = qa_rows(rows, _index_texts(Path(args.index or _kb_index(settings, kb))),
                         include_all=args.all)
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in export.rows)
        out: Path | None = args.out / f"{kb}.jsonl" if every else args.out
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(lines, encoding="utf-8")
        else:
            sys.stdout.write(lines)
        for feedback_id, why in export.skipped:
            log.warning("feedback %d skipped: %s", feedback_id, why)
        merged = sum(row["count"] for row in export.rows) - len(export.rows)
        sys.stderr.write(f"{kb}: {len(export.rows)} questions exported from {len(rows)} feedback rows"
                         f"{f', {merged} identical ones merged' if merged else ''}"
                         f"{f', {len(export.skipped)} skipped' if export.skipped else ''}"
                         f"{f' to {out}' if out else ''}\n")
    if not feedback:
        sys.stderr.write(f"no feedback in {db}\n")
    return 0
