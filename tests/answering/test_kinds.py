"""Issue 32, item 1: answer kinds from question grammar — lists over places or reports, comparisons
of two named places, everything else a single fact — and the fact question each part asks. The
sentences are written for these tests (about made-up places), not taken from any evaluated set."""

from __future__ import annotations

import pytest

from service.answering.kinds import for_report, for_side, question_shape

KNOWN = ("东湖街道", "西山街道", "南岭社区", "北坡社区")


@pytest.mark.parametrize(
    ("question", "level"),
    [
        ("哪些街道建立了老年食堂？", "街道"),
        ("哪几个社区开通了便民热线？", "社区"),
        ("各街道都设立了哪些志愿服务队？", "街道"),
        ("每个社区有几名网格员？", "社区"),
        ("哪些地方开展了垃圾分类？", "地方"),
        ("建有党员活动室的社区有哪些？", "社区"),
        ("这些报告中，哪些单位参与了共建？", "单位"),
        ("今年以来哪些街道新建了口袋公园？", "街道"),
        ("哪些报告提到了消防演练？", "报告"),
        ("各地如何推进老旧小区改造？", "地方"),
        ("“一站式”服务在哪几个社区推开了？", "社区"),  # where it happens: a place of the clause
        ("在建设口袋公园的有哪些街道？", "街道"),
    ],
)
def test_list_questions_range_over_places_or_reports(question: str, level: str) -> None:
    shape = question_shape(question, KNOWN)
    assert shape.kind == "list", question
    assert shape.level == level


@pytest.mark.parametrize(
    "question",
    [
        "东湖街道开展了哪些活动？",  # several things of one named place: one report's answer
        "该书有哪些特点？",
        "这种鸟分布在哪些地方？",  # the places are the object asked of one passage
        "规划范围包括哪些区？",
        "哪些区域被划为保护区？",  # 区域 is no level of places
        "哪些市场实行了明码标价？",
        "东湖街道有多少名党员？",
        "世界各地的媒体如何报道此事？",
        "哪个街道获得了先进集体称号？",  # one place asked: a fact (the report names it)
    ],
)
def test_other_questions_are_single_facts(question: str) -> None:
    assert question_shape(question, KNOWN).kind == "fact", question


@pytest.mark.parametrize(
    ("question", "sides", "direction"),
    [
        ("东湖街道和西山街道哪个整改的隐患更多？", ("东湖街道", "西山街道"), "多"),
        ("南岭社区与北坡社区谁先建成了议事厅？", ("南岭社区", "北坡社区"), "先"),
        ("东湖街道、西山街道哪个的志愿者比较少？", ("东湖街道", "西山街道"), "少"),
        # two named things, not places: the whole clause before 哪个 is 「A和B」
        ("南湖商城流动党支部和北村拆迁临时党支部，哪个成立得早？", ("南湖商城流动党支部", "北村拆迁临时党支部"), "早"),
        # the last comparing word is the direction (高 of 高校 is none)
        ("东湖街道和西山街道，哪个辖区的高校更多？", ("东湖街道", "西山街道"), "多"),
    ],
)
def test_comparisons_name_two_joined_places(question: str, sides: tuple[str, str], direction: str) -> None:
    shape = question_shape(question, KNOWN)
    assert shape.kind == "comparison"
    assert shape.sides == sides
    assert shape.direction == direction


def test_two_places_not_joined_are_no_comparison() -> None:
    assert question_shape("东湖街道的书记比西山街道的谁先到任？", KNOWN).kind == "fact"
    assert question_shape("东湖街道开展了三次活动，哪个更多？", KNOWN).kind == "fact"  # no 「A和B」


@pytest.mark.parametrize(
    ("question", "place", "asked"),
    [
        ("哪些街道建立了老年食堂？", "东湖街道", "东湖街道建立了老年食堂？"),
        ("各街道都设立了哪些志愿服务队？", "东湖街道", "东湖街道设立了哪些志愿服务队？"),
        ("各街道的党委书记分别是谁？", "", "党委书记是谁？"),
        ("“一站式”服务在哪几个社区推开了？", "", "“一站式”服务推开了？"),
        ("在建设口袋公园的有哪些街道？", "", "在建设口袋公园？"),
        ("建有党员活动室的社区有哪些？", "南岭社区", "南岭社区建有党员活动室？"),
        ("哪些街道建立了老年食堂？", "", "建立了老年食堂？"),
    ],
)
def test_a_list_asks_each_report_a_fact(question: str, place: str, asked: str) -> None:
    shape = question_shape(question, KNOWN)
    assert for_report(question, shape, place).replace("?", "？") == asked


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("东湖街道和西山街道哪个整改的隐患更多？", ["东湖街道整改的隐患有多少？", "西山街道整改的隐患有多少？"]),
        ("南岭社区与北坡社区谁先建成了议事厅？", ["南岭社区什么时候建成了议事厅？", "北坡社区什么时候建成了议事厅？"]),
    ],
)
def test_a_comparison_asks_each_side_a_fact(question: str, asked: list[str]) -> None:
    shape = question_shape(question, KNOWN)
    assert [for_side(question, shape, side) for side in shape.sides] == asked
