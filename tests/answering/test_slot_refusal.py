"""Issue 31, item 1: a question about the bundled reports whose topic they cover but whose asked
fact they do not give is refused, the refusal says what was not found, and the closest passages
are still listed. Through the real engine over data/reports (as ``/v1/ask``, top_k 5)."""

from __future__ import annotations

from typing import Any

import pytest

from service.answering.engine import engine_for
from service.answering.types import NOT_FOUND

ASK_TOP_K = 5  # zhiwen.settings.Settings.ask_top_k's default


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        # the reports tell of 堤口路街道's party work but give no count of its members
        ("堤口路街道有多少名党员？", "堤口路街道党员的人数"),
        # 王哥庄街道's tourism is in the reports, a count of its five-star hotels is not
        ("王哥庄街道有多少家五星级酒店？", "王哥庄街道五星级酒店的数量"),
        # an area is asked (面积有多大); the reports give none for the room
        ("九水街道的党员活动室面积有多大？", "九水街道党员活动室面积"),
        # 12所高校 is a count of 高校, not of 中学
        ("崮云湖街道有几所中学？", "崮云湖街道中学的数量"),
        # a bare 多少: 「三项清单」 and 「97周年」 count other things
        ("王哥庄街道的人口有多少？", "王哥庄街道人口"),
        # 什么时候: no sentence about the centre holds a time expression
        ("九水街道的党群服务中心什么时候建成的？", "九水街道党群服务中心建成的时间"),
        # 「15名党员」 is no count of 公务员 (员 is only a person suffix), 「分为六类」 none of persons
        ("崮云湖街道有多少名在编公务员？", "崮云湖街道在编公务员的人数"),
        # 网格员: 网格 + the suffix 员; 「网格化…、网格化…」 is no list of them, 「21个社区网格」 no persons
        ("湖岛街道有多少名网格员？", "湖岛街道网格员的人数"),
        # a role's holder is asked (是谁): the sentences about the community name nobody
        ("胜利庄社区党委书记是谁？", "胜利庄社区党委书记的姓名"),
    ],
)
def test_an_on_topic_question_without_its_fact_is_refused(
    question: str, phrase: str, searcher: Any, embedder: Any
) -> None:
    answer = engine_for(embedder, searcher).ask(question, ASK_TOP_K)
    assert not answer.answerable, answer.text
    assert answer.text == f"{NOT_FOUND}{phrase}。以下是最接近的段落，供参考。"
    assert answer.citations == ()
    assert answer.passages, "the closest passages are still listed"
    assert answer.confidence == 0.0


def test_a_question_whose_slot_is_filled_is_still_answered(searcher: Any, embedder: Any) -> None:
    # README's example: the reports give 172处
    answer = engine_for(embedder, searcher).ask("九水街道共有多少处安全隐患被整改？", ASK_TOP_K)
    assert answer.answerable
    assert "172" in answer.text
