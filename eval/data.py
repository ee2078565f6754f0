"""Evaluation sets — the QA set (JSONL) and BEIR-layout benchmarks — loaded into one shape.

A QA set line: ``id``, ``question``, ``doc`` (gold report id, or null when the corpus holds no
answer), ``answers``, ``evidence``, ``type``. A BEIR directory: ``corpus.jsonl`` (``_id``,
``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``), ``qrels.tsv`` (``query-id``,
``corpus-id``, ``score``, with a header line) and optionally ``answers.jsonl`` (``_id``,
``answers``). A BEIR query may say ``"impossible": true`` (SQuAD 2.0 style): it has no qrels and is
kept as an unanswerable question (type ``impossible``), with ``passage``, the passage it was written
against, when given.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from indexer.types import Report

log = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s+")

SetKind = Literal["qa", "beir"]


class EvalDataError(ValueError):
    """An evaluation file is missing or malformed; the message names the file and line."""


def normalize(text: str) -> str:
    """NFKC, then all whitespace removed: how answers and evidence strings are compared."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text))


def contains_any(haystack: str, needles: Iterable[str]) -> bool:
    """Whether any non-empty needle occurs in the haystack, both compared normalized."""
    hay = normalize(haystack)
    return any(n and n in hay for n in (normalize(x) for x in needles))


@dataclass(frozen=True)
class EvalQuery:
    """One question with its gold: relevant documents (graded), evidence and answers.

    ``relevance`` maps a gold document id to its grade (QA sets: ``{doc: 1}``; BEIR: qrels).
    A query with no relevant document is *unanswerable*: the system should refuse it.
    """

    qid: str
    text: str
    type: str
    relevance: Mapping[str, int] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()  # QA sets: a relevant passage must contain one of these
    answers: tuple[str, ...] = ()
    # BEIR ``passage``: the passage the question was written against (for an impossible question
    # the only tie to its article; see ``eval.mix``)
    passage: str | None = None

    @property
    def gold_docs(self) -> frozenset[str]:
        return frozenset(d for d, grade in self.relevance.items() if grade > 0)

    @property
    def answerable(self) -> bool:
        return bool(self.gold_docs)


@dataclass(frozen=True)
class EvalSet:
    """Queries of one set; ``corpus_dir`` is set for BEIR sets (the corpus to index)."""

    name: str
    kind: SetKind
    source: Path
    queries: tuple[EvalQuery, ...]
    has_answers: bool
    corpus_dir: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        answerable = sum(q.answerable for q in self.queries)
        return {
            "queries": len(self.queries),
            "answerable": answerable,
            "unanswerable": len(self.queries) - answerable,
        }


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise EvalDataError(f"{path}: no such file")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalDataError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise EvalDataError(f"{path}:{n}: expected a JSON object")
            yield n, row


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvalDataError(f"{where}: '{name}' must be a list of strings")
    return tuple(value)


def _select(
    queries: Sequence[EvalQuery], split: str | None, limit: int | None
) -> tuple[EvalQuery, ...]:
    """Keep queries whose id starts with one of the comma-separated ``split`` prefixes, then the
    first ``limit`` of them (file order, so a subset is the same on every run)."""
    selected = list(queries)
    if split:
        prefixes = tuple(p.strip() for p in split.split(",") if p.strip())
        selected = [q for q in selected if q.qid.startswith(prefixes)]
    if limit is not None:
        selected = selected[: max(limit, 0)]
    return tuple(selected)


def load_qa(path: Path, *, split: str | None = None, limit: int | None = None) -> EvalSet:
    """Load a QA set (see module docstring)."""
    path = Path(path)
    queries: list[EvalQuery] = []
    seen: set[str] = set()
    for n, row in read_jsonl(path):
        where = f"{path}:{n}"
        for key in ("id", "question"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise EvalDataError(f"{where}: '{key}' must be a non-empty string")
        qid = row["id"]
        if qid in seen:
            raise EvalDataError(f"{where}: duplicate id {qid!r}")
        seen.add(qid)
        doc = row.get("doc")
        if doc is not None and not isinstance(doc, str):
            raise EvalDataError(f"{where}: 'doc' must be a string or null")
        queries.append(
            EvalQuery(
                qid=qid,
                text=row["question"],
                type=str(row.get("type") or ("unanswerable" if doc is None else "all")),
                relevance={doc: 1} if doc else {},
                evidence=_strings(row.get("evidence"), where, "evidence"),
                answers=_strings(row.get("answers"), where, "answers"),
            )
        )
    if not queries:
        raise EvalDataError(f"{path}: no questions")
    return EvalSet(
        name=path.stem,
        kind="qa",
        source=path,
        queries=_select(queries, split, limit),
        has_answers=True,
    )


def load_beir(directory: Path, *, split: str | None = None, limit: int | None = None) -> EvalSet:
    """Load a BEIR-layout benchmark's queries, qrels and (if present) answers.

    Queries without qrels are dropped (BEIR convention), except those marked ``impossible``: they
    are the set's unanswerable questions (type ``impossible``). BEIR queries carry no type; the
    id's prefix before the first ``_`` (``DEV``/``TRIAL`` in CMRC 2018) is used as one.
    """
    directory = Path(directory)
    qrels = _read_qrels(directory / "qrels.tsv")
    answers: dict[str, tuple[str, ...]] = {}
    answers_path = directory / "answers.jsonl"
    if answers_path.is_file():
        for n, row in read_jsonl(answers_path):
            answers[str(row.get("_id"))] = _strings(
                row.get("answers"), f"{answers_path}:{n}", "answers"
            )
    queries: list[EvalQuery] = []
    dropped = 0
    for n, row in read_jsonl(directory / "queries.jsonl"):
        where = f"{directory / 'queries.jsonl'}:{n}"
        qid, text = row.get("_id"), row.get("text")
        if not isinstance(qid, str) or not isinstance(text, str):
            raise EvalDataError(f"{where}: '_id' and 'text' must be strings")
        impossible, passage = row.get("impossible", False), row.get("passage")
        if not isinstance(impossible, bool):
            raise EvalDataError(f"{where}: 'impossible' must be true or false")
        if passage is not None and not isinstance(passage, str):
            raise EvalDataError(f"{where}: 'passage' must be a string")
        if impossible:
            if qrels.get(qid):
                raise EvalDataError(f"{where}: {qid} is impossible but has qrels")
            if answers.get(qid):
                raise EvalDataError(f"{where}: {qid} is impossible but has answers in {answers_path.name}")
            queries.append(EvalQuery(qid=qid, text=text, type="impossible", passage=passage))
            continue
        if qid not in qrels:
            dropped += 1
            continue
        queries.append(
            EvalQuery(
                qid=qid,
                text=text,
                type=qid.split("_", 1)[0] if "_" in qid else "all",
                relevance=qrels[qid],
                answers=answers.get(qid, ()),
                passage=passage,
            )
        )
    if dropped:
        log.info("%s: %d queries without qrels dropped", directory.name, dropped)
    if not queries:
        raise EvalDataError(f"{directory}: no queries with qrels (or marked impossible)")
    return EvalSet(
        name=directory.name,
        kind="beir",
        source=directory,
        queries=_select(queries, split, limit),
        has_answers=bool(answers),
        corpus_dir=directory,
    )


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise EvalDataError(f"{path}: no such file")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or (n == 1 and row[0] == "query-id"):
                continue
            if len(row) != 3:
                raise EvalDataError(f"{path}:{n}: expected query-id, corpus-id, score")
            try:
                grade = int(row[2])
            except ValueError as exc:
                raise EvalDataError(f"{path}:{n}: score {row[2]!r} is not an integer") from exc
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load_beir_corpus(directory: Path) -> list[Report]:
    """The benchmark's passages as reports: ``Report(doc_id=_id, title=title, text=text)``."""
    path = Path(directory) / "corpus.jsonl"
    reports: list[Report] = []
    for n, row in read_jsonl(path):
        doc_id, text = row.get("_id"), row.get("text")
        if not isinstance(doc_id, str) or not isinstance(text, str):
            raise EvalDataError(f"{path}:{n}: '_id' and 'text' must be strings")
        reports.append(Report(doc_id=doc_id, title=str(row.get("title") or ""), text=text, meta={}))
    return reports


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
