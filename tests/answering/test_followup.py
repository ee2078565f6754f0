"""Follow-up resolution (``service.answering.followup``): an elliptical chat turn becomes a
self-contained retrieval question. Pure functions, no model or index."""

from __future__ import annotations

import pytest

from service.answering.followup import (
    CONTEXT_TURNS,
    find_places,
    resolve_question,
    rewrite_followup,
)

Q_SAFETY = "九水街道共有多少处安全隐患被整改？"
Q_FISHERY = "王哥庄街道2018年渔业总产值是多少？"
Q_FOLLOW = "那党建示范点是哪个社区？"
KNOWN = ["九水街道", "王哥庄街道", "湖岛街道", "胜利庄社区", "香磨李社区", "李沧区"]

@pytest.mark.parametrize(
    ("previous", "latest", "expected"),
    [
        # ellipsis with a new place: substitute it (a bare name borrows the old suffix)
        (Q_SAFETY, "那王哥庄呢？", "王哥庄街道共有多少处安全隐患被整改？"),
        (Q_SAFETY, "湖岛街道呢", "湖岛街道共有多少处安全隐患被整改？"),
        ("胜利庄社区的党建品牌叫什么？", "那香磨李社区呢？", "香磨李社区的党建品牌叫什么？"),
        (
            "湖岛街道为辖区企业解决了多少资金需求？",
            "那堤口路街道的呢？",
            "堤口路街道为辖区企业解决了多少资金需求？",
        ),
        # a follow-up without its own place: the previous place is put in
        (Q_FISHERY, Q_FOLLOW, "王哥庄街道党建示范点是哪个社区？"),
        (Q_SAFETY, "该街道的党工委书记叫什么名字？", "九水街道的党工委书记叫什么名字？"),
        (Q_SAFETY, "那党工委书记呢？", "九水街道的党工委书记"),
        # a bare cue: previous question + message
        (Q_SAFETY, "还有呢？", Q_SAFETY + " 还有呢？"),
        # self-contained questions are left alone
        (Q_SAFETY, "社区怎样帮助老年人解决吃饭问题？", "社区怎样帮助老年人解决吃饭问题？"),
        (
            Q_SAFETY,
            "哪个街道的大馒头成为上合峰会专供产品？",
            "哪个街道的大馒头成为上合峰会专供产品？",
        ),
        (Q_SAFETY, "湖岛街道居民通过哪个平台反映诉求？", "湖岛街道居民通过哪个平台反映诉求？"),
    ],
)
def test_rewrite_followup(previous: str, latest: str, expected: str) -> None:
    assert rewrite_followup(previous, latest, KNOWN) == expected


def test_resolve_question_chains_follow_ups() -> None:
    turns = [Q_SAFETY, "那王哥庄呢？", Q_FOLLOW]
    assert resolve_question(turns, KNOWN) == "王哥庄街道党建示范点是哪个社区？"
    assert resolve_question([Q_SAFETY], KNOWN) == Q_SAFETY


def test_find_places() -> None:
    assert find_places("崮云湖街道辖区内有多少所高校") == ["崮云湖街道"]
    assert find_places("那党建示范点是哪个社区") == []
    assert find_places("在李沧区委区政府的领导下，九水街道") == ["李沧区", "九水街道"]


def test_resolution_reads_a_bounded_number_of_recent_turns() -> None:
    # a long history costs no more than its last CONTEXT_TURNS turns, and the merged query
    # stays bounded by them
    history = ["九水街道共有多少处安全隐患被整改？"] + ["还有呢？"] * 5000
    resolved = resolve_question(history)
    assert len(resolved) <= CONTEXT_TURNS * len("还有呢？") + CONTEXT_TURNS
    # a chain within the window still resolves
    assert resolve_question(["无关的问题？"] * 50 + [Q_SAFETY, "那王哥庄呢？"], KNOWN) == (
        "王哥庄街道共有多少处安全隐患被整改？"
    )
