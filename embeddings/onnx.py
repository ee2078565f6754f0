"""int8 backend: the same model exported to ONNX on this machine, weights quantised to int8.

Why: on a CPU without a GPU the embedder is the cost of indexing and of every query; dynamic int8
quantisation of the linear layers runs it 2-3x faster with vectors whose cosine to the fp32 ones
is above 0.99 (docs/benchmarks.md). The export reads only the local model folder (never a hub)
and is cached under ``models_dir/<model>-int8-<fingerprint>/``, so it runs once per machine and
model version; a crash mid-export leaves no half-written model behind (temp folder, then rename).

Only models made of a transformer, a pooling layer (mean or CLS) and optionally a normalisation
layer are supported, which covers m3e, bge and text2vec style models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.base import BaseEmbedder, Vectors, position_limit
from embeddings.cache import EmbeddingCache
from embeddings.locate import resolve_model

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

BACKEND = "onnx-int8"
# Bump when the export or quantisation recipe changes, so cached exports are redone.
RECIPE_VERSION = 2  # 2: 7-bit weights (reduce_range), see _quantize
OPSET = 17
MODEL_FILE = "model.int8.onnx"
MANIFEST_FILE = "manifest.json"
DEFAULT_MODELS_DIR = Path("var/models")
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class ExportedModel:
    """Where an exported int8 model lives and how to run it."""

    path: Path  # the .onnx file
    source: Path  # the model folder it was made from (tokenizer, config)
    input_names: tuple[str, ...]
    pooling: str  # "mean" or "cls"
    max_seq_length: int


def _fingerprint(folder: Path) -> str:
    """Content hash of the model folder's files (weights, config, tokenizer) and the recipe."""
    digest = hashlib.sha256(f"recipe={RECIPE_VERSION};opset={OPSET}".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(".") or rel.endswith((".md", ".onnx")) or "/onnx/" in f"/{rel}":
            continue
        digest.update(rel.encode() + b"\x00")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def folder_pooling(folder: Path) -> str:
    """The pooling of a sentence-transformers folder (mean when it has no modules.json, as
    sentence-transformers itself assumes); unsupported module stacks are refused."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return "mean"
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    pooling = "mean"
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _SUPPORTED_MODULES:
            raise ValueError(
                f"the {BACKEND} backend supports Transformer + Pooling (+ Normalize) models; "
                f"{folder} has a {kind} module"
            )
        if kind == "Pooling":
            config_file = folder / str(module.get("path", "")) / "config.json"
            config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
            if config.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif config.get("pooling_mode_mean_tokens", True):
                pooling = "mean"
            else:
                raise ValueError(f"the {BACKEND} backend supports mean or CLS pooling only ({config_file})")
    return pooling


def export_int8(model: str, models_dir: Path = DEFAULT_MODELS_DIR) -> ExportedModel:
    """The int8 ONNX export of ``model`` (a name known to ``resolve_model`` or a local folder),
    made on first use and reused afterwards. Never downloads anything."""
    source = Path(resolve_model(model))
    models_dir = Path(models_dir)
    pooling = folder_pooling(source)
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in source.name)
    target = models_dir / f"{slug}-int8-{_fingerprint(source)}"
    manifest_file = target / MANIFEST_FILE
    if manifest_file.is_file() and (target / MODEL_FILE).is_file():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        return ExportedModel(
            target / MODEL_FILE, source, tuple(manifest["input_names"]), manifest["pooling"],
            int(manifest["max_seq_length"]),
        )
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        t0 = time.perf_counter()
        input_names, max_len = _export_fp32(source, tmp / "model.fp32.onnx")
        t1 = time.perf_counter()
        _quantize(tmp / "model.fp32.onnx", tmp / MODEL_FILE)
        (tmp / "model.fp32.onnx").unlink()
        manifest = {
            "source": str(source),
            "model": model,
            "backend": BACKEND,
            "recipe_version": RECIPE_VERSION,
            "opset": OPSET,
            "input_names": list(input_names),
            "pooling": pooling,
            "max_seq_length": max_len,
            "quantization": "onnxruntime quantize_dynamic, QInt8 weights (7-bit range), per channel",
            "versions": _versions(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        if target.exists():  # another process finished the same export first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(target)
        log.info("exported %s to %s (export %.1fs, quantise %.1fs)", model, target,
                 t1 - t0, time.perf_counter() - t1)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportedModel(target / MODEL_FILE, source, tuple(input_names), pooling, max_len)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


def _export_fp32(source: Path, out: Path) -> tuple[list[str], int]:
    """Trace the transformer (eager attention, so the graph holds no shape-specialised mask
    code) to ONNX with dynamic batch and sequence axes; returns its input names and length."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    model = AutoModel.from_pretrained(str(source), local_files_only=True, attn_implementation="eager").eval()
    sample = tokenizer(["样例句子", "一个稍长一些的样例句子"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Wrapper(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, tensors, strict=True))).last_hidden_state  # type: ignore[no-any-return]

    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
        torch.onnx.export(
            Wrapper(model),
            tuple(sample[n] for n in names),
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    limit = position_limit(source) or 512
    wanted = int(getattr(tokenizer, "model_max_length", limit) or limit)
    return names, min(wanted, limit) if wanted < 1_000_000 else limit


def _quantize(fp32: Path, int8: Path) -> None:
    """Dynamic quantisation: int8 weights per output channel, activations quantised at run time
    (no calibration data needed; per channel keeps cosine to fp32 above 0.99).

    ``reduce_range`` (7-bit weights): on x86 CPUs with AVX2 but no VNNI, ONNX Runtime multiplies
    u8 activations by s8 weights with VPMADDUBSW, whose 16-bit sums saturate. With full-range
    weights m3e-small's vectors had cosine 0.65-0.79 to fp32 on such a CPU (an AMD EPYC without
    VNNI); with 7-bit weights 0.997, at the same speed (ONNX Runtime's quantisation docs give this
    remedy). It is always on rather than chosen per machine, because an export may be copied
    between machines; on a VNNI CPU it only gives up one bit of weight precision."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
    )


class OnnxInt8Embedder(BaseEmbedder):
    """An ``Embedder`` running the int8 export with onnxruntime (CPU).

    Activations are quantised per batch at run time, so a text's vector depends slightly on the
    texts batched with it (cosine > 0.99 between any two batchings); ranking is unaffected.

    ``name`` is ``"<model>@onnx-int8"``: its vectors differ slightly from the fp32 ones, so an
    index (and the embedding cache) records which of the two made them.
    """

    def __init__(
        self,
        model: str,
        *,
        models_dir: Path = DEFAULT_MODELS_DIR,
        cache: EmbeddingCache | None = None,
        batch_size: int = 32,
        query_prefix: str = "",
        document_prefix: str = "",
        max_seq_length: int | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__(
            model, batch_size=batch_size, cache=cache, query_prefix=query_prefix,
            document_prefix=document_prefix, max_seq_length=max_seq_length,
        )
        self._models_dir = Path(models_dir)
        self._threads = threads
        self._loaded: tuple[onnxruntime.InferenceSession, Any, ExportedModel] | None = None
        self._dim: int | None = None

    def _load(self) -> tuple[onnxruntime.InferenceSession, Any, ExportedModel]:
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                exported = export_int8(self._model_arg, self._models_dir)
                import onnxruntime
                from transformers import AutoTokenizer

                options = onnxruntime.SessionOptions()
                if self._threads:
                    options.intra_op_num_threads = self._threads
                session = onnxruntime.InferenceSession(
                    str(exported.path), options, providers=["CPUExecutionProvider"]
                )
                tokenizer = AutoTokenizer.from_pretrained(str(exported.source), local_files_only=True)
                log.info("loaded %s (%s) from %s", self._model_arg, BACKEND, exported.path)
                self._loaded = (session, tokenizer, exported)
        return self._loaded

    @property
    def name(self) -> str:
        return f"{self._model_arg}@{BACKEND}"

    @property
    def dim(self) -> int:
        # The exported graph does not declare its output width: probe once, outside the count of
        # texts embedded (every cached ``encode_documents`` asks for it).
        if self._dim is None:
            self._dim = int(self._run(["维度"], progress=False).shape[1])
        return self._dim

    @property
    def max_seq_length(self) -> int:
        limit = self._load()[2].max_seq_length
        return min(self._max_seq_length, limit) if self._max_seq_length else limit

    def _tokenizer(self) -> Any:
        return self._load()[1]

    def _run(self, texts: Sequence[str], progress: bool) -> Vectors:
        session, tokenizer, exported = self._load()
        # longest first, like sentence-transformers: batches of similar length pad little
        order = np.argsort([-len(t) for t in texts], kind="stable")
        parts: list[Vectors] = []
        for start in range(0, len(texts), self._batch_size):
            batch = [texts[i] for i in order[start : start + self._batch_size]]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=self.max_seq_length,
                            return_tensors="np")
            feeds = {name: np.asarray(enc[name], np.int64) for name in exported.input_names}
            hidden = session.run(None, feeds)[0]
            parts.append(_pool(hidden, feeds["attention_mask"], exported.pooling))
        out = np.empty((len(texts), parts[0].shape[1]), np.float32)
        out[order] = np.concatenate(parts)
        return out


def _pool(hidden: Any, mask: Any, pooling: str) -> Vectors:
    """Sentence vectors from token states, L2-normalised."""
    if pooling == "cls":
        vectors = np.asarray(hidden[:, 0], np.float32)
    else:
        weights = mask[..., None].astype(np.float32)
        vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
