"""Answer checks (``service.answering.checks``): expected answer type, its presence in quoted
sentences, and the question's named things. Pure functions over made-up sentences."""

from __future__ import annotations

import pytest

from indexer.types import Report
from service.answering.checks import (
    entities_match,
    expected_type,
    question_entities,
    type_present,
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("星海街道共排查了多少处燃气隐患？", "quantity"),
        ("活动持续了几天？", "quantity"),
        ("星海街道的党工委书记是谁？", "person"),
        ("这位负责人叫什么名字？", "person"),
        ("消防演练是什么时候举行的？", "date"),
        ("食堂是哪一年建成的？", "date"),
        ("哪个社区建成了助老食堂？", "place"),
        ("活动由哪家单位承办？", "place"),
        ("社区的党建品牌叫什么？", "name"),
        ("街道获得了什么荣誉称号？", "name"),
        ("街道是怎么解决停车难的？", "method"),
        ("社区采取了哪些措施？", "method"),
        ("为什么要开展夜间巡逻？", "other"),
    ],
)
def test_expected_type(question: str, kind: str) -> None:
    assert expected_type(question) == kind


def test_a_quantity_is_a_number_the_question_does_not_state() -> None:
    question = "星海街道2020年的GDP增长了多少？"
    assert not type_present("quantity", "2020年，星海街道在城市管理方面主动攻难点。", question)
    assert type_present("quantity", "2020年全年GDP增长6.5%。", question)
    assert type_present("quantity", "共排查整改燃气隐患六十四处。", "排查了多少处隐患？")
    assert not type_present("quantity", "3月15日开展了排查。", "排查了多少处隐患？")  # a date


def test_other_types_by_example() -> None:
    assert type_present("person", "街道党工委书记周海明介绍了经验。", "书记是谁？")
    assert not type_present("person", "街道党工委书记介绍了经验。", "书记是谁？")
    assert type_present("date", "演练于2021年6月举行。", "什么时候举行？")
    assert not type_present("date", "演练共举行37次。", "什么时候举行？")
    assert type_present("name", "社区打造了“邻里一家亲”党建品牌。", "品牌叫什么？")
    assert not type_present("name", "社区打造了党建品牌。", "品牌叫什么？")
    assert type_present("place", "助老食堂设在星海街道海滨社区。", "哪个社区？")
    assert type_present("other", "任何句子", "怎么做的？")


def test_question_entities() -> None:
    assert question_entities("星海街道2020年的GDP增长了多少？") == ("星海街道", "GDP")
    assert question_entities("“邻里一家亲”品牌是哪个社区的？") == ("邻里一家亲",)
    assert question_entities("哪个街道的馒头成为专供产品？") == ()
    assert question_entities("那王哥庄呢", ["王哥庄街道"]) == ()  # a bare stem is not claimed


REPORT = Report("r", "星海街道:安全生产月活动通报", "", {"places": ["星海街道", "海滨社区"]})
OTHER = Report("o", "云台街道:年终盘点", "", {"places": ["云台街道"]})


def test_entities_match_the_sentence_or_its_report() -> None:
    # the report is about 星海街道: its sentences need not repeat the name
    assert entities_match(["星海街道"], "街道党工委书记介绍了经验。", REPORT)
    # a sentence from another 街道's report does not answer a question about this one
    assert not entities_match(["星海街道"], "街道党工委书记介绍了经验。", OTHER)
    assert entities_match(["星海街道"], "星海街道也派员参加。", OTHER)
    # a term the reports never use (GDP) matches nothing
    assert not entities_match(["星海街道", "GDP"], "2020年，街道主动攻难点。", REPORT)
    assert entities_match(["gdp"], "全年GDP增长6.5%。", None)
    # a place named without its suffix
    assert entities_match(["海滨社区"], "海滨建成了食堂。", None)
