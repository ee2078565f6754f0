"""``QAEngine``: composer choice, extractive fallback and content checks, in one place for whole
and streamed answers. Fakes stand in for the searcher and composers (no model, no index); the
real engine over the bundled reports is exercised at the end."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import pytest

from indexer.types import Chunk, Hit, Report
from service.answering.content import has_content
from service.answering.engine import QAEngine, engine_for
from service.answering.types import NO_CONTENT, NOT_FOUND, Answer, Citation

TEXT = "前言。王哥庄街道2018年渔业总产值5.73亿元。后记。"
QUOTE = "王哥庄街道2018年渔业总产值5.73亿元。"
START = TEXT.index(QUOTE)
REPORT = Report("r1", "王哥庄纪实", TEXT, {})
HIT = Hit(Chunk("r1#0", "r1", 0, len(TEXT), TEXT, "王哥庄纪实"), 1.0, {})
CITATION = Citation(1, "r1", "王哥庄纪实", QUOTE, START, START + len(QUOTE))
QUESTION = "王哥庄街道2018年渔业总产值是多少？"


class FakeSearcher:
    def __init__(self) -> None:
        self.reports = {"r1": REPORT}
        self.chunks = [HIT.chunk]
        self.queries: list[str] = []
        self.places: frozenset[str] = frozenset()

    def search(self, query: str, top_k: int = 10, mode: str = "hybrid", within: object = None) -> list[Hit]:
        self.queries.append(query)
        return [HIT]


class Extractive:
    name = "extractive"

    def compose(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Answer:
        return Answer(QUOTE + "[1]", True, (CITATION,), tuple(hits))


class ScriptedLLM:
    name = "llm"

    def __init__(self, deltas: Sequence[str] = (), fail: bool = False) -> None:
        self.deltas, self.fail = list(deltas), fail

    def compose(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Answer:
        if self.fail:
            raise RuntimeError("endpoint down")
        return Answer("".join(self.deltas), True, (CITATION,), tuple(hits), composer="llm")

    def stream(
        self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]
    ) -> Iterator[str | Answer]:
        yield from self.deltas
        if self.fail:
            raise RuntimeError("connection reset")
        yield Answer("".join(self.deltas), True, (CITATION,), tuple(hits), composer="llm")


def engine(llm: Any = None, default: str = "extractive") -> tuple[QAEngine, FakeSearcher]:
    searcher = FakeSearcher()
    composers: dict[str, Any] = {"extractive": Extractive()}
    unavailable = {}
    if llm is not None:
        composers["llm"] = llm
    else:
        unavailable["llm"] = "no LLM configured"
    built = QAEngine(cast(Any, None), cast(Any, searcher), composers, default, unavailable)
    return built, searcher


def test_the_default_composer_answers() -> None:
    qa, searcher = engine()
    answer = qa.ask(QUESTION, 5)
    assert answer.text == QUOTE + "[1]" and answer.composer == "extractive" and not answer.warnings
    assert searcher.queries == [QUESTION]


def test_an_unavailable_composer_falls_back_with_a_warning() -> None:
    qa, _ = engine()
    answer = qa.ask(QUESTION, 5, "llm")
    assert answer.composer == "extractive"
    assert answer.warnings == ("composer 'llm' unavailable (no LLM configured); used 'extractive'",)
    assert qa.composer_name("llm") == "extractive"


def test_a_failing_composer_falls_back_whole_and_streamed() -> None:
    qa, _ = engine(ScriptedLLM(["半句"], fail=True), default="llm")
    answer = qa.ask(QUESTION, 5)
    assert answer.composer == "extractive" and answer.warnings == ("composer 'llm' failed; used 'extractive'",)
    # streamed: the failure came after text was sent, which cannot be taken back
    with pytest.raises(RuntimeError, match="connection reset"):
        list(qa.stream(QUESTION, 5))
    qa, _ = engine(ScriptedLLM([], fail=True), default="llm")
    items = list(qa.stream(QUESTION, 5))
    assert len(items) == 1 and isinstance(items[0], Answer) and items[0].composer == "extractive"
    assert items[0].warnings == ("composer 'llm' failed; used 'extractive'",)


def test_a_streaming_composer_streams_then_answers() -> None:
    qa, _ = engine(ScriptedLLM(["王哥庄街道", "产值5.73亿元。[1]"]), default="llm")
    items = list(qa.stream(QUESTION, 5))
    assert items[:2] == ["王哥庄街道", "产值5.73亿元。[1]"]
    assert isinstance(items[2], Answer) and items[2].composer == "llm"


@pytest.mark.parametrize(
    "question",
    ["？", "什么？", "有多少？", "是谁", "😀😀😀", "\u200b\u200b\u200b", "？？!!。", "请问一下"],
)
def test_a_question_without_content_is_refused_without_searching(question: str) -> None:
    qa, searcher = engine()
    for answer in (qa.ask(question, 5), list(qa.stream(question, 5))[-1]):
        assert isinstance(answer, Answer)
        assert not answer.answerable and answer.text == NO_CONTENT
        assert answer.citations == () and answer.passages == ()
    assert searcher.queries == []


@pytest.mark.parametrize(
    "question", ["党建品牌", "172处", "GDP", "谁是陆兆纲", "九水街道\u200b有多少处隐患", "\u2ea0"]  # ⺠ = 民
)
def test_questions_with_content(question: str) -> None:
    assert has_content(question)


def test_the_real_engine_refuses_contentless_questions(searcher: Any, embedder: Any) -> None:
    qa = engine_for(embedder, searcher)
    for question in ("？", "什么？", "有多少？", "🙂🙂🙂🙂", "\u200b\u200c\u200d"):
        answer = qa.ask(question, 5)
        assert not answer.answerable and answer.text == NO_CONTENT, question
    assert qa.ask("九水街道共有多少处安全隐患被整改？", 5).answerable
    assert qa.ask("崮云湖街道有多少名在编公务员？", 5).text.startswith(NOT_FOUND)
