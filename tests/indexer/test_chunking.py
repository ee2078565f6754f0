"""Chunking: exact offsets, sentence coverage, sections, overlap, long sentences, token limits."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.ingest.chunking import CONTEXT_MAX, chunk_context, chunk_report
from indexer.ingest.cleaning import cleaned_offsets, parse_reports, report_sentences
from indexer.ingest.decode import read_text
from indexer.types import Chunk, Report

REPORTS = Path(__file__).resolve().parents[2] / "data" / "reports"


@pytest.fixture(scope="module")
def reports() -> list[Report]:
    out: list[Report] = []
    for path in sorted(REPORTS.glob("*.txt")):
        out.extend(parse_reports(path.stem, read_text(path), path.name))
    return out


def _check_invariants(report: Report, chunks: list[Chunk]) -> None:
    """Offsets exact, ids sequential, every body/caption character of the report covered."""
    assert chunks
    covered: set[int] = set()
    for n, c in enumerate(chunks):
        assert c.chunk_id == f"{report.doc_id}#{n}"
        assert c.doc_id == report.doc_id
        assert c.title == report.title
        assert report.text[c.start : c.end] == c.text
        assert c.sentences[0].start == c.start and c.sentences[-1].end == c.end
        for s in c.sentences:
            assert s.kind in ("body", "caption")
            assert c.start <= s.start < s.end <= c.end
            kept = cleaned_offsets(report.text, s.start, s.end)
            assert "".join(report.text[i] for i in kept) == s.text
            covered.update(kept)
    for s in report_sentences(report):
        if s.kind in ("body", "caption"):
            assert set(cleaned_offsets(report.text, s.start, s.end)) <= covered, s


def test_default_chunks_of_every_report(reports: list[Report]) -> None:
    for report in reports:
        chunks = chunk_report(report)
        _check_invariants(report, chunks)
        for c in chunks:
            assert len(c.clean_text) <= 300
            assert len(c.context) <= CONTEXT_MAX
            assert c.context.startswith(report.title[:20])
            assert c.index_text == f"{c.context}\n{c.clean_text}"


def test_sections_follow_headings(reports: list[Report]) -> None:
    report = next(r for r in reports if r.doc_id.startswith("000"))
    chunks = chunk_report(report)
    heading = "以服务民生为线，细密周致，全员奋战"
    under = [c for c in chunks if c.context.endswith(heading)]
    assert under and under[0].clean_text.startswith("街道以民生服务为主线")
    # Titles and headings are context, never chunk text.
    assert all(heading not in c.clean_text for c in chunks)
    assert all("党建统领惠民生 激发干事创业新动能" not in c.clean_text for c in chunks)
    # 000's main title lacks the district: the context names it.
    assert "李沧区" in chunks[0].context


def test_overlap_repeats_trailing_sentences(reports: list[Report]) -> None:
    report = next(r for r in reports if r.doc_id.startswith("002"))
    chunks = chunk_report(report, max_chars=200, overlap=60)
    shared = 0
    for a, b in itertools.pairwise(chunks):
        if a.context != b.context:
            continue  # a new section starts afresh
        overlap = [s for s in b.sentences if s in a.sentences]
        assert sum(len(s.text) for s in overlap) <= 60
        assert len(overlap) < len(a.sentences)
        shared += bool(overlap)
    assert shared > 0
    no_overlap = chunk_report(report, max_chars=200, overlap=0)
    for a, b in itertools.pairwise(no_overlap):
        assert not set(a.sentences) & set(b.sentences)


def test_captions_are_chunked_as_captions(reports: list[Report]) -> None:
    report = next(r for r in reports if r.doc_id.startswith("004") and r.doc_id.endswith("-1"))
    kinds = {s.text: s.kind for c in chunk_report(report) for s in c.sentences}
    assert kinds["日新月异的堤口路街道。"] == "caption"


@pytest.mark.parametrize("max_tokens", [50, 80, 150])
def test_token_limit_is_respected(reports: list[Report], max_tokens: int) -> None:
    token_len: Callable[[str], int] = len  # one token per character: the strictest fake
    for report in reports:
        chunks = chunk_report(report, token_len=token_len, max_tokens=max_tokens)
        _check_invariants(report, chunks)
        for c in chunks:
            assert token_len(c.index_text) <= max_tokens, c.chunk_id
            assert c.clean_text  # never an empty chunk


def test_token_limit_counts_the_context() -> None:
    # A tokenizer that counts Chinese characters twice: the budget must hold context + text.
    def double(text: str) -> int:
        return sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in text)

    text = "标题\n\n" + "第一句话写了一些内容，" * 30 + "结束。\n"
    (report,) = parse_reports("tok", text)
    chunks = chunk_report(report, max_chars=300, overlap=0, token_len=double, max_tokens=64)
    _check_invariants(report, chunks)
    assert all(double(c.index_text) <= 64 for c in chunks)
    assert len(chunks) > 1


def test_long_sentence_is_split_with_exact_offsets() -> None:
    # One 600-character sentence, broken by a page break mid-word; clause marks inside.
    clause = "街道组织党员开展志愿服务活动，"
    sentence = clause * 20 + "社区居民纷纷点赞，" + clause * 19 + "取得良好效果。"
    cut = sentence.index("纷纷") + 1
    text = "长句标题\n\n" + sentence[:cut] + "\n\n" + sentence[cut:] + "\n"
    (report,) = parse_reports("long", text)
    (body,) = [s for s in report_sentences(report) if s.kind == "body"]
    assert body.text == sentence
    chunks = chunk_report(report, max_chars=100, overlap=0)
    _check_invariants(report, chunks)
    pieces = [s for c in chunks for s in c.sentences]
    assert "".join(p.text for p in pieces) == sentence
    assert all(len(p.text) <= 100 for p in pieces)
    assert all(p.text.endswith("，") for p in pieces[:-1])  # cut at clause marks
    assert any("\n" in report.text[p.start : p.end] for p in pieces)  # the page break is inside


def test_sentence_without_clause_marks_is_hard_split() -> None:
    sentence = "党建引领基层治理" * 40 + "。"
    (report,) = parse_reports("hard", "标题\n\n" + sentence + "\n")
    chunks = chunk_report(report, max_chars=50, overlap=10)
    _check_invariants(report, chunks)
    assert "".join(s.text for c in chunks for s in c.sentences) == sentence
    assert all(len(c.clean_text) <= 50 for c in chunks)


def test_context_is_short_and_names_missing_places() -> None:
    report = Report(
        "x",
        "一个很长的标题" * 8 + "——副标题也不短" * 3,
        "正文。",
        {"places": ["九水街道", "延川路社区", "李沧区"]},
    )
    context = chunk_context(report, "一个小标题")
    assert len(context) <= CONTEXT_MAX
    assert context.endswith(" | 一个小标题")
    assert "九水街道" in context and "李沧区" in context
    assert "延川路社区" not in context  # a 社区 is a part of the report, not its subject


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_chars": 0},
        {"max_chars": 100, "overlap": 100},
        {"overlap": -1},
        {"token_len": len},
        {"max_tokens": 10},
        {"token_len": len, "max_tokens": 0},
    ],
)
def test_bad_parameters_raise(reports: list[Report], kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        chunk_report(reports[0], **kwargs)  # type: ignore[arg-type]


def test_chunking_is_pure(reports: list[Report]) -> None:
    report = reports[0]
    text_before = report.text
    assert chunk_report(report) == chunk_report(report)
    assert report.text == text_before


def test_a_report_that_is_only_a_title_is_one_chunk_of_it() -> None:
    (report,) = parse_reports("short", "九水街道整改隐患三百处\n")
    (chunk,) = chunk_report(report)
    assert chunk.text == "九水街道整改隐患三百处" == report.text[chunk.start : chunk.end]
    assert [s.kind for s in chunk.sentences] == ["body"]
