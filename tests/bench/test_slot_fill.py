"""bench.slot_fill: which refusing rule judges a question, the composer's check of a sentence, the
table on a hand-made BEIR sample, and the bundled-reports line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.slot_fill import bundled_when, fills, main, rule_of


@pytest.mark.parametrize(
    ("question", "rule"),
    [
        ("广场的面积有多大？", "dimension"),
        ("街道有多少名党员？", "count"),
        ("街道的人口有多少？", "count"),
        ("食堂是什么时候建成的？", "when"),
        ("食堂是哪一年建成的？", "date"),
        ("这位负责人叫什么名字？", "person"),
        ("街道为什么开展巡逻？", None),
    ],
)
def test_rule_of(question: str, rule: str | None) -> None:
    assert rule_of(question) == rule


def test_fills_uses_the_composers_checks() -> None:
    assert fills("辖区有几所中学？", "辖区有3所中学。")
    assert not fills("辖区有几所中学？", "辖区有12所高校。")
    assert fills("王朝是什么时候瓦解的？", "王朝在唐末瓦解。")
    assert not fills("学校是什么时候建的？", "学校深受爱戴。")


def _write(folder: Path, name: str, rows: list[dict[str, object]]) -> None:
    (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_main_prints_a_table_and_the_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "beir"
    data.mkdir()
    _write(data, "corpus.jsonl", [{"_id": "TRIAL_0", "title": "学校", "text": "辖区有3所中学。学校建于唐末。"}])
    _write(data, "queries.jsonl", [{"_id": "TRIAL_0_QUERY_0", "text": "辖区有几所中学？"},
                                   {"_id": "TRIAL_0_QUERY_1", "text": "学校是什么时候建的？"}])
    _write(data, "answers.jsonl", [{"_id": "TRIAL_0_QUERY_0", "answers": ["3所"]},
                                   {"_id": "TRIAL_0_QUERY_1", "answers": ["唐末"]}])
    (data / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nTRIAL_0_QUERY_0\tTRIAL_0\t1\n"
                                    "TRIAL_0_QUERY_1\tTRIAL_0\t1\n", encoding="utf-8")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "a.txt").write_text("标题\n\n2020年，街道新建公园。居民很满意。\n", encoding="utf-8")
    assert main(["--split", "TRIAL", "--data", str(data), "--reports", str(reports)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:4] for line in out.splitlines() if line.startswith("  ")}
    assert rows["count"] == ["1", "/", "1"] and rows["when"] == ["1", "/", "1"]
    assert bundled_when(reports).startswith("bundled reports: 1 of ")
