"""The int8 backend loads from the local model folder and agrees with fp32 (no timing here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SENTENCES = [
    "九水街道党工委获得了什么荣誉称号？",
    "九水街道共有172处安全隐患被整改。",
    "社区志愿者每周开展两次巡逻，守护居民平安。",
    "《战国无双3》是由哪两个公司合作开发的？",
]


@pytest.fixture(scope="session")
def int8_embedder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import onnx  # noqa: F401  - installed with the project; a missing one must fail, not skip
    import onnxruntime  # noqa: F401

    from embeddings import load_embedder

    models_dir = tmp_path_factory.mktemp("models")
    return load_embedder("m3e-small", backend="onnx-int8", models_dir=models_dir), models_dir


def test_int8_vectors_agree_with_fp32(int8_embedder, embedder) -> None:  # type: ignore[no-untyped-def]
    emb, _ = int8_embedder
    int8 = emb.encode_queries(SENTENCES)
    fp32 = embedder.encode_queries(SENTENCES)
    assert int8.dtype == np.float32 and int8.shape == fp32.shape == (len(SENTENCES), 512)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
    cosines = (int8 * fp32).sum(axis=1)
    assert cosines.min() > 0.95, cosines
    # activations are quantised per batch, so a vector depends a little on its batch mates
    # (measured 0.997 here); order within a batch must not matter at all
    alone = emb.encode_documents([SENTENCES[2]])[0]
    assert float(alone @ int8[2]) > 0.99
    shuffled = emb.encode_queries(SENTENCES[::-1])[::-1]
    assert np.allclose(shuffled, int8, atol=1e-5)


def test_int8_export_is_cached_in_models_dir(int8_embedder) -> None:  # type: ignore[no-untyped-def]
    emb, models_dir = int8_embedder
    emb.warm_up()
    exports = [p for p in Path(models_dir).iterdir() if not p.name.startswith(".")]
    assert len(exports) == 1 and (exports[0] / "model.int8.onnx").is_file()
    assert (exports[0] / "manifest.json").is_file()
    assert emb.name == "m3e-small@onnx-int8"
    assert emb.token_len("九水街道") == 6  # 4 characters + [CLS] + [SEP]

    from embeddings.onnx import export_int8

    assert export_int8("m3e-small", Path(models_dir)).path == exports[0] / "model.int8.onnx"


def test_int8_cached_documents_cost_no_model_call(int8_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A cache hit sends nothing to the model: the backend's width is probed once, not on
    every ``encode_documents`` (which made cached index builds count phantom embeddings)."""
    from embeddings import load_embedder

    _, models_dir = int8_embedder
    emb = load_embedder("m3e-small", backend="onnx-int8", models_dir=models_dir,
                        cache_path=tmp_path / "cache.sqlite")
    first = emb.encode_documents(SENTENCES)
    calls = emb.model_calls
    again = emb.encode_documents(SENTENCES)
    assert emb.model_calls == calls
    assert np.array_equal(first, again) and emb.dim == 512
