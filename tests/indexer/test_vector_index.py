"""The vector index kind and its parameters: from the settings to the build, recorded in
meta.json, checked on load (indexer/retrieval/dense.py, indexer/backends/local/store.py, zhiwen/settings.py), with real
FAISS and the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from indexer.backends.local.build import build_index, is_up_to_date
from indexer.backends.local.store import load_index, read_meta
from indexer.backends.local.writer import LiveIndex
from indexer.changes import Put
from indexer.configure import vector_index_params
from indexer.errors import IndexLoadError
from indexer.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from indexer.params import build_params
from indexer.retrieval.dense import DEFAULT_PARAMS, VectorIndexParams, recorded
from tests.kb import RECYCLING, KbDirs, make_kb
from tests.test_cli import zhiwen
from zhiwen.settings import Settings, describe_errors

PARAMS = build_params("m3e-small", DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, [])
QUESTION = "九水街道整改了多少处安全隐患？"


@pytest.fixture
def kb(tmp_path: Path, index_dir: Path) -> KbDirs:
    return make_kb(index_dir, tmp_path / "kb")


def _meta(index: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((index / "meta.json").read_text(encoding="utf-8"))


def test_zhiwen_index_builds_the_configured_ivf_and_records_it(tmp_path: Path, index_dir: Path) -> None:
    """ZHIWEN_VECTOR_INDEX=ivf reaches the FAISS build through `zhiwen index`; meta.json records the
    kind built and its parameters; the index loads and answers."""
    index = tmp_path / "index"
    env = {"ZHIWEN_CACHE_PATH": "", "ZHIWEN_VECTOR_INDEX": "ivf", "ZHIWEN_IVF_NLIST": "4",
           "ZHIWEN_IVF_NPROBE": "2"}
    built = zhiwen("index", "--corpus", str(Path(__file__).parents[2] / "data" / "reports"),
                   "--index", str(index), env=env, timeout=300)
    assert built.returncode == 0, built.stderr
    vi = _meta(index)["vector_index"]
    assert (vi["kind"], vi["ivf_nlist"], vi["ivf_nprobe"]) == ("ivf", 4, 2)
    assert vi["params"]["kind"] == "ivf"
    check = zhiwen("index", "--check", "--index", str(index),
                   "--corpus", str(Path(__file__).parents[2] / "data" / "reports"), env=env, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    # other build-time parameters make the same corpus stale (it would be rebuilt from its vectors)
    other = zhiwen("index", "--check", "--index", str(index),
                   "--corpus", str(Path(__file__).parents[2] / "data" / "reports"),
                   env=env | {"ZHIWEN_VECTOR_INDEX": "flat"}, timeout=120)
    assert other.returncode == 1 and "stale" in other.stdout


def test_hnsw_from_the_settings_loads_and_searches(tmp_path: Path, embedder, searcher) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(vector_index="hnsw", hnsw_m=8, hnsw_ef_construction=40, hnsw_ef_search=20)
    index = tmp_path / "index"
    build_index(Path(__file__).parents[2] / "data" / "reports", index, embedder,
                vector_index=vector_index_params(settings))
    vi = _meta(index)["vector_index"]
    assert (vi["kind"], vi["hnsw_m"], vi["hnsw_ef_construction"], vi["hnsw_ef_search"]) == ("hnsw", 8, 40, 20)
    loaded = load_index(index, embedder)
    assert loaded.dense is not None and loaded.dense.kind == "hnsw"
    assert loaded.dense.search_params() == {"hnsw_ef_search": 20}
    # ef_search is a search-time setting: applied at load, no rebuild
    wider = load_index(index, embedder, vector_search=vector_index_params(Settings(hnsw_ef_search=200)))
    assert wider.dense is not None and wider.dense.search_params() == {"hnsw_ef_search": 200}
    # an index this small holds every vector in the graph's reach: the same hits as exact search
    hits = [h.chunk.chunk_id for h in loaded.search(QUESTION, top_k=5)]
    assert hits and hits == [h.chunk.chunk_id for h in searcher.search(QUESTION, top_k=5)]


def test_incremental_updates_keep_the_configured_kind(kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    params = vector_index_params(Settings(vector_index="ivf", ivf_nprobe=4))
    live = LiveIndex(kb.corpus, kb.index, embedder, vector_index=params, lock_timeout=1.0)
    live.apply([Put("kb-recycling", RECYCLING)])
    vi = _meta(kb.index)["vector_index"]
    assert vi["kind"] == "ivf" and vi["ivf_nprobe"] == 4
    loaded = load_index(kb.index, embedder)
    assert loaded.dense is not None and loaded.dense.kind == "ivf"
    assert "kb-recycling" in {h.chunk.doc_id for h in loaded.search("垃圾分类积分超市", top_k=5)}


def test_a_new_kind_is_built_from_the_stored_vectors(kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    ivf = VectorIndexParams(kind="ivf")
    assert not is_up_to_date(kb.corpus, kb.index, PARAMS, ivf)
    stats = build_index(kb.corpus, kb.index, embedder, vector_index=ivf)
    assert not stats.up_to_date and stats.embedded == 0 and stats.reused == stats.chunks
    assert _meta(kb.index)["vector_index"]["kind"] == "ivf"
    assert is_up_to_date(kb.corpus, kb.index, PARAMS, ivf)
    # nprobe is search-time: the same build
    assert is_up_to_date(kb.corpus, kb.index, PARAMS, VectorIndexParams(kind="ivf", ivf_nprobe=1))


def test_an_index_without_the_record_loads_as_before(kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    """Indexes written before the kind was recorded: today's defaults (exact below 200,000)."""
    snapshot = kb.index.resolve()
    meta = _meta(snapshot)
    del meta["vector_index"]
    (snapshot / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    loaded = load_index(kb.index, embedder)
    assert loaded.dense is not None and loaded.dense.kind == "flat"
    assert recorded(read_meta(kb.index))["kind"] == "flat"
    assert recorded(read_meta(kb.index))["recorded"] is False
    assert is_up_to_date(kb.corpus, kb.index, PARAMS, DEFAULT_PARAMS)
    assert loaded.search(QUESTION, top_k=3)


def test_a_file_of_another_kind_than_recorded_is_refused(kb: KbDirs, embedder) -> None:  # type: ignore[no-untyped-def]
    snapshot = kb.index.resolve()
    meta = _meta(snapshot)
    meta["vector_index"]["kind"] = "hnsw"
    (snapshot / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    with pytest.raises(IndexLoadError, match=r"vector index kind .*expected hnsw, found flat"):
        load_index(kb.index, embedder)


@pytest.mark.parametrize(("values", "named"), [
    ({"vector_index": "annoy"}, "vector_index"),
    ({"hnsw_m": 0}, "hnsw_m"),
    ({"hnsw_ef_search": 0}, "hnsw_ef_search"),
    ({"ivf_nlist": 0}, "ivf_nlist"),
    ({"ivf_nlist": 8, "ivf_nprobe": 16}, "ivf_nprobe (16) must not exceed ivf_nlist (8)"),
    ({"vector_exact_limit": -1}, "vector_exact_limit"),
])
def test_bad_values_name_the_setting(values: dict, named: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    assert named in describe_errors(caught.value)


def test_a_bad_value_in_the_environment_stops_zhiwen_index(tmp_path: Path) -> None:
    result = zhiwen("index", "--index", str(tmp_path / "index"), env={"ZHIWEN_VECTOR_INDEX": "annoy"},
                    timeout=120)
    assert result.returncode == 2
    assert "vector_index" in result.stderr and "'hnsw'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "index").exists()


def test_an_empty_nlist_means_automatic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIWEN_IVF_NLIST", "")
    assert vector_index_params(Settings()).ivf_nlist is None
    assert VectorIndexParams().nlist_for(1_000_000) == 1024 and VectorIndexParams().nlist_for(10) == 10
