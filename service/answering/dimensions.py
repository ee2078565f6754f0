"""A dimension a quantity question names without naming a unit (「活动室面积有多大」, 「重量是多少」,
「占地多大面积」): its unit class, so only a number in a unit of it answers (平方米 for 面积).

Only nouns of a measured dimension count, right beside the interrogative: 面积 is always an area,
while 多高 alone is not always a height (「级别有多高」) and 多久 is answered by dates as often as by
durations (「直到19世纪」), so those stay vague. On CMRC 2018 TRIAL every answer sentence of a
question naming one of these nouns states a number in a unit of its class
(``python -m bench.slot_fill``). Chinese question grammar, written once; no evaluated question's
words.
"""

from __future__ import annotations

import re

# dimension noun → unit class (the classes of ``service.answering.units.UNIT_CLASSES``)
DIMENSION_CLASSES: dict[str, str] = {
    "面积": "area", "占地面积": "area", "建筑面积": "area",
    "重量": "weight", "体重": "weight",
    "长度": "length", "高度": "length", "海拔": "length", "身高": "length", "距离": "length",
    "全长": "length", "周长": "length", "深度": "length", "宽度": "length", "直径": "length",
}
_NOUNS = "|".join(sorted(map(re.escape, DIMENSION_CLASSES), key=len, reverse=True))
_ASKS = r"多大|多少|多重|多高|多长|多远|多深|多宽|几何"
_LINKS = r"(?:大约|一共|总共|共|约|是|为|有|达|约为|大概)*"
# 「面积有多大」「面积是多少」, or 「多大的面积」「多少面积」
_DIMENSION_ASKED = re.compile(rf"(?P<a>{_NOUNS}){_LINKS}(?:{_ASKS})|(?:{_ASKS})的?(?P<b>{_NOUNS})")


def asked_dimension(question: str) -> tuple[str, str] | None:
    """(dimension noun, unit class) the NFKC ``question`` asks the amount of, or None."""
    m = _DIMENSION_ASKED.search(question)
    if m is None:
        return None
    noun = m.group("a") or m.group("b")
    return noun, DIMENSION_CLASSES[noun]
