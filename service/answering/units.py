"""Units a Chinese amount is stated in, by class: the measure words (or unit nouns) a question may
name and the units a sentence may answer with (名/人/位/人次 for a count of people; 元/万元/亿元 for
money; 平方米/亩 for an area …). Used by :mod:`service.answering.slots` and
:mod:`service.answering.amounts`."""

from __future__ import annotations

# Unit classes: the measure words (or unit nouns) a question may name, and the units a sentence
# may answer with. A class's first unit names it.
MONEY = ("元", "万元", "亿元", "块", "钱", "美元", "欧元", "日元", "英镑", "港元", "港币", "美金",
       "韩元", "卢布", "法郎", "马克")
PERSONS = ("名", "人", "位", "人次")
AREA = ("平方米", "平方公里", "平方千米", "平方英里", "平米", "亩", "英亩", "公顷", "km2", "m2")
LENGTH = ("公里", "千米", "米", "厘米", "毫米", "英里", "英尺", "英寸", "海里", "里", "km", "cm", "mm",
          "KM", "CM", "m")
WEIGHT = ("吨", "公斤", "千克", "斤", "克", "磅", "kg", "t")
DIMENSION_UNITS = {"area": AREA, "length": LENGTH, "weight": WEIGHT}
GENERIC = ("个", "家", "处", "件", "项", "次", "场", "轮", "期", "批", "所", "条", "座", "支", "种",
           "类", "台", "辆", "间", "栋", "层", "届", "张", "本", "部", "篇", "首", "只", "头", "棵",
           "株", "户", "名", "人", "位", "人次", "套", "艘", "架", "枚", "块", "道", "门", "款")

# measure word → (class, compatible units); a unit noun class is named by its first unit
UNIT_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    **{u: ("money", MONEY) for u in MONEY if u != "块"},
    **{u: ("person", PERSONS) for u in PERSONS},
    **{u: ("area", AREA) for u in AREA},
    **{u: ("length", LENGTH) for u in LENGTH},
    **{u: ("weight", WEIGHT) for u in WEIGHT},
    "块钱": ("money", MONEY),
    "户": ("户", ("户", "家")),
    "家": ("家", ("家", "个", "户", "所")),
    "所": ("所", ("所", "个", "家")),
    "处": ("处", ("处", "个")),
    "件": ("件", ("件", "个", "项")),
    "项": ("项", ("项", "个", "件")),
    "个": ("个", GENERIC),
    "次": ("次", ("次", "场", "轮", "回", "期", "届")),
    "场": ("场", ("场", "次")),
    "轮": ("轮", ("轮", "次")),
    "期": ("期", ("期", "次", "届")),
    "届": ("届", ("届", "次")),
    "批": ("批", ("批", "次")),
    "条": ("条", ("条", "个")),
    "座": ("座", ("座", "个", "处")),
    "支": ("支", ("支", "个")),
    "种": ("种", ("种", "类", "个")),
    "类": ("类", ("类", "种", "个")),
    "台": ("台", ("台", "部", "个")),
    "辆": ("辆", ("辆", "台")),
    "间": ("间", ("间", "个")),
    "栋": ("栋", ("栋", "座", "幢")),
    "层": ("层", ("层",)),
    "套": ("套", ("套", "个")),
    "岁": ("age", ("岁", "周岁")),
    "倍": ("倍", ("倍",)),
    "天": ("duration", ("天",)),
    "小时": ("duration", ("小时", "个小时", "分钟")),
    "分钟": ("duration", ("分钟", "小时")),
    "年": ("duration", ("年",)),
    "个月": ("duration", ("个月",)),
    "周": ("duration", ("周", "星期", "个星期")),
    "周年": ("周年", ("周年",)),  # an anniversary (97周年大会), not weeks
}
