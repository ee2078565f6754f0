"""The asked slot (``service.answering.slots``): what a question asks to fill, whether a sentence
fills it, and what a refusal says is missing. Pure functions over made-up questions and sentences
(星海街道 and its 党员 are invented, not words of the dev questions)."""

from __future__ import annotations

import pytest

from service.answering.slots import Slot, missing_phrase, parse_slot, slot_filled


def _slot(question: str) -> Slot:
    slot = parse_slot(question)
    assert slot is not None, question
    return slot


@pytest.mark.parametrize(
    ("question", "unit", "unit_class", "thing"),
    [
        ("星海街道有多少名党员？", "名", "person", "党员"),
        ("星海街道有多少家五星级酒店？", "家", "家", "五星级酒店"),
        ("星海街道共排查了多少处燃气隐患？", "处", "处", "燃气隐患"),
        ("工程一共花了多少钱？", "钱", "money", ""),
        ("项目投入了多少万元？", "万元", "money", ""),
        ("展会共接待了多少人次？", "人次", "person", ""),
        ("社区下设了几个网格？", "个", "个", "网格"),
        ("星海街道有多少名在编教师？", "名", "person", "在编教师"),
        ("星海街道的党员有多少名？", "名", "person", "党员"),  # the unit at the end, the thing before
        ("维修用了几天？", "天", "duration", ""),
        ("活动持续了几个月？", "个月", "duration", ""),
    ],
)
def test_a_measure_word_names_the_unit_and_the_thing(question: str, unit: str, unit_class: str, thing: str) -> None:
    slot = _slot(question)
    assert (slot.kind, slot.unit, slot.unit_class, slot.thing) == ("quantity", unit, unit_class, thing)
    assert slot.confident


@pytest.mark.parametrize(
    "question",
    [
        "星海街道2020年的财政收入是多少？",  # bare 多少: no unit
        "广场有多大？",  # 多大 with no dimension named
        "比赛的级别有多高？",  # 多高 is not always a height
        "活动持续了多久？",  # 多久 is answered by dates as often as by durations
        "星海街道有多少人口？",  # 人口 is a noun, not the measure word 人
        "项目解决了多少资金需求？",  # a money noun: the unit is a guess
        "社区的党建品牌叫什么？",  # a name
    ],
)
def test_vague_slots_are_not_confident(question: str) -> None:
    assert not _slot(question).confident


@pytest.mark.parametrize(
    ("question", "unit_class"),
    [
        ("广场的面积有多大？", "area"),
        ("公园占地面积是多少？", "area"),
        ("新楼占地多大面积？", "area"),
        ("这只袋鼠的体重大约是多少？", "weight"),
        ("运动员的身高是多少？", "length"),
        ("雷达的有效距离有多远？", "length"),
    ],
)
def test_a_named_dimension_is_a_confident_unit_class(question: str, unit_class: str) -> None:
    slot = _slot(question)
    assert (slot.kind, slot.unit_class, slot.confident) == ("quantity", unit_class, True)


@pytest.mark.parametrize(
    ("question", "sentence", "filled"),
    [
        ("广场的面积有多大？", "广场占地约两平方公里，是市民休闲的去处。", True),
        ("广场的面积有多大？", "广场建成于2010年，有3个出入口。", False),  # numbers, but no area
        ("这只袋鼠的体重大约是多少？", "这只袋鼠很细小，约只有8公斤重。", True),  # in a later clause
        ("运动员的身高是多少？", "他身高182CM，司职后卫。", True),
        ("雷达的有效距离有多远？", "雷达有效距离30km，可同时追踪20个目标。", True),
    ],
)
def test_a_dimension_is_filled_by_a_number_of_its_unit_class(question: str, sentence: str, filled: bool) -> None:
    assert slot_filled(_slot(question), sentence, question) is filled


def test_a_noun_implies_a_unit_class_without_confidence() -> None:
    people = _slot("星海街道有多少人口？")
    assert (people.unit_class, people.thing) == ("person", "人口")
    money = _slot("项目解决了多少资金需求？")
    assert money.unit_class == "money"


@pytest.mark.parametrize(
    ("question", "kind", "granularity", "confident"),
    [
        ("食堂是哪一年建成的？", "date", "year", True),
        ("他是哪年出生的？", "date", "year", True),
        ("展览几月开幕？", "date", "month", True),
        ("比赛在哪一天举行？", "date", "day", True),
        ("会议定在几号召开？", "date", "day", True),
        ("活动是什么时候举行的？", "date", "", True),  # some time expression (an era, 「战后」) answers
        ("星海街道的党工委书记是谁？", "person", "", True),  # a role: its holder is named (persons.py)
        ("谁提出了这个倡议？", "person", "", False),  # 谁 is answered by bodies too (街道党工委)
        ("总理一职由谁委任？", "person", "", False),
        ("这位负责人叫什么名字？", "person", "", True),
        ("星海街道的党工委书记叫什么名字？", "person", "", True),
        ("获奖者的姓名是什么？", "person", "", True),
        ("是哪位老师发起的活动？", "person", "", True),
        ("社区的党建品牌叫什么？", "name", "", False),
    ],
)
def test_dates_persons_and_names(question: str, kind: str, granularity: str, confident: bool) -> None:
    slot = _slot(question)
    assert (slot.kind, slot.granularity, slot.confident) == (kind, granularity, confident)


@pytest.mark.parametrize("question", ["为什么要开展夜间巡逻？", "社区有哪几个网格？", "他获得了第几名？", "街道是怎么解决停车难的？", "哪个社区建成了助老食堂？"])
def test_questions_without_a_slot(question: str) -> None:
    assert parse_slot(question) is None


def test_adverbs_with_ji_are_not_quantities() -> None:
    # 几乎 is "almost": the question asks for a reason, not a count
    assert parse_slot("为什么几乎所有居民都支持改造？") is None


# -- filled by a sentence ---------------------------------------------------------------------------

PARTY = "星海街道有多少名党员？"


@pytest.mark.parametrize(
    ("sentence", "filled"),
    [
        ("星海街道共有党员1200余名，设党支部30个。", True),
        ("全街道现有党员1200人。", True),  # 人 is compatible with 名
        ("街道共有党员数百名。", True),  # an approximate count is a count
        ("2018年，星海街道新发展党员12名。", True),
        ("星海街道共有党支部30个，党员积极参与活动。", False),  # 30个 is about 党支部
        ("星海街道党员发挥先锋作用，共有群众3000人参加。", False),  # 3000人 is in the clause of 群众
        ("全街道有居民3万人，党员是骨干。", False),
        ("星海街道党员干部为群众办一件小事。", False),  # 一件: the article "a"
        ("星海街道党员带头参与志愿服务。", False),
        ("星海街道党员在2018年带头整治环境。", False),  # a year is no count
    ],
)
def test_a_count_in_the_clause_about_the_thing(sentence: str, filled: bool) -> None:
    assert slot_filled(_slot(PARTY), sentence, PARTY) is filled


def test_without_the_thing_in_the_sentence_any_clause_counts() -> None:
    assert slot_filled(_slot(PARTY), "街道有在册人员150名，分布在12个社区。", PARTY)


@pytest.mark.parametrize(
    ("question", "sentence", "filled"),
    [
        ("星海街道有多少家五星级酒店？", "街道拥有五大功能区域。", False),
        ("星海街道有多少家五星级酒店？", "街道有企业30家，其中五星级酒店正在建设中。", False),
        ("星海街道有多少家五星级酒店？", "街道共有五星级酒店3家。", True),
        ("工程一共花了多少钱？", "工程共投入资金5000余万元。", True),
        ("工程一共花了多少钱？", "工程投入5.73亿元。", True),
        ("工程一共花了多少钱？", "项目总投资3亿美元。", True),
        ("工程一共花了多少钱？", "工程投入大量资金，惠及3000户。", False),
        ("植物生长在海拔多少米的地区？", "生长于海拔1,750米的地区，一般生长在路旁。", True),  # 1,750 is one number
        ("社区下设了几个网格？", "社区下设网格8个。", True),
        ("社区下设了几个网格？", "社区划分为8块网格。", True),  # 个 takes any measure word
        ("维修用了几天？", "维修仅用了四天时间。", True),
        ("维修用了几天？", "维修于2019年12月5日完成。", False),
        ("星海街道2020年新建了多少处停车场？", "2020年新建停车场35处。", True),
        ("星海街道2020年新建了多少处停车场？", "2020年星海街道建成停车场。", False),
        ("星海街道有12个社区，其中多少个是新建的？", "星海街道有12个社区。", False),  # 12 is stated
    ],
)
def test_units_and_compatible_units(question: str, sentence: str, filled: bool) -> None:
    assert slot_filled(_slot(question), sentence, question) is filled


@pytest.mark.parametrize(
    ("question", "sentence", "filled"),
    [
        ("食堂是哪一年建成的？", "食堂于2018年建成。", True),
        ("食堂是哪一年建成的？", "食堂建成于崇宁五年。", True),
        ("食堂是哪一年建成的？", "食堂12月建成。", False),  # a month is not a year
        ("食堂是哪一年建成的？", "今年以来，食堂投入使用。", False),  # 今年 names no year
        ("食堂是哪一年建成的？", "食堂在成立97周年时翻新。", False),
        ("食堂是哪一年建成的？", "食堂建成后深受欢迎。", False),
        ("展览几月开幕？", "展览于1998年5月开幕。", True),
        ("展览几月开幕？", "展览于1998年开幕。", False),
        ("比赛在哪一天举行？", "比赛于5月3日举行。", True),
        ("比赛在哪一天举行？", "比赛在国庆节举行。", True),
        ("比赛在哪一天举行？", "比赛在5月举行。", False),
        ("活动是什么时候举行的？", "活动在年底举行。", True),
        ("活动是什么时候举行的？", "活动深受欢迎。", False),
        ("王朝是什么时候建立的？", "王朝在唐末藩镇混战中建立。", True),  # an era
        ("王朝是什么时候瓦解的？", "四国征伐后，王朝随即瓦解。", True),  # after an event
        ("工作是什么时候开展的？", "按照时间节点稳步推进，不忘初心，代表们积极参与。", False),
    ],
)
def test_dates_by_the_asked_granularity(question: str, sentence: str, filled: bool) -> None:
    assert slot_filled(_slot(question), sentence, question) is filled


@pytest.mark.parametrize(
    ("sentence", "filled"),
    [
        ("街道党工委书记陆兆纲介绍了经验。", True),
        ("乔治·华盛顿是第一任总统。", True),  # a transliterated name
        ("该系列由Konami创作。", True),  # a name in Latin script
        ("书记强调GDP要稳步增长。", False),  # an acronym is no name
        ("党员干部扛起责任担当。", False),
        ("王哥庄街道是个好地方。", False),  # a place jieba misreads as a name
    ],
)
def test_a_person_is_a_name(sentence: str, filled: bool) -> None:
    question = "星海街道的党工委书记叫什么名字？"
    assert slot_filled(_slot(question), sentence, question) is filled


def test_a_name_is_a_quoted_name() -> None:
    question = "社区的党建品牌叫什么？"
    assert slot_filled(_slot(question), "社区打造了“邻里红帆”党建品牌。", question)
    assert not slot_filled(_slot(question), "社区不断加强党建工作。", question)


# -- what a refusal says ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("星海街道有多少名党员？", "星海街道党员的人数"),
        ("星海街道共有多少家五星级酒店？", "星海街道五星级酒店的数量"),
        ("星海街道的党员有多少名？", "星海街道党员的人数"),
        ("工程花了多少钱？", "工程花的金额"),
        ("星海街道的党员活动室面积有多大？", "星海街道党员活动室面积"),
        ("社区下设了几个网格？", "社区下设网格的数量"),
        ("维修队用几天时间修好了路灯？", "维修队修好路灯的用时"),
        ("星海街道2020年的财政收入是多少？", "星海街道2020年财政收入"),
        ("食堂是哪一年建成的？", "食堂建成的年份"),
        ("比赛在哪一天举行？", "比赛举行的日期"),
        ("活动是什么时候举行的？", "活动举行的时间"),
        ("星海街道的党工委书记是谁？", "星海街道党工委书记的姓名"),
        ("这位负责人叫什么名字？", "这位负责人的姓名"),
        ("谁提出了这个倡议？", "提出这个倡议的人"),
        ("社区的党建品牌叫什么？", "社区党建品牌的名称"),
    ],
)
def test_missing_phrase(question: str, phrase: str) -> None:
    assert missing_phrase(_slot(question), question) == phrase
