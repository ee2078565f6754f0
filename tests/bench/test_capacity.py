"""The capacity arithmetic of docs/scale-out.md: measured means times the per-store sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.capacity import SCALES, main, measure, per_chunk_bytes
from indexer.text.tokenize import Tokenizer
from indexer.types import Chunk, Report, Sentence


def test_bytes_per_chunk_follow_from_the_measured_means() -> None:
    text = "九水街道共有172处安全隐患被整改。居民满意。"
    chunk = Chunk("r#0", "r", 0, len(text), text, context="九水街道",
                  sentences=(Sentence(0, 17, text[:17]), Sentence(17, len(text), text[17:])))
    report = Report("r", "九水街道", text)
    stats = measure([chunk], Tokenizer(), [report])
    assert stats.text_bytes == len(text.encode()) and stats.sentences == 2
    assert stats.chunk_record_bytes > 2 * stats.text_bytes  # the text, and again in its sentences
    assert stats.report_record_bytes > stats.text_bytes
    parts = per_chunk_bytes(stats, dim=512)
    assert parts["chunk vector (float32)"] == 2048 and parts["sentence vectors (float32)"] == 2 * 2048
    assert parts["BM25 sparse row"] == 8 * stats.terms > 0


def test_the_report_covers_both_scales(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert "| total |" in out and all(f"{n // 1_000_000}M chunks" in out for n in SCALES)
