"""Fitting rows: answer sentences removed from passages, and row files old and new."""

from __future__ import annotations

import json
from pathlib import Path

from eval.data import EvalQuery
from eval.fit_data import (
    Row,
    choose_passages,
    read_rows,
    remove_answers,
    remove_spans,
    removed_corpus,
    write_rows,
)
from indexer.types import Report


def _report(doc: str, text: str) -> Report:
    return Report(doc_id=doc, title=doc, text=text, meta={})


def test_remove_spans_keeps_the_rest_in_order() -> None:
    assert remove_spans("0123456789", [(6, 8), (1, 3), (2, 4)]) == "04589"  # 1–3 and 6–7 go


def test_every_sentence_holding_an_answer_goes() -> None:
    report = _report("P", "甲城在北方。乙城人口一百万。丙河很长，流经一百万人的城市。丁山不高。")
    kept = remove_answers(report, ["一百万"])
    assert kept.text == "甲城在北方。丁山不高。"
    assert remove_answers(report, ["不存在"]).text == report.text


def test_an_answer_running_over_a_sentence_end_takes_both_sentences() -> None:
    report = _report("P", "他说：走吧。明天见。后来的事。")
    assert remove_answers(report, ["走吧。明天"]).text == "后来的事。"


def test_removed_corpus_turns_questions_into_must_refuse_or_drops_ambiguous_ones() -> None:
    corpus = [_report("P1", "北京是首都。长江很长。"), _report("P2", "上海在东部。黄河很黄。")]
    queries = [
        EvalQuery("q1", "首都是哪里", "TRIAL", {"P1": 1}, answers=("北京",)),
        EvalQuery("q2", "什么很长", "TRIAL", {"P1": 1}, answers=("长江",)),
        EvalQuery("q3", "哪里在东部", "TRIAL", {"P2": 1}, answers=("上海",)),
        # gold in both passages: whichever is changed, the other still answers it
        EvalQuery("q4", "哪条河", "TRIAL", {"P1": 1, "P2": 1}, answers=("河",)),
    ]
    chosen = choose_passages(["P1", "P2"], 0.5, 0)
    assert len(chosen) == 1
    removed = removed_corpus(queries, corpus, 0.5, 0)
    assert removed.passages == chosen
    (doc,) = chosen
    changed = {r.doc_id: r.text for r in removed.reports}
    if doc == "P1":
        assert changed == {"P1": "", "P2": "上海在东部。黄河很黄。"}
        assert removed.refuse == {"q1", "q2"}
    else:
        assert changed == {"P1": "北京是首都。长江很长。", "P2": ""}
        assert removed.refuse == {"q3"}
    assert removed.ambiguous == {"q4"}


def test_old_row_files_load_as_leave_out_rows(tmp_path: Path) -> None:
    old = {"qid": "TRIAL_1", "seed": 2, "features": {"coverage": 0.5}, "right": True, "left_out": False}
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(old) + "\n\n", encoding="utf-8")
    (row,) = read_rows(path)
    assert (row.source, row.group, row.article) == ("cmrc-leave-out", "", "cmrc-leave-out:TRIAL_1")
    new = Row("s1", 0, None, False, True, "squad2-fit", "squad2:a02")
    write_rows([row, new], path)
    assert read_rows(path) == [row, new]
