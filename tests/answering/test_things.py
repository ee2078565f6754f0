"""The thing a list question asks each report about (service.answering.things), on questions and
term statistics of its own."""

from __future__ import annotations

from service.answering.things import Thing, list_thing, make_thing, places_of_level, quoted_names

DF = {"推行": 7, "垃圾": 2, "分类": 1, "承担": 0, "拆迁": 9, "工作": 52, "实行": 2, "河长制": 0,
      "设立": 1, "社区": 53, "法律": 3, "顾问": 2, "法律顾问": 0, "排查": 4, "安全": 9, "隐患": 3,
      "安全隐患": 1, "制度": 12, "三会一课": 3, "落实": 13}


def df(term: str) -> int:
    return DF.get(term, 0)


def thing(question: str, terms: list[str], phrases: list[str], verbs: frozenset[str] = frozenset()) -> Thing:
    weights = [10.0 - DF[t] / 10 for t in terms]  # rarer, heavier (as IDF)
    return list_thing(question, terms, weights, phrases, verbs, df)


def test_a_quoted_name_is_the_thing_whole() -> None:
    assert quoted_names("“三会一课”制度落实了？") == ["三会一课"]
    got = thing("“三会一课”制度落实了？", ["三会一课", "制度", "落实"], ["课", "制度"])
    assert got.terms == ("三会一课",)
    assert got.held_by("“三会一课”、“主题党日”等活动的常态化")
    assert not got.held_by("完善了党建工作制度")


def test_the_rarest_noun_and_its_about_as_rare_companions() -> None:
    got = thing("推行了垃圾分类？", ["推行", "垃圾", "分类"], ["垃圾分类"], frozenset({"推行"}))
    assert set(got.terms) == {"分类", "垃圾"}
    assert not got.held_by("分类制定标准,全面对标提升")  # 分类 alone is another thing
    assert got.held_by("推行垃圾分类")
    # a common word of the phrase (工作) need not be there; the verb never is the thing
    got = thing("承担了拆迁工作？", ["承担", "拆迁", "工作"], ["拆迁工作"], frozenset({"承担"}))
    assert got.terms == ("拆迁",)
    assert got.held_by("保证拆迁项目顺利开工")


def test_a_compound_is_held_by_all_of_its_parts() -> None:
    got = thing("排查整改了安全隐患？", ["排查", "安全", "隐患", "安全隐患"], ["排查", "安全隐患"])
    assert got.terms == ("安全隐患",) and got.parts == (("安全", "隐患"),)
    assert got.held_by("督促企业整改消防安全、用电安全等隐患")
    assert not got.held_by("开展安全检查")
    assert make_thing(["主题党日"], ["主题", "主题党日"]).parts == ((),)  # 主题 does not spell it


def test_a_noun_no_report_uses_is_a_thing_nothing_states() -> None:
    got = thing("实行河长制？", ["实行", "河长制"], ["实行河长"], frozenset({"实行"}))
    assert got.terms == ("河长制",)
    assert not got.held_by("实行党支部、党员“挂牌上岗”")
    # indexed only by its parts (法律 + 顾问): used, and the rarest of the phrase
    got = thing("设立了社区法律顾问？", ["设立", "社区", "法律", "顾问", "法律顾问"], ["社区法律顾问"], frozenset({"设立"}))
    assert got.terms == ("法律顾问",)
    assert got.held_by("深入推进“一社区一法律顾问”制度")


def test_which_places_of_a_level() -> None:
    places = ["九水街道", "李沧区", "延川路社区", "市北区", "辖区"]
    assert places_of_level(places, "区") == ("市北区", "李沧区")  # 社区 is its own level; 辖区 none
    got = list_thing("属于哪个区？", ["属于", "区"], [1.0, 1.0], ["区"], frozenset(), df,
                     place_kind="区", known_places=places)
    assert got.held_by("在李沧区委区政府的正确领导下")
    assert not got.held_by("结合全区和街道总体发展要求")
    assert not Thing()


def test_an_attribute_needs_its_noun() -> None:
    from service.answering.checks import noun_phrases

    assert noun_phrases("成立了临时党支部？") == ["临时党支部"]  # 临时 (an attribute) leads the phrase
    assert noun_phrases("提供养老服务？") == ["提供养老服务"]  # 养老, misread as a person, is a noun
    terms, dfs = ["成立", "临时", "党支部"], {"成立": 10, "临时": 2, "党支部": 16}
    got = list_thing("成立了临时党支部？", terms, [10.0 - dfs[t] / 10 for t in terms], ["临时党支部"],
                     frozenset({"成立"}), lambda t: dfs.get(t, 0), attributes=frozenset({"临时"}))
    assert set(got.terms) == {"临时", "党支部"}
    assert got.held_by("成立了东辛村拆迁临时党支部")
    assert not got.held_by("全面落实临时救助")
