"""The runs of ``zhiwen eval``: a ``--qa`` / ``--beir`` run (the set, its leave-out or equal mix,
the systems and the backend they are scored on) and a ``--multi`` run."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from eval.indexes import milvus_searcher, open_searcher, warn_if_stale

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eval.data import EvalSet
    from eval.mix import MixSelection
    from eval.mix_report import MixResult
    from eval.multi_run import MultiRun
    from eval.runner import EvalRun
    from eval.systems import Backend, System
    from indexer.retrieval.search import Searcher

log = logging.getLogger(__name__)


def qa_index(args: argparse.Namespace) -> Path:
    """The index a QA set is scored on: ``--index``, else the configured one."""
    return Path(args.index or args.settings.index_dir)


def eval_backend(
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

        key = args.settings.eval_api_key
        return HttpBackend(args.url, api_key=key.get_secret_value() if key else None), {"url": args.url}

    from eval.systems import InProcessBackend

    settings = args.settings
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
        index_dir = qa_index(args)
        searcher = open_searcher(eval_set, model, args.cache_dir, index_dir=index_dir, exclude=exclude)
        config = {"index": str(searcher.path or index_dir)}
        warn_if_stale(searcher.meta, index_dir)
    others: dict[str, Any] = {}
    if any(s.backend == "milvus" for s in systems):
        assert stack is not None and searcher.path is not None
        from indexer.configure import milvus_config

        milvus = milvus_config(settings, args.milvus_uri)
        others["milvus"], config["milvus"] = milvus_searcher(searcher, milvus, stack)
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


def mix_set(args: argparse.Namespace, eval_set: EvalSet) -> tuple[EvalSet, MixSelection]:
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


def mix_result(
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


def systems_of(args: argparse.Namespace) -> tuple[list[System], set[str]]:
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


def evaluate(
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
        eval_set, selection = mix_set(args, eval_set)
        log.info("equal mix: %s", selection.describe()["kept"])
    if args.leave_out is not None or args.gold_corpus:
        if eval_set.kind == "beir":
            from eval.data import load_beir_corpus

            assert eval_set.corpus_dir is not None
            corpus = load_beir_corpus(eval_set.corpus_dir)
        else:
            from indexer.backends.local.store import read_reports

            corpus = read_reports(qa_index(args))
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
    systems, answer_systems = systems_of(args)
    backend, config = eval_backend(args, eval_set, progress, exclude, systems=systems, stack=stack)
    config |= {"split": args.split, "limit": args.limit} | left_out
    if selection is not None:
        config["mix"] = selection.describe()
    ask_top_k = args.ask_top_k or args.settings.ask_top_k
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
    mix = mix_result(args, result, backend, selection, ask_top_k) if selection is not None else None
    return eval_set, result, mix, backend, not exclude


def multi_run_of(
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

        index_dir = qa_index(args)
        searcher = load_index(index_dir, load_embedder(args.model or args.settings.model))
        warn_if_stale(searcher.meta, index_dir)
    engine = multi_engine(searcher, args.answerability)
    config = {"index": str(engine.searcher.path or qa_index(args)), "model": engine.embedder.name}
    if args.answerability is not None:
        config["answerability"] = str(args.answerability)
    return run_multi(engine, questions, top_k=args.ask_top_k or args.settings.ask_top_k,
                     source=args.multi, progress=progress, config=config)
