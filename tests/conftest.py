"""Session-wide fixtures: the real model and a real index of the bundled reports, built once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
REPORTS_DIR = ROOT / "data" / "reports"
SHARED = ROOT.parent / "shared"
DEV_QUESTIONS = SHARED / "eval" / "dev_questions.jsonl"


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from embeddings import load_embedder

    emb = load_embedder("m3e-small")
    emb.warm_up()
    return emb


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:  # type: ignore[no-untyped-def]
    """A real index of data/reports (the product's bundled corpus)."""
    from indexer.build import build_index

    path = tmp_path_factory.mktemp("index") / "index"
    build_index(REPORTS_DIR, path, embedder)
    return path


@pytest.fixture(scope="session")
def searcher(index_dir: Path, embedder):  # type: ignore[no-untyped-def]
    from indexer.store import load_index

    return load_index(index_dir, embedder)


@pytest.fixture(scope="session")
def dev_questions() -> Iterator[list[dict]]:  # type: ignore[type-arg]
    import json

    assert DEV_QUESTIONS.is_file(), f"dev questions not found at {DEV_QUESTIONS} (../shared must sit beside the project)"
    yield [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
