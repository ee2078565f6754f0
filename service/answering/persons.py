"""Who holds a role: 「…社长是谁？」 asks for a person, and only a sentence naming one answers it.

jieba's person tags miss many names (藤岛茱莉景子 is two nouns, 宋建成 is 宋 + the verb 建成), so
besides :func:`service.answering.checks._has_person` a sentence names the holder of the asked role
when the name stands where Chinese puts it:

* right after the role, as its apposition or predicate, up to the end of the clause:
  「目前社长是藤岛茱莉景子。」, 「党委书记陆兆纲，…」;
* at the head of a sentence that goes on to describe the role: 「宋建成，…曾任国家图书馆副馆长」.

A run after the role counts only when every word of it is a noun (or a person's name): 「书记为党员讲
党课」 and 「书记作为第一责任人」 hold a verb. These are grammar of the answer, not words of any
question; ``python -m bench.slot_fill --split TRIAL`` checks them on the fitting side.
"""

from __future__ import annotations

import re

from indexer.ingest.cleaning import pos_tags
from indexer.text.zh import nfkc

__all__ = ["PERSON_NOUN", "asked_role", "names_role_holder"]

# a noun naming a person, before 叫什么名字 (``slots``) or 是谁
PERSON_NOUN = r"(?:[人者员长师家手生士官帝王后妃子女父母妻夫兄弟姐妹儿孙]|书记|主任|委员|代表|老板|主人|作者)"
# a role ending the phrase before 是谁 (社长, 党委书记, 作者); what 「…是谁」 asks the holder of
_ROLE_END = PERSON_NOUN[:-1] + "|主席|总裁|经理|总监|领袖|首领|教练|导演|编剧|主编|校长|院长|局长|市长|馆长|社长)"
_ROLE_WHO = re.compile(r"(?P<role>[\u4e00-\u9fff]{0,4}?" + _ROLE_END + r")(?:分别|到底|究竟)?(?:是|为)谁")
_CLAUSE_END = re.compile(r"[，,。；;！!？?）)、]|$")
_NOUN_FLAGS = ("n", "nr", "nrfg", "nrt", "nz", "ns", "eng")
_LEAD_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}[，,（(]")
_BETWEEN = ("是", "为", ":", "：")


def asked_role(question: str) -> str:
    """The role 「…是谁」 asks the holder of (「J Storm公司目前的社长是谁」 → 社长), "" if none."""
    q = nfkc(question)
    m = _ROLE_WHO.search(q)
    if m is None:
        return ""
    words = [w for w, _ in pos_tags(m.group("role"))]
    return words[-1] if words and len(words[-1]) >= 2 else m.group("role")[-2:]


def names_role_holder(text: str, role: str) -> bool:
    """Whether ``text`` names who holds ``role``, where jieba's person tags may miss the name."""
    t = nfkc(text)
    if not role or role not in t:
        return False
    if _LEAD_NAME.match(t) and pos_tags(t[:1])[0][1].startswith("nr"):
        return True  # 「宋建成，…副馆长」: a surname opens a sentence about the role
    for m in re.finditer(re.escape(role), t):
        rest = t[m.end():]
        for word in _BETWEEN:
            if rest.startswith(word):
                rest = rest[len(word):]
                break
        end = _CLAUSE_END.search(rest)
        run = rest[: end.start() if end else len(rest)]
        if 2 <= len(run) <= 6 and all(flag.startswith(_NOUN_FLAGS) for _, flag in pos_tags(run)):
            return True
    return False
