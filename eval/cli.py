"""`zhiwen eval`: score retrieval and answers on a QA set or a BEIR benchmark.

zhiwen eval --qa ../shared/eval/dev_questions.jsonl [--gate eval/floors.toml]
zhiwen eval --beir ../shared/benchmarks/cmrc2018 [--limit 300] [--split DEV]
zhiwen eval --qa ... --url http://host:8000
zhiwen eval --qa ... --milvus-uri /tmp/zhiwen.db   (each system also over Milvus, side by side)
zhiwen eval --beir ../shared/benchmarks/squad2-zh --articles report [--per-class 600]
    (answerability on an equal mix of answerable and impossible questions, ``eval.mix``)
zhiwen eval [--qa ...] --multi eval/data/multi_questions.jsonl [--per-question]
    (list and comparison questions through the answering engine, scored by report: ``eval.multi``)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.runs import evaluate, multi_run_of
from indexer.embed import SENTENCE_SCHEMES

if TYPE_CHECKING:

    from eval.data import EvalSet
    from eval.mix_report import MixResult
    from eval.multi_run import MultiRun
    from eval.runner import EvalRun
    from eval.systems import Backend
    from zhiwen.settings import Settings

log = logging.getLogger(__name__)



def _out(text: str) -> None:
    """CLI output (the report) goes to stdout; diagnostics go to stderr and the log."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(f"error: {text}\n")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate retrieval and answers on a QA set or a BEIR benchmark",
        description="Score keyword-only, dense-only and hybrid retrieval (plus any --system) "
        "side by side, and the composed answers of the hybrid system. Writes report.md, "
        "metrics.json, chart.png, TREC runs and per_question.jsonl under results/.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--qa", type=Path, metavar="FILE", help="QA set (JSONL) over the index")
    what.add_argument(
        "--beir",
        type=Path,
        metavar="DIR",
        help="BEIR-layout benchmark; its corpus is indexed (and cached) first",
    )
    p.add_argument(
        "--multi",
        type=Path,
        metavar="FILE",
        help="list and comparison questions (eval/data/multi_questions.jsonl): each asked through "
        "the answering engine over --index and scored by report, as rows of their own; alone or "
        "beside --qa",
    )
    p.add_argument("--per-question", action="store_true",
                   help="with --multi: also print the per-question table (always in report.md)")
    p.add_argument("--index", type=Path, help="index directory for --qa and --multi (default: var/index)")
    p.add_argument("--model", help="embedding model (default: m3e-small)")
    p.add_argument(
        "--url",
        help="score a running deployment (http://host:8000) instead; "
        "API key, if needed, from $ZHIWEN_EVAL_API_KEY",
    )
    p.add_argument(
        "--system",
        action="append",
        default=[],
        metavar="NAME=OPTS",
        help="extra system, e.g. bm25only=mode:keyword or "
        "w5=mode:hybrid,fusion.dense_weight:0.5 (any field of service.answering.config.ScoringConfig); "
        "repeatable",
    )
    p.add_argument(
        "--milvus-uri",
        metavar="URI",
        help="also score every system over Milvus (<name>-milvus), the index copied there first if "
        "needed: a server (http://host:19530) or a Milvus Lite file ending in .db; without it, "
        "systems with backend:milvus use $ZHIWEN_MILVUS_URI",
    )
    p.add_argument(
        "--no-default-systems",
        action="store_true",
        help="score only the --system ones, not keyword/dense/hybrid",
    )
    p.add_argument(
        "--answers-all",
        action="store_true",
        help="evaluate answers for every system (default: hybrid only)",
    )
    p.add_argument("--top-k", type=_positive, default=10, help="depth of the scored ranking (10)")
    p.add_argument(
        "--search-k",
        type=_positive,
        default=None,
        help="chunks retrieved per query (default: top-k; 3 x top-k for BEIR)",
    )
    p.add_argument(
        "--ask-top-k", type=_positive, default=None, help="passages per answer (default: 5)"
    )
    p.add_argument("--limit", type=_positive, default=None, help="score only the first N queries")
    p.add_argument("--split", help="keep queries whose id starts with this prefix (e.g. DEV,TRIAL)")
    p.add_argument(
        "--max-chars", type=_positive, default=None, help="BEIR chunk size (default: 300)"
    )
    p.add_argument("--overlap", type=int, default=None, help="BEIR chunk overlap (default: 100)")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("var/eval-cache"),
        help="where BEIR indexes are cached (var/eval-cache)",
    )
    p.add_argument("--sentence-vectors", choices=SENTENCE_SCHEMES, default=None,
                   help="how the BEIR index makes its sentence vectors (default: the indexer's)")
    p.add_argument("--answerability", type=Path, default=None, metavar="FILE",
                   help="answerability model of the extractive answers (default: the packaged one; "
                   "`zhiwen fit-answerability --out FILE` writes another)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached BEIR index")
    p.add_argument(
        "--leave-out",
        type=float,
        metavar="SHARE",
        help="remove this share of whole documents (BEIR: articles; QA: reports) from the index; "
        "questions about them "
        "must be refused (e.g. 0.15)",
    )
    p.add_argument("--seed", type=int, default=0,
                   help="which documents --leave-out removes, which questions the equal mix keeps (0)")
    p.add_argument(
        "--articles",
        choices=("fit", "report", "all"),
        default=None,
        help="BEIR with impossible questions: score answerability on an equal mix of answerable "
        "and impossible questions of these articles (fit / report: the fixed halves of "
        "eval.mix, fit for fitting, report for figures), with the threshold swept "
        "(answerability.json, answerability_sweep.png)",
    )
    p.add_argument(
        "--per-class",
        type=_positive,
        default=None,
        metavar="N",
        help="with --articles: at most N answerable and N impossible questions (seeded by --seed)",
    )
    p.add_argument(
        "--gold-corpus",
        action="store_true",
        help="BEIR: index only the passages the kept questions are about (with --limit, a small "
        "set that builds in a minute: the CI gate's CMRC subset)",
    )
    p.add_argument("--out", type=Path, help="output directory (default: results/<time>-<set>)")
    p.add_argument(
        "--results-dir",
        type=Path,
        default=Path("results"),
        help="parent of the default output directory (results)",
    )
    p.add_argument(
        "--gate",
        type=Path,
        metavar="FLOORS",
        help="floors TOML (eval/floors.toml): exit 1 when a metric is below its floor",
    )
    p.add_argument(
        "--gate-table",
        default="floors",
        help="which table of the floors file to gate on (floors: the dev set; cmrc_dev_leave_out)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> Settings:
    """The settings ``zhiwen`` read at start (``zhiwen/cli.py``); options override them."""
    settings: Settings = args.settings
    return settings


def _out_dir(args: argparse.Namespace, eval_set: EvalSet | None) -> Path:
    if args.out:
        return Path(args.out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if eval_set is None:  # --multi alone
        return Path(args.results_dir) / f"{stamp}-{Path(args.multi).stem}"
    name = eval_set.name
    if args.multi is not None:
        name += f"+{Path(args.multi).stem}"
    if args.split:
        name += f"-{args.split.replace(',', '+')}"
    if args.limit is not None:
        name += f"-limit{args.limit}"
    if args.gold_corpus:
        name += "-goldcorpus"
    if args.leave_out is not None:
        name += f"-leaveout{args.leave_out:g}-seed{args.seed}"
    if args.articles is not None:
        name += f"-{args.articles}-mix" + (f"{args.per_class}" if args.per_class else "") + f"-seed{args.seed}"
    return Path(args.results_dir) / f"{stamp}-{name}"


def run(args: argparse.Namespace) -> int:
    import httpx
    from pymilvus.exceptions import MilvusException

    from embeddings import ModelNotFoundError
    from eval.data import EvalDataError
    from eval.gate import check, gate_table, load_floors
    from eval.report import markdown_report, write_outputs
    from eval.systems import HttpError
    from indexer.errors import IndexLoadError

    if args.qa is None and args.beir is None and args.multi is None:
        _err("give --qa, --beir or --multi")
        return 2
    # numba (under ranx) logs its compiler passes at INFO; they drown the run's own messages.
    logging.getLogger("numba").setLevel(max(logging.WARNING, logging.getLogger().level))
    progress = not args.quiet and sys.stderr.isatty()
    eval_set: EvalSet | None = None
    result: EvalRun | None = None
    mix: MixResult | None = None
    multi: MultiRun | None = None
    with contextlib.ExitStack() as stack:  # closes a Milvus connection (and Milvus Lite)
        try:
            floors = load_floors(args.gate, args.gate_table) if args.gate else None
            if args.multi is not None and (args.url or args.beir is not None):
                raise ValueError("--multi asks the answering engine in-process over --index: "
                                 "not with --url or --beir")
            backend: Backend | None = None
            whole = True
            if args.qa is not None or args.beir is not None:
                eval_set, result, mix, backend, whole = evaluate(args, stack, progress)
            if args.multi is not None:
                multi = multi_run_of(args, backend, whole, progress)
        except (
            EvalDataError,
            ValueError,
            OSError,
            ModelNotFoundError,
            IndexLoadError,
            HttpError,
            httpx.HTTPError,
            MilvusException,
        ) as exc:
            _err(str(exc))
            return 2

    out_dir = _out_dir(args, eval_set)
    files = []
    metrics: dict[str, Any] = {}
    if result is not None:
        write_outputs(result, out_dir)
        _out(markdown_report(result))
        files += ["report.md", "metrics.json", "chart.png", "runs/", "per_question.jsonl"]
        metrics |= result.flat_metrics()
    if mix is not None:
        from eval.mix_report import markdown_section, write_mix_outputs

        write_mix_outputs(mix, out_dir)
        _out(markdown_section(mix))
        files += ["answerability.json", "answerability_sweep.png"]
    if multi is not None:
        from eval.multi_run import markdown_section as multi_section
        from eval.multi_run import write_multi_outputs

        write_multi_outputs(multi, out_dir)
        report = out_dir / "report.md"
        with report.open("a", encoding="utf-8") as f:  # the per-question table always goes here
            f.write(("\n" if result is not None else "") + multi_section(multi, per_question=True))
        _out(("\n" if result is not None else "") + multi_section(multi, per_question=args.per_question))
        files += [] if result is not None else ["report.md"]
        files += ["multi.json", "multi_per_question.jsonl"]
        metrics |= multi.metrics
    _out(f"Results: {out_dir}/ ({', '.join(files)})")
    if floors is None:
        return 0
    violations = check(metrics, floors)
    gate = f"\n## Gate ({args.gate})\n\n{gate_table(metrics, floors)}\n"
    with (out_dir / "report.md").open("a", encoding="utf-8") as f:
        f.write(gate)
    _out(gate)
    if violations:
        for line in violations:
            sys.stderr.write(f"gate: {line}\n")
        return 1
    _out("Gate passed.")
    return 0
