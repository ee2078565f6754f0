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
from typing import TYPE_CHECKING, Any, cast

from indexer.embed import SENTENCE_SCHEMES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eval.data import EvalSet
    from eval.mix import MixSelection
    from eval.mix_report import MixResult
    from eval.multi_run import MultiRun
    from eval.runner import EvalRun
    from eval.systems import Backend, System
    from indexer.backends.milvus.store import MilvusConfig
    from indexer.retrieval.search import Searcher
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
        "w5=mode:hybrid,fusion.dense_weight:0.5 (any field of indexer.retrieval.scoring.ScoringConfig); "
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


def _qa_index(args: argparse.Namespace) -> Path:
    """The index a QA set is scored on: ``--index``, else the configured one."""
    return Path(args.index or _settings(args).index_dir)


def _backend(
    args: argparse.Namespace,
    eval_set: EvalSet,
    progress: bool,
    exclude: frozenset[str] = frozenset(),
    *,
    systems: Sequence[System] = (),
    stack: contextlib.ExitStack | None = None,
) -> tuple[Backend, dict[str, Any]]:
    """The backend to score with, and what describes it in the report. A system over Milvus
    gets the same index there (copied first when Milvus does not hold it; the connection is
    closed with ``stack``)."""
    if args.url:
        from eval.systems import HttpBackend

        key = _settings(args).eval_api_key
        return HttpBackend(args.url, api_key=key.get_secret_value() if key else None), {"url": args.url}

    from eval.systems import InProcessBackend

    settings = _settings(args)
    model = args.model or settings.model
    if eval_set.kind == "beir":
        max_chars = args.max_chars or settings.chunk_max_chars
        overlap = args.overlap if args.overlap is not None else settings.chunk_overlap
        searcher = open_searcher(
            eval_set, model, args.cache_dir, exclude=exclude, progress=progress,
            max_chars=max_chars, overlap=overlap, rebuild=args.rebuild, sentence_vectors=args.sentence_vectors,
        )
        config: dict[str, Any] = {"index": str(searcher.path), "max_chars": max_chars, "overlap": overlap,
                                  "sentence_vectors": searcher.meta.get("params", {}).get("sentence_vectors")}
    else:
        index_dir = _qa_index(args)
        searcher = open_searcher(eval_set, model, args.cache_dir, index_dir=index_dir, exclude=exclude)
        config = {"index": str(searcher.path or index_dir)}
        _warn_if_stale(searcher.meta, index_dir)
    others: dict[str, Any] = {}
    if any(s.backend == "milvus" for s in systems):
        assert stack is not None and searcher.path is not None
        from indexer.configure import milvus_config

        milvus = milvus_config(settings, args.milvus_uri)
        others["milvus"], config["milvus"] = _milvus_searcher(searcher, milvus, stack)
    if not eval_set.has_answers:
        return InProcessBackend(searcher, others=others), config | {"model": model}
    import functools

    from service.answering.answerability import load_model
    from service.answering.extractive import ExtractiveComposer

    # as the service builds it: sharing the index's tokenizer and term statistics, with each
    # system's searcher and scoring configuration
    composer_for: Any = ExtractiveComposer.for_index
    if args.answerability is not None:
        composer_for = functools.partial(ExtractiveComposer.for_index, answerability=load_model(args.answerability))
        config["answerability"] = str(args.answerability)
    backend = InProcessBackend(searcher, composer_for=composer_for, others=others)
    return backend, config | {"model": model}


def _warn_if_stale(meta: dict[str, Any], index_dir: Path) -> None:
    """An index built by an older pipeline scores the old code, not HEAD's: say so."""
    from indexer.backends.local.build import PIPELINE_VERSION

    built = (meta.get("params") or {}).get("pipeline_version")
    if built != PIPELINE_VERSION:
        log.warning("%s was built by pipeline version %s, this code is version %s: the figures "
                    "are not this code's until `zhiwen index` (or `make eval`) rebuilds it",
                    index_dir, built, PIPELINE_VERSION)


def _milvus_searcher(
    searcher: Searcher, config: MilvusConfig, stack: contextlib.ExitStack
) -> tuple[Searcher, dict[str, Any]]:
    """``searcher``'s index searched in Milvus, copied there first when Milvus lacks it: into
    collections of its own (``<prefix>_eval_*``), never a served store's."""
    import dataclasses

    from indexer.backends.milvus.migrate import copy_snapshot
    from indexer.backends.milvus.store import MilvusConnection, MilvusStore
    from indexer.backends.milvus.view import open_searcher

    assert searcher.path is not None
    config = dataclasses.replace(config, prefix=f"{config.prefix}_eval")
    conn = stack.enter_context(MilvusConnection(config))
    copied = copy_snapshot(conn, searcher.path, replace=True)
    log.info("Milvus %s: collections %s_* (%s)", config.uri, config.prefix,
             "copied" if copied.copied else "already there")
    milvus = open_searcher(MilvusStore(conn), searcher.embedder)
    return milvus, {"uri": config.uri, "collection": copied.collections.chunks}


def open_searcher(
    eval_set: EvalSet,
    model: str,
    cache_dir: Path,
    *,
    exclude: frozenset[str] = frozenset(),
    progress: bool = False,
    max_chars: int = 300,
    overlap: int = 100,
    rebuild: bool = False,
    index_dir: Path | None = None,
    sentence_vectors: str | None = None,
) -> Searcher:
    """The index to evaluate on: ``index_dir`` for a QA set; for a BEIR set its corpus (without
    ``exclude``) indexed into ``cache_dir`` once and reused."""
    from embeddings import load_embedder
    from indexer.backends.local.store import IndexLoadError, load_index

    # No embedding cache for queries: their latencies must measure the model, not a lookup.
    embedder = load_embedder(model)
    if eval_set.kind != "beir":
        source = index_dir or Path("var/index")
        if exclude:
            source = _reduced_qa_index(source, exclude, Path(cache_dir), embedder, progress)
        return load_index(source, embedder)
    from eval.cache import cached_beir_index

    assert eval_set.corpus_dir is not None
    # Passages are embedded through a cache, so an index without the left-out documents costs
    # no second embedding pass.
    build_embedder = load_embedder(model, cache_path=Path(cache_dir) / "embeddings.sqlite")

    def build(again: bool) -> Path:
        assert eval_set.corpus_dir is not None
        return cached_beir_index(
            eval_set.corpus_dir, build_embedder, cache_dir, max_chars=max_chars, overlap=overlap,
            progress=progress, rebuild=again, exclude=exclude, sentence_vectors=sentence_vectors,
        )

    path = build(rebuild)
    try:
        return load_index(path, embedder)
    except IndexLoadError as exc:
        log.warning("cached index unusable (%s); rebuilding", exc)
        return load_index(build(True), embedder)


def _reduced_qa_index(
    index_dir: Path, exclude: frozenset[str], cache_dir: Path, embedder: Any, progress: bool
) -> Path:
    """The QA index without the ``exclude`` reports, rebuilt under ``cache_dir`` from the reports
    ``index_dir`` holds, with its chunking parameters (its vectors are not loaded)."""
    import hashlib

    from indexer.backends.local.build import build_index_from_reports
    from indexer.backends.local.store import read_meta, read_reports
    from indexer.embed import recorded_scheme

    meta = read_meta(index_dir)
    chunker = meta.get("params", {}).get("chunker", {})
    key = hashlib.sha256("\n".join(sorted(exclude)).encode()).hexdigest()[:16]
    target = cache_dir / f"qa-leave-out-{key}"
    kept = [r for r in read_reports(index_dir) if r.doc_id not in exclude]
    build_index_from_reports(
        kept, target, embedder, progress=progress, sentence_vectors=recorded_scheme(meta),
        **{k: chunker[k] for k in ("max_chars", "overlap") if k in chunker},
    )
    return target


def _mix_set(args: argparse.Namespace, eval_set: EvalSet) -> tuple[EvalSet, MixSelection]:
    """The equal mix of ``--articles`` (``eval.mix``); only in-process BEIR runs with answers."""
    from eval.data import load_beir_corpus
    from eval.mix import select

    if eval_set.kind != "beir" or not eval_set.has_answers:
        raise ValueError("--articles needs --beir with answers.jsonl and impossible questions")
    if args.url or args.leave_out is not None or args.gold_corpus:
        raise ValueError("--articles indexes the whole corpus in-process: not with --url, "
                         "--leave-out or --gold-corpus")
    assert eval_set.corpus_dir is not None
    half = None if args.articles == "all" else args.articles
    return select(eval_set, load_beir_corpus(eval_set.corpus_dir), half, seed=args.seed,
                  per_class=args.per_class)


def _mix_result(
    args: argparse.Namespace, run: EvalRun, backend: Backend, selection: MixSelection, ask_top_k: int
) -> MixResult:
    """The equal-mix figures of the answer system: as served, and swept over the threshold (a
    refusal the threshold made asked again through a composer whose threshold is 0)."""
    import dataclasses
    import functools

    from eval.mix import operating_point, scored_outcomes
    from eval.mix_report import MixResult
    from eval.systems import InProcessBackend
    from service.answering.answerability import MODEL_PATH, load_model, packaged_model
    from service.answering.extractive import ExtractiveComposer

    result = next(r for r in run.results if r.answers)
    model = load_model(args.answerability) if args.answerability is not None else packaged_model()
    assert isinstance(backend, InProcessBackend)
    opened = InProcessBackend(backend.searcher, composer_for=functools.partial(
        ExtractiveComposer.for_index, answerability=dataclasses.replace(model, threshold=0.0)))
    scored = scored_outcomes(result.outcomes, lambda q: opened.ask(q, result.system, ask_top_k))
    return MixResult(
        selection=selection,
        system=result.system.name,
        threshold=model.threshold,
        model=str(args.answerability or MODEL_PATH.name),
        operating=operating_point(result.outcomes),
        scored=scored,
    )


def _systems(args: argparse.Namespace) -> tuple[list[System], set[str]]:
    from eval.systems import SERVED, milvus_twins, parse_system, select_systems

    if args.url:
        if args.system:
            log.warning("--url scores only the served system; --system ignored")
        return [SERVED], {SERVED.name}
    extra = [parse_system(s) for s in args.system]
    systems = select_systems(extra, defaults=not args.no_default_systems)
    if not systems:
        raise ValueError("no system to score: give --system with --no-default-systems")
    if args.milvus_uri and not any(s.backend == "milvus" for s in systems):
        systems = milvus_twins(systems)
    names = {s.name for s in systems}
    if args.answers_all:
        return systems, names
    return systems, {"hybrid"} if "hybrid" in names else {systems[0].name}


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


def _evaluate(
    args: argparse.Namespace, stack: contextlib.ExitStack, progress: bool
) -> tuple[EvalSet, EvalRun, MixResult | None, Backend, bool]:
    """The ``--qa`` / ``--beir`` run: the set, its result, the equal-mix figures (with
    ``--articles``), the backend, and whether its index is the whole one (no report left out)."""
    from eval.data import EvalDataError, load_beir, load_qa
    from eval.runner import run_evaluation

    if args.qa:
        eval_set = load_qa(args.qa, split=args.split, limit=args.limit)
    else:
        eval_set = load_beir(args.beir, split=args.split, limit=args.limit)
    if not eval_set.queries:
        raise EvalDataError(f"{eval_set.source}: no queries left after --split/--limit")
    left_out: dict[str, Any] = {}
    exclude: frozenset[str] = frozenset()
    if args.url and (args.leave_out is not None or args.gold_corpus):
        raise ValueError("--leave-out and --gold-corpus need an in-process index, not --url")
    if args.gold_corpus and eval_set.kind != "beir":
        raise ValueError("--gold-corpus works with --beir")
    selection = None
    if args.per_class is not None and args.articles is None:
        raise ValueError("--per-class works with --articles")
    if args.articles is not None:
        eval_set, selection = _mix_set(args, eval_set)
        log.info("equal mix: %s", selection.describe()["kept"])
    if args.leave_out is not None or args.gold_corpus:
        if eval_set.kind == "beir":
            from eval.data import load_beir_corpus

            assert eval_set.corpus_dir is not None
            corpus = load_beir_corpus(eval_set.corpus_dir)
        else:
            from indexer.backends.local.store import read_reports

            corpus = read_reports(_qa_index(args))
        if args.gold_corpus:
            about = frozenset(d for q in eval_set.queries for d in q.gold_docs)
            exclude = frozenset(r.doc_id for r in corpus if r.doc_id not in about)
            corpus = [r for r in corpus if r.doc_id in about]
            left_out["gold_corpus"] = len(corpus)
        if args.leave_out is not None:
            from eval.leaveout import apply

            eval_set, chosen = apply(eval_set, corpus, args.leave_out, args.seed)
            exclude |= chosen.passages
            left_out["leave_out"] = chosen.describe()
            log.info(
                "left out %d documents; %d questions are about them", chosen.documents, chosen.questions
            )
    systems, answer_systems = _systems(args)
    backend, config = _backend(args, eval_set, progress, exclude, systems=systems, stack=stack)
    config |= {"split": args.split, "limit": args.limit} | left_out
    if selection is not None:
        config["mix"] = selection.describe()
    ask_top_k = args.ask_top_k or _settings(args).ask_top_k
    result = run_evaluation(
        eval_set,
        backend,
        systems,
        answer_systems=answer_systems,
        depth=args.top_k,
        search_k=args.search_k,
        ask_top_k=ask_top_k,
        progress=progress,
        config=config,
    )
    mix = _mix_result(args, result, backend, selection, ask_top_k) if selection is not None else None
    return eval_set, result, mix, backend, not exclude


def _multi(
    args: argparse.Namespace, backend: Backend | None, whole: bool, progress: bool
) -> MultiRun:
    """The ``--multi`` run, over the ``--qa`` run's index when that is the whole one."""
    from eval.multi_run import load_multi, multi_engine, run_multi
    from eval.systems import InProcessBackend

    questions = load_multi(args.multi)
    if isinstance(backend, InProcessBackend) and whole:
        searcher = cast("Searcher", backend.searcher)
    else:
        from embeddings import load_embedder
        from indexer.backends.local.store import load_index

        index_dir = _qa_index(args)
        searcher = load_index(index_dir, load_embedder(args.model or _settings(args).model))
        _warn_if_stale(searcher.meta, index_dir)
    engine = multi_engine(searcher, args.answerability)
    config = {"index": str(engine.searcher.path or _qa_index(args)), "model": engine.embedder.name}
    if args.answerability is not None:
        config["answerability"] = str(args.answerability)
    return run_multi(engine, questions, top_k=args.ask_top_k or _settings(args).ask_top_k,
                     source=args.multi, progress=progress, config=config)


def run(args: argparse.Namespace) -> int:
    import httpx
    from pymilvus.exceptions import MilvusException

    from embeddings import ModelNotFoundError
    from eval.data import EvalDataError
    from eval.gate import check, gate_table, load_floors
    from eval.report import markdown_report, write_outputs
    from eval.systems import HttpError
    from indexer.backends.local.store import IndexLoadError

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
                eval_set, result, mix, backend, whole = _evaluate(args, stack, progress)
            if args.multi is not None:
                multi = _multi(args, backend, whole, progress)
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
