"""Rows to fit answerability on: questions searched and assessed as the service would, labelled.

Three sources (issue 31), each with questions that must be refused and questions to answer:

* ``cmrc-leave-out``: CMRC TRIAL with whole articles left out of the index (``eval.leaveout``),
  one index per seed; questions about them must be refused. Off-topic negatives.
* ``cmrc-removed``: CMRC TRIAL with, for a seeded share of its passages, every sentence holding a
  gold answer of the passage's questions removed from the passage (:func:`remove_answers`); those
  questions must be refused, unless a gold answer still occurs in what is left (then the question
  is dropped as ambiguous). The passage stays on topic; the fact is gone.
* ``squad2-fit``: squad2-zh questions of the ``fit`` articles (``eval.mix``) over the whole
  squad2-zh corpus, as ``zhiwen eval --articles`` indexes it; ``impossible`` ones must be refused.

A row is right when the answer the composer would give holds a gold answer in its text
(``eval.data.contains_any``); a must-refuse row is never right. ``group`` is the article a row
is about (CMRC: its passage; squad2: the article key), so cross-validation can keep an article's
questions — of every seed and source — in one fold.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.data import EvalQuery, EvalSet, contains_any
from indexer.types import Report

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("cmrc-leave-out", "cmrc-removed", "squad2-fit")


@dataclass(frozen=True)
class Row:
    """One assessed question: its features (None when a rule already refuses it) and label."""

    qid: str
    seed: int
    features: dict[str, float] | None
    right: bool  # the answer it would give holds a gold answer
    left_out: bool  # it must be refused (its article left out, its answer removed, impossible)
    source: str = "cmrc-leave-out"  # rows written before sources existed are all leave-out rows
    group: str = ""  # the article it is about ("" in old rows: the question stands alone)

    @property
    def article(self) -> str:
        return self.group or f"{self.source}:{self.qid}"


def write_rows(rows: Iterable[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n")


def read_rows(path: Path) -> list[Row]:
    """Rows a previous run wrote (``--rows``); files without ``source``/``group`` still load."""
    return [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- answer sentences removed ---------------------------------------------------------------------


def answer_spans(report: Report, answers: Iterable[str]) -> list[tuple[int, int]]:
    """Sentence spans of ``report`` that hold one of ``answers`` (compared normalised) or overlap
    one of its verbatim occurrences (an answer running over a sentence end)."""
    from indexer.ingest.cleaning.sentences import report_sentences

    needles = [a for a in answers if a.strip()]
    hits: list[tuple[int, int]] = []
    for a in needles:
        at = report.text.find(a)
        while at >= 0:
            hits.append((at, at + len(a)))
            at = report.text.find(a, at + 1)
    spans = []
    for s in report_sentences(report):
        if contains_any(s.text, needles) or any(s.start < e and b < s.end for b, e in hits):
            spans.append((s.start, s.end))
    return spans


def remove_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` without ``spans`` (sorted or not, overlapping or not)."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start > pos:
            out.append(text[pos:start])
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)


def remove_answers(report: Report, answers: Iterable[str]) -> Report:
    """``report`` without every sentence holding one of ``answers``."""
    return dataclasses.replace(report, text=remove_spans(report.text, answer_spans(report, list(answers))))


def choose_passages(passages: Iterable[str], share: float, seed: int) -> frozenset[str]:
    """``share`` of the passages (sorted, then sampled with ``seed``), at least one."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"--removed must be between 0 and 1 (exclusive), got {share}")
    keys = sorted(set(passages))
    return frozenset(random.Random(seed).sample(keys, max(1, round(share * len(keys)))))


@dataclass(frozen=True)
class Removed:
    """The corpus with answer sentences removed, and what became of each chosen question."""

    reports: tuple[Report, ...]
    passages: frozenset[str]  # passages changed
    refuse: frozenset[str]  # questions that must now be refused
    ambiguous: frozenset[str]  # questions whose gold still occurs in what is left: dropped


def removed_corpus(queries: Sequence[EvalQuery], corpus: Sequence[Report], share: float, seed: int) -> Removed:
    """For a seeded ``share`` of the passages ``queries`` are about, remove every sentence holding
    a gold answer of any of their questions; those questions must then be refused, or are dropped
    when a gold answer of theirs still occurs in the passage left."""
    about: dict[str, list[EvalQuery]] = {}
    for q in queries:
        for doc in sorted(q.gold_docs):
            about.setdefault(doc, []).append(q)
    chosen = choose_passages(about, share, seed)
    changed: dict[str, Report] = {}
    for report in corpus:
        if report.doc_id in chosen:
            answers = [a for q in about[report.doc_id] for a in q.answers]
            changed[report.doc_id] = remove_answers(report, answers)
    refuse: set[str] = set()
    ambiguous: set[str] = set()
    for doc in chosen:
        for q in about.get(doc, []):
            others = [d for d in q.gold_docs if d != doc]
            if others or contains_any(changed[doc].text, q.answers):
                ambiguous.add(q.qid)
            else:
                refuse.add(q.qid)
    reports = tuple(changed.get(r.doc_id, r) for r in corpus)
    return Removed(reports, frozenset(changed), frozenset(refuse), frozenset(ambiguous - refuse))


def write_corpus(reports: Sequence[Report], directory: Path) -> Path:
    """``reports`` as a BEIR ``corpus.jsonl`` in ``directory`` (so ``eval.cache`` indexes it once,
    under a key of its own: the key hashes the corpus bytes)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "corpus.jsonl"
    text = "".join(
        json.dumps({"_id": r.doc_id, "title": r.title, "text": r.text}, ensure_ascii=False) + "\n" for r in reports
    )
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return directory


# -- collection -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collect:
    """What to collect (the options of ``zhiwen fit-answerability``)."""

    beir: Path
    split: str
    leave_out: float
    seeds: tuple[int, ...]
    removed: float | None = None
    removed_seed: int = 0
    squad2: Path | None = None
    top_k: int = 5
    limit: int | None = None
    model: str = "m3e-small"
    cache_dir: Path = Path("var/eval-cache")
    sentence_vectors: str | None = None
    scoring: Any = None  # service.answering.config.ScoringConfig (None: the default)
    progress: bool = False


def _assess(
    cfg: Collect, searcher: Any, queries: Sequence[EvalQuery], *, seed: int, source: str,
    refuse: frozenset[str] | None, group: dict[str, str], desc: str,
) -> list[Row]:
    """Each question searched and assessed as the service would; a question must be refused when
    ``refuse`` names it (None: when it is not answerable)."""
    from tqdm import tqdm

    from service.answering.config import DEFAULT
    from service.answering.content import has_content
    from service.answering.extractive import ExtractiveComposer

    composer = ExtractiveComposer.for_index(searcher, cfg.scoring or DEFAULT, answerability=None)
    rows: list[Row] = []
    for q in tqdm(queries, desc=desc, unit="q", file=sys.stderr, disable=not cfg.progress):
        must_refuse = (not q.answerable) if refuse is None else q.qid in refuse
        features: dict[str, float] | None = None
        right = False
        if has_content(q.text):
            hits = searcher.search(q.text, top_k=cfg.top_k)
            assessment = composer.assess(q.text, hits, searcher.reports)
            # a confident slot the passages do not fill is refused by rule, like no answer at all
            if assessment.answer is not None and assessment.missing is None:
                features = dict(assessment.features)
                right = not must_refuse and contains_any(assessment.answer.text, q.answers)
        rows.append(Row(q.qid, seed, features, right, must_refuse, source, group.get(q.qid, "")))
    return rows


def _open(cfg: Collect, eval_set: EvalSet, exclude: frozenset[str] = frozenset()) -> Any:
    from eval.indexes import open_searcher

    return open_searcher(eval_set, cfg.model, cfg.cache_dir, exclude=exclude, progress=cfg.progress,
                         sentence_vectors=cfg.sentence_vectors)


def collect_cmrc(cfg: Collect) -> list[Row]:
    """``cmrc-leave-out`` rows for every seed, then ``cmrc-removed`` rows when ``cfg.removed``."""
    from eval.data import load_beir, load_beir_corpus
    from eval.leaveout import apply

    base = load_beir(cfg.beir, split=cfg.split, limit=cfg.limit)
    if not base.has_answers:
        raise ValueError(f"{cfg.beir}: no answers.jsonl; answerability needs gold answers")
    corpus = load_beir_corpus(cfg.beir)
    group = {q.qid: "cmrc:" + min(q.gold_docs) for q in base.queries if q.gold_docs}
    rows: list[Row] = []
    for seed in cfg.seeds:
        eval_set, chosen = apply(base, corpus, cfg.leave_out, seed)
        searcher = _open(cfg, eval_set, chosen.passages)
        rows += _assess(cfg, searcher, eval_set.queries, seed=seed, source="cmrc-leave-out", refuse=None,
                        group=group, desc=f"leave-out seed {seed}")
        log.info("leave-out seed %d: %d questions, %d about left-out articles", seed, len(eval_set.queries),
                 chosen.questions)
    if cfg.removed is not None:
        removed = removed_corpus(base.queries, corpus, cfg.removed, cfg.removed_seed)
        directory = write_corpus(removed.reports, Path(cfg.cache_dir) / "corpora" /
                                 f"{cfg.beir.name}-removed{cfg.removed:g}-seed{cfg.removed_seed}")
        changed = dataclasses.replace(base, corpus_dir=directory)
        queries = [q for q in base.queries if q.qid not in removed.ambiguous]
        searcher = _open(cfg, changed)
        rows += _assess(cfg, searcher, queries, seed=cfg.removed_seed, source="cmrc-removed",
                        refuse=removed.refuse, group=group, desc=f"removed seed {cfg.removed_seed}")
        log.info("removed answer sentences from %d passages: %d questions must be refused, %d dropped as "
                 "ambiguous", len(removed.passages), len(removed.refuse), len(removed.ambiguous))
    return rows


def collect_squad2(cfg: Collect) -> list[Row]:
    """``squad2-fit`` rows: every question of the squad2-zh ``fit`` articles, over the whole corpus
    (never the ``report`` articles)."""
    from eval.data import load_beir, load_beir_corpus
    from eval.mix import article_keys, query_article, split_articles

    assert cfg.squad2 is not None
    full = load_beir(cfg.squad2)
    articles = article_keys(load_beir_corpus(cfg.squad2))
    fit_half = split_articles(articles.values())["fit"]
    group = {q.qid: "squad2:" + query_article(q, articles) for q in full.queries}
    queries = [q for q in full.queries if group[q.qid].removeprefix("squad2:") in fit_half]
    if cfg.limit is not None:
        queries = queries[: cfg.limit]
    searcher = _open(cfg, full)
    rows = _assess(cfg, searcher, queries, seed=0, source="squad2-fit", refuse=None, group=group,
                   desc="squad2-zh fit articles")
    log.info("squad2-zh fit articles: %d questions, %d impossible", len(rows), sum(r.left_out for r in rows))
    return rows


def collect(cfg: Collect) -> list[Row]:
    """Every source ``cfg`` asks for."""
    rows = collect_cmrc(cfg)
    if cfg.squad2 is not None:
        rows += collect_squad2(cfg)
    return rows
