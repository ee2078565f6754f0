"""The DRCD-sized corpus of the indexing benchmark is the size it claims (no model, no timing)."""

from __future__ import annotations

from pathlib import Path

from bench.indexing import _drcd_sized


def test_the_drcd_sized_corpus_has_the_asked_passages_and_characters(tmp_path: Path) -> None:
    size = _drcd_sized(tmp_path / "corpus", 2000, 900_000)
    files = sorted((tmp_path / "corpus").glob("*.txt"))
    assert size["passages"] == len(files) == 2000
    assert 0.98 * 900_000 <= size["chars"] <= 1.05 * 900_000
    body = sum(len(f.read_text(encoding="utf-8").split("\n\n", 1)[1].strip()) for f in files)
    assert body == size["chars"]  # what it reports is what it wrote (title lines aside)


def test_a_small_drcd_sized_corpus_takes_cmrc_passages_only(tmp_path: Path) -> None:
    size = _drcd_sized(tmp_path / "corpus", 200, 90_000)
    assert size["passages"] == 200
    assert all(f.name.startswith("cmrc_") for f in (tmp_path / "corpus").glob("*.txt"))
