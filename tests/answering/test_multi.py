"""Issue 32, item 2: questions about several reports. A list quotes one part per report that
states the thing (decided per report as a single answer is), says how many state it, and never
quotes a heading; a comparison quotes both sides and says which is more only from two amounts of
the same thing and unit. Through the real engine over data/reports (as ``/v1/ask``, top_k 5)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from indexer.text.zh import norm
from service.answering.amounts import answers_count, fills_count, stated_amounts
from service.answering.checks import is_heading
from service.answering.engine import engine_for
from service.answering.slots import counted_thing, implied_units, parse_slot
from service.answering.types import NOT_FOUND, Answer

ASK_TOP_K = 5


@pytest.fixture(scope="module")
def engine(searcher: Any, embedder: Any) -> Any:
    return engine_for(embedder, searcher)


def _consistent(answer: Answer) -> None:
    """Every group's citations are the answer's, quote its report, and are marked in its text."""
    numbers = {c.n: c for c in answer.citations}
    seen: list[int] = []
    for group in answer.groups:
        assert group.citations, group
        for n in group.citations:
            assert numbers[n].doc_id == group.doc_id
            assert f"[{n}]" in answer.text
            seen.append(n)
    assert sorted(seen) == sorted(numbers)


def test_a_list_question_quotes_each_report_that_states_it(engine: Any) -> None:
    answer = engine.ask("哪些街道开展了拆迁工作？", ASK_TOP_K)
    assert answer.answer_kind == "list"
    assert len(answer.groups) >= 2, answer.text
    _consistent(answer)
    assert len({g.doc_id for g in answer.groups}) == len(answer.groups), "one group per report"
    first = answer.text.splitlines()[0]
    assert re.fullmatch(rf"\d+ 份报告中有 {len(answer.groups)} 份提到：", first), first
    for i, (group, line) in enumerate(zip(answer.groups, answer.text.splitlines()[1:], strict=True), 1):
        assert line.startswith(f"{i}. ")
        assert any(p in line for p in group.places) or group.title in line
    for c in answer.citations:
        assert "拆迁" in norm(c.quote), c.quote  # each quoted sentence states the thing
        report = engine.reports[c.doc_id]
        assert report.text[c.start : c.end] == c.quote
        assert not is_heading(report.text, c.start, c.end), c.quote


def test_a_list_no_report_states_is_refused_with_passages(engine: Any) -> None:
    answer = engine.ask("哪些街道建成了跨海大桥？", ASK_TOP_K)
    assert answer.answer_kind == "refusal"
    assert answer.text.startswith(NOT_FOUND)
    assert answer.groups == () and answer.citations == ()
    assert answer.passages


def test_a_list_whose_thing_no_report_uses_is_refused(engine: Any) -> None:
    # 无人机 is in no report: rows that only share the verb (推广) or a common word are no rows
    answer = engine.ask("哪些街道推广了无人机巡查？", ASK_TOP_K)
    assert answer.answer_kind == "refusal", answer.text


def test_a_list_asking_which_place_is_stated_by_a_place_of_that_level(engine: Any) -> None:
    answer = engine.ask("各个街道分别位于哪个区？", ASK_TOP_K)
    assert answer.answer_kind == "list"
    assert len(answer.groups) >= 4, answer.text
    districts = {str(p) for r in engine.reports.values() for p in r.meta.get("places") or []
                 if str(p).endswith("区") and not str(p).endswith("社区")}
    for c in answer.citations:
        assert any(d in c.quote for d in districts), c.quote


def test_a_list_row_fills_the_asked_slot(engine: Any) -> None:
    # 谁: a report is listed only with a sentence naming a person, not one about the 书记's duties
    answer = engine.ask("各街道的党工委书记都是谁？", ASK_TOP_K)
    for c in answer.citations:
        assert "陆兆纲" in c.quote, c.quote


def test_a_list_keeps_to_the_filtered_reports(engine: Any) -> None:
    everywhere = engine.ask("哪些街道开展了拆迁工作？", ASK_TOP_K)
    one = everywhere.groups[0].doc_id
    answer = engine.ask("哪些街道开展了拆迁工作？", ASK_TOP_K, within=frozenset({one}))
    assert [g.doc_id for g in answer.groups] == [one]
    assert answer.text.splitlines()[0] == "1 份报告中有 1 份提到："


def test_a_comparison_quotes_both_sides_and_compares_like_amounts(engine: Any) -> None:
    answer = engine.ask("九水街道和崮云湖街道哪个社区更多？", ASK_TOP_K)
    assert answer.answer_kind == "comparison"
    assert len(answer.groups) == 2
    _consistent(answer)
    lines = answer.text.splitlines()
    assert lines[0].startswith("九水街道：") and lines[1].startswith("崮云湖街道：")
    verdict = lines[-1]
    if verdict.startswith("按所引数字"):
        # the verdict names the two amounts, and each is stated in a sentence it cites
        amounts = re.findall(r"（(\d+)个）", verdict)
        assert len(amounts) == 2
        for n, amount in zip(re.findall(r"\[(\d+)\]", verdict), amounts, strict=True):
            quote = next(c.quote for c in answer.citations if c.n == int(n))
            assert (float(amount), "个") in stated_amounts(quote, "社区")
    else:
        assert "无法" in verdict or "请查看原文" in verdict


def test_a_comparison_without_amounts_of_the_thing_says_so(engine: Any) -> None:
    # the reports state no count of 党员 for 九水街道: no verdict from other numbers
    answer = engine.ask("九水街道和王哥庄街道哪个党员多？", ASK_TOP_K)
    assert answer.answer_kind in ("comparison", "refusal")
    assert "多于" not in answer.text and "少于" not in answer.text


def test_a_comparison_of_two_named_things_quotes_each_where_it_is_named(engine: Any) -> None:
    answer = engine.ask("东辛村拆迁临时党支部和泺口服装城流动党支部哪个先成立？", ASK_TOP_K)
    assert answer.answer_kind in ("comparison", "refusal")
    for group, line in zip(answer.groups, answer.text.splitlines(), strict=False):
        side = line.split("：", 1)[0]
        quotes = [c.quote for c in answer.citations if c.n in group.citations]
        assert any(side in norm(q) for q in quotes), (side, quotes)
    assert "早于" not in answer.text  # the 东辛村 branch's founding date is not stated


def test_a_filter_that_leaves_no_report_says_so(engine: Any) -> None:
    answer = engine.ask("九水街道整改了多少处安全隐患？", ASK_TOP_K, within=frozenset())
    assert answer.filtered_out and not answer.answerable
    assert "筛选" in answer.text


def test_single_fact_questions_stay_facts(engine: Any) -> None:
    answer = engine.ask("九水街道共有多少处安全隐患被整改？", ASK_TOP_K)
    assert answer.answer_kind == "fact" and answer.groups == ()
    assert "172" in answer.text
    assert answer.question_places == ("九水街道",)


@pytest.mark.parametrize(
    ("sentence", "question", "measured", "counts"),
    [
        ("街道人口12万，面积3平方公里。", "街道的人口有多少？", False, True),  # a number with no unit
        ("街道制定“三项清单”，申报2项突破项目。", "街道的人口有多少？", False, False),  # 项 counts other things
        ("辖区有12所高校及20万师生。", "辖区有几所中学？", True, False),
        ("辖区有3所中学、12所高校。", "辖区有几所中学？", True, True),
        ("他已婚，育有3名子女。", "他有几个孩子？", True, True),  # a noun sharing a character
        ("镇上有15名党员。", "镇上有多少名公务员？", True, False),  # a person suffix (员) is not kin
        ("他管辖6个非都市区。", "他管辖几个管理区？", True, True),  # 区 is not a person suffix
        ("推行网格化管理、网格化服务。", "街道有多少名网格员？", True, False),  # no list of 网格员
        ("一半以上病人在首个小时内死亡。", "有多少病人死亡？", False, True),  # a share
        ("他兼任甲骑士团、乙骑士团的团长。", "他兼任几家骑士团的团长？", True, True),  # a list of the thing
        ("注册资本为30亿越南盾。", "注册资本是多少？", False, True),  # an unknown unit
        ("大会庆祝建党97周年。", "街道的人口有多少？", False, False),  # an anniversary
        ("解决了1350件实事难事。", "街道解决的问题有多少？", False, True),  # a paraphrase, no measure word
    ],
)
def test_answers_count(sentence: str, question: str, measured: bool, counts: bool) -> None:
    thing = counted_thing(question)
    assert answers_count(sentence, question, thing, measured=measured, units=implied_units(thing)) is counts


@pytest.mark.parametrize(
    ("sentence", "fills"),
    [
        ("镇上的15名党员把村民分为六类。", False),  # 15名 counts 党员; 六类 is no count of persons
        ("镇上有公务员42名，党员300人。", True),
        ("镇上有公务员、党员共40余人。", True),  # the thing listed in the clause of the amount
        ("镇上公务员的满意率达到95%。", False),  # a rate, not a share of them
        ("一半以上公务员参加了培训。", True),  # a share of them
    ],
)
def test_fills_count_binds_the_unit_to_the_counted_thing(sentence: str, fills: bool) -> None:
    question = "镇上有多少名公务员？"
    slot = parse_slot(question)
    assert slot is not None
    assert fills_count(slot, question, counted_thing(question), sentence) is fills


@pytest.mark.parametrize(
    ("sentence", "thing", "amounts"),
    [
        ("全年整改隐患38处，新建活动室2个。", "隐患", [(38.0, "处")]),
        ("共有2095名社区党员参加。", "党员", [(2095.0, "名")]),
        # a thing that modifies the noun after it is not what is counted
        ("共有2095名社区党员参加。", "社区", []),
        ("下辖8个城市社区，2个村。", "社区", [(8.0, "个")]),
        ("辖34个社区党组织。", "社区", []),
        ("投入资金5000余万元。", "", [(50000000.0, "元")]),
        ("2018年新建3个站点。", "", [(3.0, "个")]),
        ("上千名志愿者参与。", "志愿者", []),
        ("近百名志愿者参与。", "志愿者", []),
        ("拆迁面积约8600平方米。", "面积", [(8600.0, "平方米")]),
    ],
)
def test_stated_amounts(sentence: str, thing: str, amounts: list[tuple[float, str]]) -> None:
    assert stated_amounts(sentence, thing) == amounts


@pytest.mark.parametrize(
    ("text", "span", "heading"),
    [
        ("党建引领 发展谱新篇\n\n——某市某区某街道党建工作纪实\n\n正文第一句。", "——某市某区某街道党建工作纪实", True),
        ("标题行\n□记者 张三 李四\n正文。", "□记者 张三 李四", True),
        ("正文第一句，说了事情。第二句。", "正文第一句，说了事情。", False),
        ("社区党建工作取得成效\n正文。", "社区党建工作取得成效", True),
    ],
)
def test_headings(text: str, span: str, heading: bool) -> None:
    start = text.index(span)
    assert is_heading(text, start, start + len(span)) is heading


def test_the_llm_gets_the_evidence_grouped_by_report(searcher: Any, embedder: Any) -> None:
    """A list question with the LLM composer: the prompt holds only the reports that state it,
    each report's passages together, and the reply's citations come back grouped by report."""
    from service.answering.engine import LLMEndpoint
    from tests.answering.fake_llm import FakeLLMServer, Script

    question = "哪些街道开展了拆迁工作？"
    extractive = engine_for(embedder, searcher).ask(question, ASK_TOP_K)
    kept = [g.title for g in extractive.groups]
    with FakeLLMServer() as server:
        # the first passage holds the list's first quote: the reply cites it
        server.script("fake-list", Script(extractive.citations[0].quote + "[1]"))
        llm = engine_for(embedder, searcher, "llm", LLMEndpoint(server.base_url, "fake-list"))
        answer = llm.ask(question, ASK_TOP_K)
        (request,) = server.requests_for("fake-list")
    prompt = request.body["messages"][-1]["content"]
    titles = re.findall(r"标题：(.+)", prompt)
    order = list(dict.fromkeys(titles))
    assert order == kept, "the kept reports, in the list's order"
    assert titles == sorted(titles, key=order.index), "each report's passages together"
    assert answer.composer == "llm"
    assert answer.answer_kind == "list"
    assert [g.doc_id for g in answer.groups] == [c.doc_id for c in answer.citations[:1]]


@pytest.mark.parametrize(
    ("question", "sentence", "fills"),
    [
        # 名师 is a jieba word, and 师生 is tagged as a name: the counted noun is still 师生
        ("辖区有多少名师生？", "辖区有12所高校及20万师生。", True),
        ("辖区有多少名师生？", "辖区有12所高校。", False),
        ("全村有多少名党员？", "全村3000党员参加了活动。", True),  # no measure word before the noun
    ],
)
def test_a_number_right_before_the_counted_noun_counts_it(question: str, sentence: str, fills: bool) -> None:
    slot = parse_slot(question)
    assert slot is not None
    assert fills_count(slot, question, counted_thing(question), sentence) is fills
