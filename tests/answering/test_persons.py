"""Who holds a role (``service.answering.persons``): the role a 「…是谁」 question asks about, and
sentences that name its holder where jieba's person tags miss the name."""

from __future__ import annotations

import pytest

from service.answering.persons import asked_role, names_role_holder


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("某公司目前的社长是谁？", "社长"),
        ("图书馆首位副馆长是谁？", "副馆长"),
        ("星海街道的党委书记是谁？", "党委书记"),
        ("各街道的书记分别是谁？", "书记"),
        ("谁提出了这个倡议？", ""),  # 谁 asks no role's holder
        ("车站的经营方是谁？", ""),  # 方: a body, not a person noun
        ("这个品牌的目标消费人群是谁？", ""),
    ],
)
def test_asked_role(question: str, role: str) -> None:
    assert asked_role(question) == role


@pytest.mark.parametrize(
    ("sentence", "role", "named"),
    [
        ("目前社长是藤岛茱莉景子。", "社长", True),  # jieba: two nouns, no person tag
        ("宋建成，图书馆行政工作者，曾任国家图书馆副馆长。", "副馆长", True),  # a surname opens it
        ("社区党委书记作为第一责任人，全面负责。", "书记", False),  # a verb follows the role
        ("书记为党员讲党课，", "书记", False),
        ("书记，社区主任和委员都到场了。", "书记", False),  # a list, not an apposition
        ("目前社长是藤岛茱莉景子。", "馆长", False),  # the role is not in the sentence
    ],
)
def test_names_role_holder(sentence: str, role: str, named: bool) -> None:
    assert names_role_holder(sentence, role) is named
