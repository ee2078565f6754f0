"""The ``zhiwen`` dispatcher: instant help without heavy imports, and ``zhiwen ask`` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.configure import reader_limits

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "faiss", "sentence_transformers", "transformers")


def zhiwen(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZHIWEN_")}
    base.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ZHIWEN_LOG_LEVEL="warning")
    return subprocess.run(
        [sys.executable, "-m", "zhiwen.cli", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_building_the_parser_imports_nothing_heavy() -> None:
    code = (
        "import sys, zhiwen.cli; zhiwen.cli.build_parser(); "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_help_lists_every_command() -> None:
    # That --help stays light is proved by the import check above, not by a stopwatch: a timed
    # assert fails on a busy machine while proving nothing the import graph does not.
    result = zhiwen("--help", timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("index", "serve", "ask", "eval"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["serve", "ask"])
def test_subcommand_help(command: str) -> None:
    result = zhiwen(command, "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--index" in result.stdout


def test_invalid_configuration_is_reported_not_raised() -> None:
    result = zhiwen("serve", env={"ZHIWEN_PORT": "70000"}, timeout=120)
    assert result.returncode == 2
    assert "port" in result.stderr and "Traceback" not in result.stderr


def test_the_replaced_upload_limit_is_named_not_ignored() -> None:
    from pydantic import ValidationError

    from zhiwen.settings import Settings

    with pytest.raises(ValidationError, match="ZHIWEN_MAX_TEXT_BYTES"):
        Settings(max_upload_bytes=1 << 20)
    limits = reader_limits(Settings(max_text_bytes=5000, max_file_bytes=6000, max_pdf_pages=7,
                      max_image_pixels=80_000, ocr=False))
    assert (limits.max_text_bytes, limits.max_file_bytes, limits.max_pages, limits.max_pixels,
            limits.ocr) == (5000, 6000, 7, 80_000, False)


def test_ask_without_an_index_fails_clearly(tmp_path: Path) -> None:
    result = zhiwen("ask", "九水街道党工委获得了什么荣誉称号？", "--index", str(tmp_path / "none"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_ask_rejects_an_empty_question() -> None:
    result = zhiwen("ask", "   ", timeout=120)
    assert result.returncode == 2
    assert "empty" in result.stderr


def test_ask_prints_the_answer_with_citations(index_dir: Path) -> None:
    result = zhiwen("ask", "九水街道党工委获得了什么荣誉称号？", "--index", str(index_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "干事创业好班子" in out
    assert "[1]" in out
    assert "000_cfe86b6ecbc402ed" in out  # the cited report, with its offsets
    assert "引用" in out


def test_ask_json_without_an_answer(index_dir: Path) -> None:
    """The --json output is the /v1/ask body; unanswerable: says so and lists the passages."""
    result = zhiwen(
        "ask",
        "九水街道2020年的财政收入是多少？",
        "--index",
        str(index_dir),
        "--json",
        "--top-k",
        "3",
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {
        "answer_id",
        "answer",
        "answerable",
        "confidence",
        "citations",
        "passages",
        "composer_used",
        "warnings",
        "took_ms",
        "curated",
        "answer_kind",
        "groups",
        "question_places",
        "filtered_out",
    }
    assert body["answerable"] is False
    assert body["answer_kind"] == "refusal"
    assert "资料中未找到" in body["answer"]
    texts = {
        row["doc_id"]: row["text"]
        for row in map(json.loads, (index_dir / "reports.jsonl").read_text("utf-8").splitlines())
    }
    assert 1 <= len(body["passages"]) <= 3
    for p in body["passages"]:
        assert texts[p["doc_id"]][p["start"] : p["end"]] == p["text"]


def test_format_answer_lists_the_closest_passages_when_unanswerable() -> None:
    from indexer.types import Chunk, Hit, Report
    from service.answering.types import NOT_FOUND, Answer, Citation
    from service.cli import format_answer

    text = "第一段。\n九水街道党工委荣获“干事创业好班子”荣誉称号。"
    report = Report("r1", "九水街道年终盘点", text)
    chunk = Chunk("r1#0", "r1", 0, len(text), text, title=report.title)
    hit = Hit(chunk, 0.9, {"keyword": 1.0, "dense": 0.5, "fused": 0.9})

    missing = format_answer(Answer(f"{NOT_FOUND}相关信息。", False, (), (hit,)), {"r1": report})
    assert missing.startswith(NOT_FOUND)
    assert "最接近的段落" in missing
    assert f"九水街道年终盘点（r1）第 0–{len(text)} 字" in missing
    assert "第一段。九水街道" in missing  # page-break line breaks dropped for the terminal

    start = text.index("九水")
    quote = text[start:]
    cited = Citation(1, "r1", report.title, quote, start, len(text))
    answered = format_answer(Answer(quote + "[1]", True, (cited,), (hit,)), {"r1": report})
    assert f"[1] 九水街道年终盘点（r1）第 {start}–{len(text)} 字" in answered
    assert f"“{quote}”" in answered
    assert "最接近的段落" not in answered


def test_index_and_add_seed_the_corpus_and_run_without_a_cache(tmp_path: Path) -> None:
    """With no --corpus, `zhiwen index` creates the configured corpus folder from the seed folder
    and `zhiwen add` stores into it, never into the seed. ZHIWEN_CACHE_PATH= (empty) = no embedding
    cache (it used to crash with Path(None))."""
    seed, corpus, index = tmp_path / "seed", tmp_path / "var" / "reports", tmp_path / "index"
    seed.mkdir()
    (seed / "a.txt").write_text("九水街道:安全隐患整改\n\n九水街道共有172处安全隐患被整改。\n", encoding="utf-8")
    extra = tmp_path / "b.txt"
    extra.write_text("湖岛街道:暖气\n\n湖岛街道为兴隆支路1号小区接出供热管道。\n", encoding="utf-8")
    # over ZHIWEN_MAX_TEXT_BYTES: skipped by `index` (the rest is indexed), refused by `add`
    (seed / "c.txt").write_text("星海街道:长文\n\n" + "星海街道开展活动。" * 200, encoding="utf-8")
    heavy = tmp_path / "d.txt"
    heavy.write_bytes((seed / "c.txt").read_bytes())
    env = {"ZHIWEN_CACHE_PATH": "", "ZHIWEN_CORPUS_DIR": str(corpus), "ZHIWEN_SEED_DIR": str(seed),
           "ZHIWEN_MAX_TEXT_BYTES": "4096"}
    built = zhiwen("index", "--index", str(index), env=env, timeout=300)
    assert built.returncode == 0, built.stderr
    assert "skipped c.txt: 5,4" in built.stderr and "over the limit of 4,096 bytes for text files" in built.stderr
    added = zhiwen("add", str(extra), "--index", str(index), env=env, timeout=300)
    assert added.returncode == 0, added.stderr
    refused = zhiwen("add", str(heavy), "--index", str(index), env=env, timeout=300)
    assert refused.returncode != 0 and "over the limit of 4,096 bytes" in refused.stderr, refused.stderr
    assert "Traceback" not in built.stderr + added.stderr + refused.stderr
    assert sorted(p.name for p in corpus.iterdir()) == ["a.txt", "b.txt", "c.txt"]
    assert sorted(p.name for p in seed.iterdir()) == ["a.txt", "c.txt"]
    assert not list(tmp_path.rglob("*.sqlite"))
    assert not (ROOT / "None").exists()


def test_index_names_a_missing_seed_folder(tmp_path: Path) -> None:
    env = {"ZHIWEN_CORPUS_DIR": str(tmp_path / "reports"), "ZHIWEN_SEED_DIR": str(tmp_path / "gone")}
    result = zhiwen("index", "--index", str(tmp_path / "index"), env=env, timeout=120)
    assert result.returncode == 2
    assert "gone" in result.stderr and "ZHIWEN_SEED_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_index_into_milvus_is_incremental_checks_and_repairs(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("浮山后街道开办夜校\n\n浮山后街道开办居民夜校，开设书法课。\n", encoding="utf-8")
    (corpus / "b.txt").write_text("错埠岭街道修路\n\n错埠岭街道今年修路三条。\n", encoding="utf-8")
    args = ("index", "--backend", "milvus", "--milvus-uri", str(tmp_path / "cli.db"), "--corpus", str(corpus),
            "--quiet")
    # Milvus Lite's calls get a generous timeout: this test failed once on a busy machine and passed
    # on every rerun, and a call outliving the default 10 s fails the command (as it should)
    patient = {"ZHIWEN_MILVUS_TIMEOUT_S": "60"}
    first = zhiwen(*args, env=patient, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "indexed 2 reports from 2 files into Milvus at" in first.stdout, first.stdout
    assert "+2 ~0 -0 files" in first.stdout and "created Milvus at" in first.stdout
    assert zhiwen(*args, "--check", env=patient, timeout=120).returncode == 0
    (corpus / "b.txt").unlink()
    again = zhiwen(*args, env=patient, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "indexed 1 reports" in again.stdout and "+0 ~0 -1 files" in again.stdout, again.stdout
    assert "updated Milvus at" in again.stdout
    repaired = zhiwen(*args, "--repair", env=patient, timeout=300)
    assert repaired.returncode == 0, repaired.stderr
    assert "abandoned versions swept" in repaired.stdout and "verifies: 1 reports" in repaired.stdout
    (corpus / "c.txt").write_text("浮山后街道修路\n\n浮山后街道修路两条。\n", encoding="utf-8")
    stale = zhiwen(*args, "--check", env=patient, timeout=120)
    assert stale.returncode == 1 and "stale" in stale.stdout
    down = zhiwen("index", "--backend", "milvus", "--milvus-uri", "http://127.0.0.1:9", "--corpus", str(corpus),
                  env={"ZHIWEN_MILVUS_TIMEOUT_S": "3"}, timeout=120)
    assert down.returncode == 2 and "Milvus at http://127.0.0.1:9" in down.stderr
