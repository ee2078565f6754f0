"""The cleaner's lexicon: sentence and clause characters, size thresholds, line patterns, a
private jieba tokenizer, and the small span helpers other modules use."""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from indexer.text.zh import CJK, GENERIC_AREAS, PLACE_SUFFIXES, place_name_re, place_suffixes

if TYPE_CHECKING:
    import jieba
    import jieba.posseg


# --- characters -------------------------------------------------------------------------------

FINAL_PUNCT = "。！？!?；;…"
CLOSERS = "”’」』）)》】〕\"'"
OPENERS = "“‘「『（(《【〔"
# A line ending with one of these is a clause cut off mid-sentence.
_CLAUSE_END = "，,、：:—-" + OPENERS
# A line starting with one of these continues the previous line.
_CONTINUATION_START = "，,、。；;：:！？!?…" + "”’」』）)》】〕"

# --- thresholds (characters) ------------------------------------------------------------------

# Headings and titles are short; a longer unpunctuated line is a paragraph cut by a page break.
HEADING_MAX = 40
# A candidate report needs this much body text after its title line to count as a report.
MIN_REPORT_BODY = 200
# Captions are short single sentences.
CAPTION_MAX = 40
# Lines of metadata (date, byline, outlet) are short.
META_MAX = 50
# At most this many header lines are title material; the rest of a long header are headings.
_MAX_HEADER_LINES = 6

# --- patterns ---------------------------------------------------------------------------------

_SEPARATOR_RE = re.compile(r"^[ \t]*(?:-{3,}|={3,}|\*{3,}|_{3,})[ \t]*$")
_PUNCT_ONLY_RE = re.compile(r"^[\W_]+$")
_BREADCRUMB_RE = re.compile(r"\S\s*[>›»]\s*\S")
_BOILERPLATE_START = ("分享到", "分享至", "扫一扫", "打印本页", "关闭窗口", "返回顶部", "上一篇",
                      "下一篇", "责任编辑", "【字体", "字号", "点击进入")  # fmt: skip
_BOILERPLATE_ANY = ("版权所有", "免责声明", "我要爆料", "©", "Copyright", "copyright",
                    "All Rights Reserved", "未经授权", "转载请注明")  # fmt: skip
_END_MARK_RE = re.compile(r"^[（(\[【]?完[）)\]】]?$")
_NAV_SUFFIX_RE = re.compile(r"(?:平台|频道|专题|首页|专栏|客户端|导航)$")

_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_TIME_RE = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")
_DATE_LABEL_RE = re.compile(r"(?:发布|更新|时间|日期|来源|作者|编辑|星期.|周[一二三四五六日天])")
_SOURCE_RE = re.compile(r"来源\s*[:：]\s*(\S+)")

# Outlets: "A·B" names (齐鲁晚报·齐鲁壹点) anywhere in the header; a plain name ending like a
# newspaper or site (青岛日报) only next to a byline or date line.
_OUTLET_DOT_RE = re.compile(rf"^[{CJK}A-Za-z]{{2,14}}(?:\s*[·•・]\s*[{CJK}A-Za-z]{{2,14}})+$")
_OUTLET_PLAIN_RE = re.compile(
    rf"^[{CJK}A-Za-z]{{2,14}}(?:日报|晚报|早报|报|网|电视台|客户端|新闻)$"
)

# Byline role words, longest first so that 见习记者 wins over 记者.
_ROLES = tuple(
    sorted(
        """本报记者 特约记者 见习记者 实习记者 全媒体记者 记者 通讯员 实习生 作者 撰稿 撰文 摄影 摄
        供图 整理 报道 编辑 文 图""".split(),
        key=len,
        reverse=True,
    )
)
_BYLINE_MARKERS = "□■◎●▲△◇◆"
_NAME_RE = re.compile(rf"^[{CJK}]{{2,4}}$")

_CAPTION_MARKER_RE = re.compile(r"^(?:[▶►▷→]|[-–•·]\s*[①-⑳]|[①-⑳])")
_CAPTION_NOTE_RE = re.compile(r"[（(]资料(?:片|图|照片)[）)]")
_CAPTION_TRIM_START_RE = re.compile(r"^(?:[▶►▷→\-–•·]\s*)*[①-⑳]?\s*")
_CAPTION_TRIM_END_RE = re.compile(r"\s*[（(]资料(?:片|图|照片)[）)]\s*$")

# A title candidate "<place>:<headline>" or "<place>:" (headline on the next line), the place
# ending in 区 or a level below it.
_PLACE_HEAD = place_name_re(place_suffixes("区"), 1, 16, lazy=True, chars=CJK).pattern
_PLACE_HEAD_RE = re.compile(rf"^(?P<place>{_PLACE_HEAD})\s*[:：]\s*(?P<head>.*)$")

# Place names the cleaner collects (区/街道/社区/镇 of ``zh.PLACE_SUFFIXES``): each suffix with its
# longest name part, and the characters after which it starts another word (区域, 区别, 镇压 …).
_PLACE_MAX_BODY = {"街道": 5, "社区": 6, "区": 3, "镇": 4}
_NOT_SUFFIX_BEFORE = {"区": "域别间分块位", "镇": "压定静"}
_PLACE_SUFFIX_RE = re.compile(
    "|".join(f"{s}(?![{_NOT_SUFFIX_BEFORE[s]}])" if s in _NOT_SUFFIX_BEFORE else s for s in _PLACE_MAX_BODY)
)
# The levels above a district (县, 市, 省): they anchor a title chain (青岛市|崂山区|…).
_HIGHER_LEVELS = PLACE_SUFFIXES[PLACE_SUFFIXES.index("县") :]
_LEVEL_RE = re.compile(_PLACE_SUFFIX_RE.pattern + f"|[{''.join(_HIGHER_LEVELS)}]")
# A token ending like these ends the run of a body name (李沧区|九水|街道): a higher level or a place.
_HIGHER_PLACE_END = (*_HIGHER_LEVELS, "区", "街道", "镇", "州")
# What follows a district name in running text: 李沧区委, 区政府, 区党群服务中心, 区人民法院.
_ORG_WORDS = ("委", "政府", "党", "人民", "人大", "政协")
# Category words that combine with 社区/街道 without naming one (城市社区, 老旧社区 …).
_GENERIC_PLACE_BODIES = frozenset(
    """城市 农村 老旧 和谐 文明 示范 先进 新型 智慧 美丽 幸福 平安 各个 所有 全部 周边 所在 相关
    基层 城镇 乡村 试点 重点 整个 全市 全区 全国 全省 本地 当地 开放式 纯城市 村改居 老城 新城
    主城""".split()
)
# jieba tags of words that cannot start a place name (adjectives, adverbs, conjunctions, numbers,
# prepositions, pronouns, time words, particles, verbs), that may be part of one, and of proper
# names.
_NON_NAME_PREFIXES = ("a", "c", "d", "e", "f", "m", "o", "p", "q", "r", "t", "u", "y")
_NON_NAME_VERBS = frozenset("v vd vg vi vq".split())
_NAME_FLAGS = frozenset("n ns nr nrt nz ng g s j vn".split())
_PROPER_FLAGS = frozenset("ns nr nrt nz g s".split())
# Words ending in 区 that name a kind of area, not a district (周边地区, 老城区, 景区 …).
_GENERIC_AREA_ENDINGS = (*GENERIC_AREAS, "地区", "矿区", "厂区", "管区")

# Line-join lexicons (rule 4 of the module docstring).
_DANGLING_WORDS = frozenset(
    "的 地 得 和 与 及 以及 并 并且 对 在 把 将 被 为 从 向 于 等 由 让 使 之 其 或".split()
)
_OBJECT_VERBS = frozenset(
    """开展 进行 实施 举办 组织 打造 建立 成立 推出 开启 启动 策划 发起 召开 制定 出台 印发 设立
    组建 推动 加强 强化 提升 落实 深化 推行 创建 评选 签订 开设 举行 参加 参与 围绕 通过 针对
    依托 结合 按照 借助 包括 涉及 形成 完善""".split()
)

LineKind = Literal["boilerplate", "date", "byline", "outlet", "title", "caption", "heading", "body"]

# --- jieba (a private tokenizer so other modules' user words cannot change cleaning) -----------

_JIEBA_LOCK = threading.Lock()
_JIEBA: list[Any] = []


def _pos_tokenizer() -> jieba.posseg.POSTokenizer:
    """The cleaner's own jieba POS tokenizer, created on first use (loading takes ~1 s)."""
    if not _JIEBA:
        with _JIEBA_LOCK:
            if not _JIEBA:
                import jieba.posseg

                from indexer.text.tokenize import jieba_with_words

                _JIEBA.append(jieba.posseg.POSTokenizer(jieba_with_words()))
    return _JIEBA[0]


@lru_cache(maxsize=4096)
def _pos_cut(text: str) -> tuple[tuple[str, str], ...]:
    """(word, flag) pairs of ``text`` (dictionary + HMM)."""
    return tuple((p.word, p.flag) for p in _pos_tokenizer().cut(text))


def pos_tags(text: str) -> tuple[tuple[str, str], ...]:
    """(word, part-of-speech flag) pairs of ``text`` from the cleaner's jieba (nr: person,
    ns: place, nt: organisation, …)."""
    return _pos_cut(text)


@lru_cache(maxsize=4096)
def _dict_tokens(text: str) -> tuple[tuple[str, int, int], ...]:
    """Dictionary-only tokens of ``text`` with their spans (no HMM: unknown characters stay
    single, so a "word" across a line break is a real dictionary word)."""
    tok = _pos_tokenizer().tokenizer
    return tuple(tok.tokenize(text, HMM=False))


# --- public helpers ---------------------------------------------------------------------------


def clean_span(span: str) -> str:
    """The cleaned reading of an original span: line breaks and line-edge whitespace removed."""
    return "".join(part.strip() for part in span.split("\n"))


def cleaned_offsets(text: str, start: int, end: int) -> list[int]:
    """Offsets in ``text`` of the characters :func:`clean_span` keeps from ``text[start:end]``."""
    out: list[int] = []
    pos = start
    for part in text[start:end].split("\n"):
        left = len(part) - len(part.lstrip())
        right = len(part.rstrip())
        if right > left:
            out.extend(range(pos + left, pos + right))
        pos += len(part) + 1
    return out


def ends_sentence(line: str) -> bool:
    """Whether ``line`` ends with sentence-final punctuation (closing quotes may follow)."""
    stripped = line.rstrip().rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in FINAL_PUNCT


