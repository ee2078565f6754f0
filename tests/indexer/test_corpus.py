"""The service's corpus folder is seeded once from the bundled reports, whole or not at all."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from indexer.ingest.corpus import SeedError, seed_corpus


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    folder = tmp_path / "seed"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("九水街道整改隐患三百处。", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("湖岛街道。", encoding="utf-8")
    (folder / ".hidden.txt").write_text("not a report", encoding="utf-8")
    return folder


def test_a_missing_corpus_folder_is_created_from_the_seed(seed: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "var" / "reports"
    before = _tree(seed)
    assert seed_corpus(corpus, seed) == 2
    assert _tree(corpus) == {k: v for k, v in before.items() if not k.startswith(".")}
    assert _tree(seed) == before
    assert sorted(p.name for p in corpus.parent.iterdir()) == ["reports"]  # no staging left


def test_an_existing_corpus_folder_is_never_reseeded(seed: Path, tmp_path: Path) -> None:
    """Even an empty one: the service's reports may all have been deleted on purpose."""
    corpus = tmp_path / "reports"
    corpus.mkdir()
    assert seed_corpus(corpus, seed) == 0
    assert list(corpus.iterdir()) == []


def test_no_seed_folder_configured_creates_nothing(tmp_path: Path) -> None:
    assert seed_corpus(tmp_path / "reports", None) == 0
    assert not (tmp_path / "reports").exists()


def test_a_missing_seed_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"seed folder .*nowhere.* does not exist"):
        seed_corpus(tmp_path / "reports", tmp_path / "nowhere")
    assert list(tmp_path.iterdir()) == []


def test_the_seed_folder_itself_is_not_copied_onto_itself(seed: Path) -> None:
    assert seed_corpus(seed, seed) == 0
