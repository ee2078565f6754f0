"""`zhiwen eval --multi FILE`: every list and comparison question asked through the answering
engine (``QAEngine.ask``, in-process: never HTTP), scored by report (``eval.multi``), written as
``multi.json``, ``multi_per_question.jsonl`` and a markdown section of rows beside the dev set's."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.data import EvalDataError, read_jsonl
from eval.multi import (
    ROWS,
    MultiDataError,
    MultiQuestion,
    QuestionScore,
    aggregate,
    evidence_problems,
    groups_of,
    parse_item,
    score_question,
)
from eval.report import fmt, markdown_table

if TYPE_CHECKING:
    from indexer.retrieval.search import Searcher
    from service.answering.engine import QAEngine
    from service.answering.types import Answer

log = logging.getLogger(__name__)

QUOTE_CHARS = 40  # per-question records keep this much of each cited quote


def load_multi(path: Path) -> tuple[MultiQuestion, ...]:
    """The question items of a JSONL file (``eval.multi.parse_item``); EvalDataError names the
    file and line of a bad one."""
    path = Path(path)
    items: list[MultiQuestion] = []
    for n, row in read_jsonl(path):
        try:
            items.append(parse_item(row, f"{path}:{n}"))
        except MultiDataError as exc:
            raise EvalDataError(str(exc)) from exc
    ids = [q.qid for q in items]
    if len(set(ids)) != len(ids):
        raise EvalDataError(f"{path}: question ids repeat")
    if not items:
        raise EvalDataError(f"{path}: no questions")
    return tuple(items)


@dataclass(frozen=True)
class MultiOutcome:
    """One question, what the engine answered and how it was scored."""

    question: MultiQuestion
    answer: Answer
    score: QuestionScore
    ask_ms: float


@dataclass(frozen=True)
class MultiRun:
    """A whole ``--multi`` run: the set, every outcome, and the aggregated figures."""

    source: Path
    outcomes: tuple[MultiOutcome, ...]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float | None]:
        return aggregate([o.score for o in self.outcomes])


def multi_engine(searcher: Searcher, answerability: Path | None = None) -> QAEngine:
    """The engine ``--multi`` asks, built as the service builds it (``engine_for``: its composers,
    no curated answers, no LLM); with ``answerability``, the extractive composer judged by that
    model file."""
    import dataclasses

    from service.answering.engine import EXTRACTIVE, engine_for

    engine = engine_for(searcher.embedder, searcher)
    if answerability is not None:
        from service.answering.answerability import load_model
        from service.answering.extractive import ExtractiveComposer

        composer = ExtractiveComposer.for_index(searcher, answerability=load_model(answerability))
        engine = dataclasses.replace(engine, composers={**engine.composers, EXTRACTIVE: composer})
    return engine


def run_multi(
    engine: QAEngine,
    questions: Sequence[MultiQuestion],
    *,
    top_k: int,
    source: Path,
    progress: bool = False,
    config: Mapping[str, Any] | None = None,
) -> MultiRun:
    """Ask every question with ``top_k`` passages and score the answer. The set is checked
    against the engine's reports first: a report it names must be indexed, its evidence in its
    text (else EvalDataError listing every problem)."""
    from tqdm import tqdm

    texts = {doc_id: r.text for doc_id, r in engine.reports.items()}
    problems = [p for q in questions for p in evidence_problems(q, texts)]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else "")
        raise EvalDataError(f"{source}: does not fit the index: {shown}")
    outcomes = []
    for q in tqdm(questions, desc=Path(source).stem, unit="q", file=sys.stderr, disable=not progress):
        t0 = time.perf_counter()
        answer = engine.ask(q.question, top_k)
        ask_ms = (time.perf_counter() - t0) * 1000
        score = score_question(q, groups_of(answer), texts, refused=not answer.answerable,
                               answer_kind=answer.kind)
        outcomes.append(MultiOutcome(q, answer, score, ask_ms))
    log.info("multi: %d questions scored", len(outcomes))
    return MultiRun(Path(source), tuple(outcomes), {"ask_top_k": top_k, **(config or {})})


def _labels(doc_ids: set[str]) -> dict[str, str]:
    """Short names for the per-question table: a report id's leading number (and part,
    ``004-2``) when no other report of the table shares it, else the whole id."""
    def short(doc_id: str) -> str:
        head, _, rest = doc_id.partition("_")
        part = rest.rpartition("-")[2] if "-" in rest else ""
        return head + (f"-{part}" if part.isdigit() else "") if head.isdigit() else doc_id

    shorts = {d: short(d) for d in doc_ids}
    taken = list(shorts.values())
    return {d: v if taken.count(v) == 1 else d for d, v in shorts.items()}


def per_question_table(run: MultiRun) -> str:
    """One row per question: kind, the answer's kind, expected and given reports (✓: quoted
    where it states the thing), recall, precision."""
    label = _labels({d for o in run.outcomes for d in (*o.score.expected, *o.score.given)})
    rows = []
    for o in run.outcomes:
        s = o.score
        given = ", ".join(label[d] + ("✓" if d in s.found else "") for d in s.given)
        rows.append([
            o.question.qid, s.kind, o.question.question, s.answer_kind,
            ", ".join(label[d] for d in s.expected) or "(none)",
            given or "–", fmt(s.recall), fmt(s.precision),
        ])
    return markdown_table(["Id", "Kind", "Question", "Answer", "Expected", "Given", "R", "P"], rows)


def markdown_section(run: MultiRun, *, per_question: bool = False) -> str:
    """The rows of a ``--multi`` run (micro and macro), optionally with the per-question table."""
    m = run.metrics
    rows = [
        [label, fmt(m.get(key)), fmt(m.get(f"{key}_macro")) if f"{key}_macro" in m else "",
         str(int(m.get(count) or 0))]
        for key, label, count in ROWS
    ]
    parts = [
        f"## List and comparison questions ({run.source.name}, ask top_k {run.config.get('ask_top_k')})",
        "",
        markdown_table(["Row", "Micro", "Macro", "n"], rows),
        "",
        "A report counts when the answer quotes it (a group; a fact answer: one group per cited "
        "report) with a citation overlapping a clause that states the asked thing. Recall: "
        "expected reports quoted so / expected reports; precision: groups quoted so / groups. "
        "Micro sums the counts, macro averages the questions (a question no report answers: 1.0 "
        "when refused, else 0.0; a refused answerable question: 0.0 both).",
    ]
    if per_question:
        parts += ["", per_question_table(run)]
    return "\n".join(parts) + "\n"


def _record(o: MultiOutcome) -> dict[str, Any]:
    a = o.answer
    return {
        "id": o.question.qid,
        "kind": o.question.kind,
        "question": o.question.question,
        "score": asdict(o.score),
        "answer": {
            "text": a.text,
            "answer_kind": a.answer_kind,
            "confidence": a.confidence,
            "groups": [{"doc_id": g.doc_id, "citations": list(g.citations)} for g in a.groups],
            "citations": [
                {"n": c.n, "doc_id": c.doc_id, "start": c.start, "end": c.end, "quote": c.quote[:QUOTE_CHARS]}
                for c in a.citations
            ],
        },
        "ask_ms": round(o.ask_ms, 2),
    }


def write_multi_outputs(run: MultiRun, out_dir: Path) -> dict[str, Path]:
    """``multi.json`` (set, configuration, flat metrics) and ``multi_per_question.jsonl``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out_dir / "multi.json", "per_question": out_dir / "multi_per_question.jsonl"}
    document = {
        "set": {"source": str(run.source), "questions": len(run.outcomes)},
        "config": run.config,
        "metrics": run.metrics,
    }
    paths["metrics"].write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    with paths["per_question"].open("w", encoding="utf-8") as f:
        for o in run.outcomes:
            f.write(json.dumps(_record(o), ensure_ascii=False) + "\n")
    return paths
