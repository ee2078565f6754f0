"""Cleaning the bundled reports: splitting, titles, metadata, rejoined page breaks, sentences."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from indexer.ingest.cleaning import (
    clean_span,
    find_places,
    parse_date,
    parse_reports,
    report_sentences,
    should_join,
    split_sentence_spans,
)
from indexer.ingest.decode import read_text
from indexer.types import Report, Sentence
from tests.conftest import REPORTS_DIR

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "data" / "reports"
FIXTURES = ROOT / "tests" / "data"
ID_004 = "004_f6854607940c3363"


def _nospace(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    """Every bundled report by doc id."""
    out: dict[str, Report] = {}
    for path in sorted(REPORTS.glob("*.txt")):
        for report in parse_reports(path.stem, read_text(path), path.name):
            out[report.doc_id] = report
    return out


@pytest.fixture(scope="module")
def sentences(reports: dict[str, Report]) -> dict[str, list[Sentence]]:
    return {doc_id: report_sentences(r) for doc_id, r in reports.items()}


def _doc(reports: dict[str, Report], prefix: str) -> str:
    """The one doc id starting with ``prefix`` (000, 001, …, 004_…-1)."""
    (doc_id,) = [d for d in reports if d.startswith(prefix)]
    return doc_id


# --- splitting and titles ---------------------------------------------------------------------


def test_doc_ids(reports: dict[str, Report]) -> None:
    assert sorted(reports) == [
        "000_cfe86b6ecbc402ed",
        "001_d4093c45d226763b",
        "002_8c245bf9f2fc8f5a",
        "003_417ad2edf06574dc",
        f"{ID_004}-1",
        f"{ID_004}-2",
    ]


def test_004_is_split_in_two_reports_with_their_titles(reports: dict[str, Report]) -> None:
    text = read_text(REPORTS / f"{ID_004}.txt")
    first, second = reports[f"{ID_004}-1"], reports[f"{ID_004}-2"]
    assert first.title == "天桥区堤口路街道:党建引领创新路 亮点项目惠民生"
    assert second.title == "泺口街道香磨李社区:以党建为引领,凝聚合力 社区和市场深度融合共赢未来"
    # Each report is its original slice of the file, and together they are the whole file.
    for r in (first, second):
        off = r.meta["source_offset"]
        assert text[off : off + len(r.text)] == r.text
        assert r.meta["source"] == f"{ID_004}.txt"
        assert r.meta["source_id"] == ID_004
    assert first.meta["source_offset"] == 0
    assert first.text + second.text == text
    assert second.text.startswith("泺口街道香磨李社区:")
    assert "香磨李" not in first.text


def test_single_report_files_keep_their_stem(reports: dict[str, Report]) -> None:
    r = reports["003_417ad2edf06574dc"]
    assert r.meta["source_offset"] == 0
    assert r.text == read_text(REPORTS / "003_417ad2edf06574dc.txt")


@pytest.mark.parametrize(
    ("prefix", "title", "subtitle"),
    [
        (
            "000",
            "党建统领惠民生 激发干事创业新动能——九水街道党工委年终盘点党建特刊",
            "九水街道党工委年终盘点党建特刊",
        ),
        (
            "001",
            "党建引领筑根基 凝心聚力谱新篇——崮云湖街道创新党建工作模式,为群众打造温馨家园",
            "崮云湖街道创新党建工作模式,为群众打造温馨家园",
        ),
        (
            "002",
            "党建引领 乡村振兴 党建聚合力 发展谱新篇——青岛市崂山区王哥庄街道党建工作纪实",
            "——青岛市崂山区王哥庄街道党建工作纪实",
        ),
        ("003", "市北区湖岛街道:红色领航 乘势开创基层治理新航线", None),
    ],
)
def test_titles_and_subtitles(
    reports: dict[str, Report], prefix: str, title: str, subtitle: str | None
) -> None:
    r = reports[_doc(reports, prefix)]
    assert r.title == title
    assert r.meta.get("subtitle") == subtitle


def test_titles_name_the_street_when_the_header_does(reports: dict[str, Report]) -> None:
    for r in reports.values():
        header_streets = [p for p in r.meta.get("places", []) if p.endswith("街道")]
        if r.doc_id.endswith("-2"):
            continue  # 香磨李社区's report: its title names 泺口街道, checked above
        assert any(s in r.title for s in header_streets), (r.doc_id, r.title)


def test_explicit_separator_splits_reports() -> None:
    text = (FIXTURES / "separated_reports.txt").read_text(encoding="utf-8")
    first, second = parse_reports("sep", text)
    assert (first.doc_id, second.doc_id) == ("sep-1", "sep-2")
    assert first.title == "测试镇第一篇报道标题"
    assert second.title == "第二篇报道的标题"
    assert "---" not in first.text + second.text
    assert text[second.meta["source_offset"] :].startswith(second.text)
    assert first.meta["source"] == "sep.txt"


def test_form_feed_splits_reports() -> None:
    text = "标题一\n\n正文一写了很多内容。\f标题二\n\n正文二也写了内容。\n"
    reports = parse_reports("ff", text, "ff.txt")
    assert [r.title for r in reports] == ["标题一", "标题二"]
    assert reports[1].text == text[reports[1].meta["source_offset"] :]


def _report_block(place: str, headline: str) -> str:
    para = f"{place}党工委坚持以党建引领基层治理，推动各项工作落地见效，群众满意度持续提升。" * 4
    return f"{place}:{headline}\n\n{para}\n\n{para}\n\n"


def test_place_title_candidates_split_a_file() -> None:
    text = _report_block("甲区乙街道", "党建引领发展") + _report_block("丙街道丁社区", "凝心聚力")
    reports = parse_reports("two", text)
    assert [r.doc_id for r in reports] == ["two-1", "two-2"]
    assert [r.title for r in reports] == ["甲区乙街道:党建引领发展", "丙街道丁社区:凝心聚力"]


def test_place_headings_inside_one_report_do_not_split_it() -> None:
    # The file's own title comes first, and the "<place>:" lines are section headings in the
    # body with no byline of their own: one report.
    body = _report_block("甲社区", "做法一") + _report_block("乙社区", "做法二")
    text = "某区基层党建工作综述\n\n" + "全区上下齐心协力，各项工作取得新成效。" * 5 + "\n\n" + body
    reports = parse_reports("one", text)
    assert [r.doc_id for r in reports] == ["one"]
    assert reports[0].title == "某区基层党建工作综述"


def test_nav_banner_before_title_is_dropped() -> None:
    text = "首页 > 新闻\n某某资讯频道\n\n党建引领 共建共享\n\n正文第一段讲述了社区的变化。\n"
    (r,) = parse_reports("nav", text)
    assert r.title == "党建引领 共建共享"
    assert all("频道" not in s.text for s in report_sentences(r))


def test_empty_text_has_no_reports() -> None:
    assert parse_reports("empty", "\n \n") == []


# --- metadata ---------------------------------------------------------------------------------


def test_places(reports: dict[str, Report]) -> None:
    places_000 = reports["000_cfe86b6ecbc402ed"].meta["places"]
    assert "九水街道" in places_000
    assert "李沧区" in places_000
    assert reports["003_417ad2edf06574dc"].meta["places"][:2] == ["市北区", "湖岛街道"]
    assert reports[f"{ID_004}-1"].meta["places"][:2] == ["天桥区", "堤口路街道"]
    assert reports[f"{ID_004}-2"].meta["places"][:2] == ["泺口街道", "香磨李社区"]
    assert "王哥庄街道" in reports["002_8c245bf9f2fc8f5a"].meta["places"]
    assert "崮云湖街道" in reports["001_d4093c45d226763b"].meta["places"]


def test_places_are_clean_names(reports: dict[str, Report]) -> None:
    for r in reports.values():
        for place in r.meta.get("places", []):
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,7}(区|街道|社区|镇)", place), place
            # No grabbed verbs or function words, no generic area words.
            assert not re.search(r"[的在对把将为了]|调动|打造|响应|联系|城市|老旧|周边", place), (
                place
            )


def test_find_places_skips_verbs_before_the_suffix() -> None:
    text = "在李沧区委区政府的领导下，李沧区九水街道党工委调动广大社区党员，精心打造社区品牌。"
    assert find_places(text) == ["李沧区", "九水街道"]


def test_dates(reports: dict[str, Report]) -> None:
    assert reports["003_417ad2edf06574dc"].meta["date"] == "2021-01-30"
    assert parse_date("2021年1月30日 星期六") == "2021-01-30"
    assert parse_date("2021-13-40") is None
    assert "date" not in reports["000_cfe86b6ecbc402ed"].meta  # body years are not dates


@pytest.mark.parametrize(
    ("prefix", "authors"),
    [
        ("000", ["王鹏"]),
        ("001", ["刘秀文", "王晓燕"]),
        ("002", ["白晓", "潘宁", "招婷婷"]),
        (f"{ID_004}-1", ["夏侯凤超", "史大鑫"]),
        (f"{ID_004}-2", ["张晓燕", "程建政"]),
    ],
)
def test_authors(reports: dict[str, Report], prefix: str, authors: list[str]) -> None:
    assert reports[_doc(reports, prefix)].meta["authors"] == authors


def test_outlet(reports: dict[str, Report]) -> None:
    assert reports[f"{ID_004}-1"].meta["outlet"] == "齐鲁晚报·齐鲁壹点"
    assert "outlet" not in reports["003_417ad2edf06574dc"].meta  # a nav banner is no outlet


# --- rejoining page breaks --------------------------------------------------------------------

# (doc prefix, text that must read whole inside one body sentence)
JOINED = [
    ("000", "在新冠肺炎疫情防控过程中，街道干部全员上岗"),
    ("000", "交到居民手中的不懈努力"),
    ("001", "纪委督导组,重点督查"),
    ("001", "健康养生讲座、文化娱乐进万家"),
    ("002", "深度挖掘社区民俗文化"),
    (f"{ID_004}-1", "示范支部”联建联创"),
    (f"{ID_004}-1", "策划开展“三访三问三服务”活动"),
    (f"{ID_004}-2", "齐鲁云商泺口国际电商产业园"),
]

# (doc prefix, heading that must stay a heading of its own)
HEADINGS = [
    ("000", "以“党建统领”为轴，敢闯敢干，善为敢担"),
    ("000", "以服务民生为线，细密周致，全员奋战"),
    ("001", "贴心服务 打造“温暖之家”"),
    ("001", "强本固基 构筑“红色堡垒”"),
    ("002", "示范重融合,全面推进“党建+”"),
    ("003", "稳经济:“需求+资源”统筹推进街区发展建设"),
    (f"{ID_004}-1", "一个支部就是一个品牌 创造特色社区党建品牌"),
    (f"{ID_004}-1", "目标明确重点明确 抢抓机遇抓好重点工作"),
    (f"{ID_004}-2", "一家人亲情和谐 共享发展成果"),
]


@pytest.mark.parametrize(("prefix", "phrase"), JOINED)
def test_page_breaks_are_rejoined(
    reports: dict[str, Report], sentences: dict[str, list[Sentence]], prefix: str, phrase: str
) -> None:
    doc_id = _doc(reports, prefix)
    hits = [s for s in sentences[doc_id] if phrase in s.text]
    assert len(hits) == 1 and hits[0].kind == "body", phrase
    # The original span still holds the page break that the cleaned text removed.
    assert "\n" in reports[doc_id].text[hits[0].start : hits[0].end]


@pytest.mark.parametrize(("prefix", "heading"), HEADINGS)
def test_headings_are_not_joined(
    reports: dict[str, Report], sentences: dict[str, list[Sentence]], prefix: str, heading: str
) -> None:
    doc_id = _doc(reports, prefix)
    matches = [s for s in sentences[doc_id] if heading in s.text]
    assert [(s.kind, s.text) for s in matches] == [("heading", heading)]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("在新冠肺炎疫情防控过程中，街", "道干部全员上岗，坚守一线。"),
        ("体现了街道将发展实惠交到居", "民手中的不懈努力。"),
        ("以“我为群众办实事”为抓手,策划开展", "“三访三问三服务”活动,领导干部带头走访企业。"),
        ("全面对标提升,并结合党组织星级评定工作,深化“合格支部、过硬支部、示范", "支部”联建。"),
        ("宣传舆情组广泛引导,让“红线”家喻户晓;纪委督导", "组,重点督查,形成高压态势。"),
        ("短标题的", "正文内容。"),  # a function word cannot end a heading
    ],
)
def test_should_join(a: str, b: str) -> None:
    assert should_join(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("以服务民生为线，细密周致，全员奋战", "街道以民生服务为主线，先后打造了品牌。"),
        ("贴心服务 打造“温暖之家”", "“现在‘创新创业’这个词已屡见不鲜。”"),
        ("一个支部就是一个品牌 创造特色社区党建品牌", "“巷网会客议事厅”,这是党建品牌名称。"),
        ("一条心干事创业 筑牢战斗堡垒", "社区一盘棋,党委是核心。"),
        ("这一段已经结束。", "另起一段。"),
        ("“引语结束了。”", "下一段。"),
    ],
)
def test_should_not_join(a: str, b: str) -> None:
    assert not should_join(a, b)


def _wrap(paragraph: str, width: int) -> list[str]:
    """Lines of ``width`` characters, as a typesetter breaks them: a closing mark never starts a
    line (it hangs at the end of the one before)."""
    lines, rest = [], paragraph
    while rest:
        cut = width
        while cut < len(rest) and rest[cut] in "。，、；：？！”’）》」":
            cut += 1
        lines.append(rest[:cut])
        rest = rest[cut:]
    return lines


@pytest.mark.parametrize("width", [22, 28, 36])
def test_hard_wrapped_text_is_rejoined_into_its_paragraphs(width: int) -> None:
    """Text from a PDF or OCR keeps its visual lines, filled to one width (28 characters in a
    公文, more in small print): a full line runs on whatever its length, so no wrapped line is
    taken for a heading and no paragraph is cut, while the short headings stay headings."""
    from indexer.ingest.cleaning.layout import wrap_width

    source = sorted(REPORTS_DIR.glob("*.txt"))[0].read_text(encoding="utf-8")
    paragraphs = [line.strip() for line in source.splitlines() if line.strip()]
    wrapped = "\n".join(line for p in paragraphs for line in _wrap(p, width))
    assert width <= wrap_width([len(line) for line in wrapped.splitlines()]) <= width + 1  # (hanging marks)
    [report] = parse_reports("wrapped", wrapped)
    got = report_sentences(report)
    short = {p for p in paragraphs if len(p) <= width}
    headings = [s.text for s in got if s.kind == "heading"]
    assert headings and set(headings) <= short, set(headings) - short
    body = "".join(s.text for s in got if s.kind == "body").replace(" ", "")  # (a wrap may fall on a space)
    for paragraph in paragraphs:
        if len(paragraph) > 2 * width and paragraph.endswith("。"):
            assert clean_span(paragraph).replace(" ", "") in body, paragraph[:30]
    # the same report unwrapped: the same headings
    [plain] = parse_reports("plain", "\n".join(paragraphs))
    assert headings == [s.text for s in report_sentences(plain) if s.kind == "heading"]


def test_a_text_of_ragged_lines_has_no_wrap_width() -> None:
    from indexer.ingest.cleaning.layout import wrap_width

    assert wrap_width([12, 57, 33, 140, 88, 21, 64, 19, 230]) == 0
    assert wrap_width([28, 28, 27, 12, 28, 26, 9, 28]) == 28
    assert wrap_width([30, 31]) == 0  # too few lines to tell


# --- sentences --------------------------------------------------------------------------------


def test_sentence_offsets_are_exact(
    reports: dict[str, Report], sentences: dict[str, list[Sentence]]
) -> None:
    for doc_id, ss in sentences.items():
        text = reports[doc_id].text
        assert ss, doc_id
        for s in ss:
            span = text[s.start : s.end]
            assert s.text and not s.text.isspace()
            assert clean_span(span) == s.text
            assert _nospace(span) == _nospace(s.text)
            assert not span[0].isspace() and not span[-1].isspace()
        starts = [s.start for s in ss]
        assert starts == sorted(starts)
        assert all(a.end <= b.start for a, b in itertools.pairwise(ss))


def test_boilerplate_is_dropped(sentences: dict[str, list[Sentence]]) -> None:
    text_003 = "".join(s.text for s in sentences["003_417ad2edf06574dc"])
    for junk in (
        "新闻专题",
        "正文",
        "分享到",
        "我要爆料",
        "免责声明",
        "版权所有",
        "青岛冠状病毒肺炎平台",
    ):
        assert junk not in text_003, junk
    assert "2021-01-30" not in text_003  # the date line is metadata
    for ss in sentences.values():
        assert all(s.text not in ("”", "“") for s in ss)


def test_bylines_and_outlets_are_not_sentences(sentences: dict[str, list[Sentence]]) -> None:
    everything = "".join(s.text for ss in sentences.values() for s in ss)
    for meta in ("齐鲁晚报", "夏侯凤超", "通讯员", "□白晓", "刘秀文", "王鹏整理", "王鹏 整理"):
        assert meta not in everything, meta


@pytest.mark.parametrize(
    ("prefix", "caption"),
    [
        ("000", "九水街道党工委荣获“干事创业好班子”荣誉称号。"),
        ("001", "崂云湖街道村(社区)两委负责人到章丘参观学习。"),  # "▶ " marker trimmed
        ("001", "东辛拆迁调度会现场。"),  # "(资料片)" trimmed
        ("001", "街道村两委干部参加学习培训班。"),
        ("002", "党建示范点唐家庄社区的“党建引领 乡村振兴”标语"),  # "- ①" trimmed
        ("002", "王哥庄街道制作的党建工作“特色手册”"),
        (f"{ID_004}-1", "日新月异的堤口路街道。"),
        (f"{ID_004}-2", "泺口服装城全景。"),
    ],
)
def test_captions(
    reports: dict[str, Report], sentences: dict[str, list[Sentence]], prefix: str, caption: str
) -> None:
    matches = [s for s in sentences[_doc(reports, prefix)] if s.text == caption]
    assert [s.kind for s in matches] == ["caption"]


def test_title_sentences(sentences: dict[str, list[Sentence]]) -> None:
    titles = [s.text for s in sentences[f"{ID_004}-1"] if s.kind == "title"]
    assert titles == ["天桥区堤口路街道:", "党建引领创新路 亮点项目惠民生"]
    titles_003 = [s.text for s in sentences["003_417ad2edf06574dc"] if s.kind == "title"]
    assert titles_003 == ["市北区湖岛街道:红色领航 乘势开创基层治理新航线"]


def test_quotes_stay_with_their_sentence() -> None:
    clean = "“人心齐，泰山移。”打造一支队伍至关重要。条件便利……都受到称赞！"
    pieces = [clean[a:b] for a, b in split_sentence_spans(clean)]
    assert pieces == ["“人心齐，泰山移。”", "打造一支队伍至关重要。", "条件便利……", "都受到称赞！"]


def test_sentence_spans_skip_whitespace_and_empty_pieces() -> None:
    clean = "  第一句。 。  第二句没有句号  "
    pieces = [clean[a:b] for a, b in split_sentence_spans(clean)]
    assert pieces == ["第一句。 。", "第二句没有句号"]
    assert split_sentence_spans("   ") == []


def test_report_without_header_takes_its_first_sentence_as_title() -> None:
    text = "湖岛街道近日召开党建工作会议，部署全年任务，会议由街道党工委书记主持并讲话。会后各社区分头落实。\n"
    (r,) = parse_reports("nohead", text)
    assert r.title == "湖岛街道近日召开党建工作会议，部署全年任务，会议由街道党工委书记主持并讲话。"
    assert [s.kind for s in report_sentences(r)] == ["body", "body"]


def test_date_line_with_source_gives_date_and_outlet() -> None:
    text = "某街道召开会议\n\n发布时间：2021年3月5日 来源：青岛日报\n\n街道召开了党建工作会议，部署全年任务。\n"
    (r,) = parse_reports("src", text)
    assert (r.meta["date"], r.meta["outlet"]) == ("2021-03-05", "青岛日报")
    assert "青岛日报" not in "".join(s.text for s in report_sentences(r))


def test_short_line_after_a_single_blank_line_is_not_a_caption() -> None:
    text = "标题\n\n第一段写了很多内容，而且不止一句话。第二句。\n\n这是一句短话。\n\n\n\n图中是街道干部。\n"
    (r,) = parse_reports("cap", text)
    kinds = {s.text: s.kind for s in report_sentences(r)}
    assert kinds["这是一句短话。"] == "body"
    assert kinds["图中是街道干部。"] == "caption"
