"""Turn a report file's text into reports, titles, metadata and cleaned sentences.

Everything here is pure: the same text always gives the same reports and sentences, and
``Report.text`` is never modified. Cleaning decides which spans count and how they read.

Lines. The files hold one paragraph per line, separated by blank lines; a page break or a photo
cuts paragraphs, leaving blank lines mid-sentence. Each non-blank line is classified:

* boilerplate (dropped everywhere): share buttons (分享到), copyright and disclaimers (©, 版权所有,
  免责声明, 我要爆料), breadcrumbs (``新闻专题 > 正文``), lines of punctuation only (a stray ``”``),
  and nav banners before the title: short header lines next to boilerplate, ending in
  平台/频道/专题/首页, or standing before a ``<place>:<headline>`` title line;
* meta (dropped from sentences, kept in ``Report.meta``): date lines (``2021-01-30 14:38``,
  ``2021年1月30日``), bylines (``记者 夏侯凤超 通讯员 史大鑫``, ``□白晓 潘宁 招婷婷``, a closing
  ``(刘秀文 王晓燕)``, ``半岛全媒体记者 王鹏 整理``) and outlet lines (``齐鲁晚报·齐鲁壹点``) next
  to a byline or in the header;
* title: the header lines before the first body paragraph (a line longer than 40 characters or
  ending a sentence). The first is the title, the second the subtitle; a ``<place>:`` line is
  joined with the headline line after it;
* caption: lines starting with ▶ or a list marker and a circled number (``- ①``), lines with
  (资料片), and short one-sentence lines after an image gap (at least two blank lines, and more than
  the report's usual gap between paragraphs);
* body and heading: the rest. Consecutive body lines are rejoined into one paragraph when line A
  does not end a sentence (。！？；… possibly followed by closing quotes) and

  1. A ends with a clause mark (，、： or an opening bracket), leaves a quotation or bracket
     open, or B starts with punctuation that cannot open a paragraph; or
  2. A is longer than 40 characters (a cut-off paragraph, headings are shorter) and B is not
     itself a short unpunctuated line; or
  3. a jieba dictionary word spans the break (``街|道`` → 街道, ``居|民``, ``国|际``); or
  4. A ends in a word that cannot end a heading: a function word (的, 和, 对, 在 …), or a verb
     that needs an object (开展, 实施 …) when B opens with a quotation mark (开展“…”活动).

  A short line (≤ 40 characters) without sentence-final punctuation that is not joined to the
  next line is a heading; headings are never joined to the following paragraph.

Reports. A file is split into several reports at explicit separators (a line of ``---``,
``===``, ``***`` or ``___``, or a form feed) or, failing those, before each ``<place>:<headline>``
title candidate (place ending in 区/街道/社区/镇/乡/村; the headline may be the next line) when
there are at least two, each followed by at least 200 characters of body text, and either the
first stands in the file's header or every candidate is followed by its own byline or outlet.

Metadata. ``places``: 区/街道/社区/镇 names, ordered by first occurrence. Title lines are read
as chains from the clause start or a higher level (青岛市|崂山区|王哥庄街道); body text only
yields names jieba backs: a place word (李沧区) or a run of noun-like tokens holding a proper
name right before the suffix, stopped by verbs and function words (so 调动广大社区 yields
nothing). ``date``: the first date line. ``authors``: names from bylines. ``outlet``: the outlet
line, or the 来源 of a date line.

Sentences. Paragraphs are split after 。！？；… (with their closing quotes and brackets). Each
:class:`Sentence` has offsets into ``Report.text`` such that ``clean_span(text[start:end])`` is its
``text``: the original span with line breaks and the whitespace at line edges removed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from indexer.types import Report, Sentence, SentenceKind
from indexer.zh import CJK, CJK_RE

if TYPE_CHECKING:
    import jieba
    import jieba.posseg

log = logging.getLogger(__name__)

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

# A title candidate "<place>:<headline>" or "<place>:" (headline on the next line).
_PLACE_HEAD_RE = re.compile(
    rf"^(?P<place>[{CJK}]{{1,16}}?(?:区|街道|社区|镇|乡|村))\s*[:：]\s*(?P<head>.*)$"
)

# Place names: suffixes, their longest name part, and the words that confirm a name.
_PLACE_SUFFIX_RE = re.compile(r"街道|社区|区(?!域|别|间|分|块|位)|镇(?!压|定|静)")
_LEVEL_RE = re.compile(_PLACE_SUFFIX_RE.pattern + "|[市省县]")
_PLACE_MAX_BODY = {"街道": 5, "社区": 6, "区": 3, "镇": 4}
_HIGHER_PLACE_END = ("市", "省", "县", "区", "街道", "镇", "州")
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
_GENERIC_AREA_ENDINGS = ("地区", "城区", "市区", "景区", "园区", "小区", "片区", "辖区", "矿区",
                         "山区", "郊区", "校区", "厂区", "街区", "管区", "功能区", "示范区")  # fmt: skip

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
                import jieba
                import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                _JIEBA.append(jieba.posseg.POSTokenizer(tok))
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


# --- lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """A non-blank line: offsets of its stripped content, the content, and how many blank lines
    precede it."""

    start: int
    end: int
    text: str
    gap: int


def _lines(text: str) -> list[_Line]:
    """Non-blank lines of ``text`` (split on ``\\n`` only; a form feed is whitespace)."""
    out: list[_Line] = []
    pos = 0
    blanks = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            left = len(raw) - len(raw.lstrip())
            out.append(_Line(pos + left, pos + left + len(stripped), stripped, blanks))
            blanks = 0
        else:
            blanks += 1
        pos += len(raw) + 1
    return out


def _is_boilerplate(line: str) -> bool:
    """Page furniture that is never report content."""
    if _PUNCT_ONLY_RE.match(line) or _END_MARK_RE.match(line):
        return True
    if line.startswith(_BOILERPLATE_START):
        return True
    if len(line) <= 100 and any(k in line for k in _BOILERPLATE_ANY):
        return True
    # Breadcrumbs: short unpunctuated "A > B" trails.
    return (
        len(line) <= HEADING_MAX
        and not any(ch in line for ch in "。！？，")
        and bool(_BREADCRUMB_RE.search(line))
    )


def parse_date(line: str) -> str | None:
    """ISO date of the first ``YYYY-MM-DD`` / ``YYYY年M月D日`` in ``line``, if valid."""
    for m in _DATE_RE.finditer(line):
        year, month, day = (int(g) for g in m.groups())
        if 1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None


def _is_date_line(line: str) -> bool:
    """A short line that is a publication date/time (labels like 发布时间 or 来源 allowed)."""
    if len(line) > META_MAX or parse_date(line) is None:
        return False
    rest = _SOURCE_RE.sub("", line)
    rest = _TIME_RE.sub("", _DATE_RE.sub("", rest))
    rest = _DATE_LABEL_RE.sub("", rest)
    return len(CJK_RE.findall(rest)) <= 6 and not any(ch in rest for ch in "。！？，")


def _byline_names(line: str, allow_bare: bool) -> list[str] | None:
    """Author names when ``line`` is a byline, else None.

    A byline is short and made only of role words (记者, 通讯员, 整理 …, also with an outlet
    prefix like 半岛全媒体记者) and 2–4 character names. Names alone count when marked (□白晓 …)
    or, with ``allow_bare``, when bracketed ((刘秀文 王晓燕) closing a report).
    """
    if len(line) > META_MAX or any(ch in line for ch in "。！？，；"):
        return None
    body = line.strip()
    marked = body[0] in _BYLINE_MARKERS
    body = body.lstrip(_BYLINE_MARKERS).strip()
    bracketed = len(body) > 2 and body[0] in "(（【[" and body[-1] in ")）】]"
    if bracketed:
        body = body[1:-1].strip()
    body = re.sub(r"(文|图|摄影|摄)\s*[/／|:：]\s*", r"\1 ", body)
    tokens = [t for t in re.split(r"[\s、,/／|:：]+", body) if t]
    if not tokens:
        return None
    names: list[str] = []
    has_role = False
    for tok in tokens:
        if tok in _ROLES:
            has_role = True
            continue
        role = next((r for r in _ROLES if len(r) >= 2 and tok.endswith(r)), None)
        if role is not None and len(tok) - len(role) <= 8:  # 半岛全媒体记者, 本报通讯员
            has_role = True
            continue
        role = next((r for r in _ROLES if len(r) >= 2 and tok.startswith(r)), None)
        if role is not None and _NAME_RE.match(tok[len(role) :]):  # 记者王鹏
            has_role = True
            names.append(tok[len(role) :])
            continue
        if _NAME_RE.match(tok) and tok not in _ROLES:
            names.append(tok)
            continue
        return None
    if not names:
        return None
    if has_role or marked or (bracketed and allow_bare):
        return names
    return None


def _outlet_name(line: str, near_byline: bool) -> str | None:
    """The outlet named by a short line such as 齐鲁晚报·齐鲁壹点 or 来源：青岛日报."""
    if len(line) > 30 or any(ch in line for ch in "。！？，"):
        return None
    m = _SOURCE_RE.search(line)
    if m:
        return m.group(1)
    if _OUTLET_DOT_RE.match(line) or (near_byline and _OUTLET_PLAIN_RE.match(line)):
        return line
    return None


def _is_caption_marked(line: str) -> bool:
    """Caption by its form: ▶…, - ①…, ①…, or a (资料片) note."""
    return bool(_CAPTION_MARKER_RE.match(line) or _CAPTION_NOTE_RE.search(line))


def _sentence_count(line: str) -> int:
    """Number of sentence ends in ``line`` (a run of final punctuation counts once)."""
    return len(re.findall(f"[{re.escape(FINAL_PUNCT)}]+", line))


def _is_body_paragraph(line: str) -> bool:
    """A line that starts the body: long, or ending a sentence."""
    return len(line) > HEADING_MAX or ends_sentence(line)


# --- joining broken paragraphs ----------------------------------------------------------------


def _word_spans_break(a: str, b: str) -> bool:
    """Whether a dictionary word spans the join of ``a`` and ``b`` (街|道 → 街道)."""
    if not (CJK_RE.match(a[-1]) and CJK_RE.match(b[0])):
        return False
    left, right = a[-4:], b[:4]
    k = len(left)
    return any(start < k < end for _, start, end in _dict_tokens(left + right))


def _unclosed(line: str) -> bool:
    """Whether ``line`` leaves a quotation or bracket open (the sentence must go on)."""
    return any(line.count(o) > line.count(c) for o, c in ("“”", "（）", "()", "《》", "「」"))


def should_join(a: str, b: str) -> bool:
    """Whether line ``b`` continues line ``a`` across a page break (rules in the module doc)."""
    if not a or not b or ends_sentence(a):
        return False
    if a[-1] in _CLAUSE_END or b[0] in _CONTINUATION_START or _unclosed(a):
        return True
    b_heading_like = len(b) <= HEADING_MAX and not ends_sentence(b)
    if len(a) > HEADING_MAX and not b_heading_like:
        return True
    if _word_spans_break(a, b):
        return True
    words = _pos_cut(a[-12:])
    if not words:
        return False
    last, flag = words[-1]
    if last in _DANGLING_WORDS or flag in ("p", "c", "u", "uj", "ul", "uz", "ud", "uv", "ug"):
        return True
    return last in _OBJECT_VERBS and b[0] in OPENERS


# --- layout of one report ---------------------------------------------------------------------


@dataclass
class _Layout:
    """The classified lines of one report, its paragraphs and what the header says."""

    lines: list[_Line]
    kinds: list[LineKind]
    # Paragraphs: (kind, line indices) in text order; body paragraphs may span page breaks.
    blocks: list[tuple[SentenceKind, list[int]]] = field(default_factory=list)
    title: str = ""
    subtitle: str = ""
    date: str | None = None
    authors: list[str] = field(default_factory=list)
    outlet: str | None = None


def _header_end(lines: Sequence[_Line], kinds: Sequence[LineKind | None]) -> int:
    """Index of the first body paragraph line; header lines come before it."""
    for i, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        if kind is None and _is_body_paragraph(line.text):
            return i
    return len(lines)


def _typical_gap(lines: Sequence[_Line]) -> int:
    """The median number of blank lines between paragraphs (1 in most files)."""
    gaps = sorted(line.gap for line in lines[1:])
    return gaps[len(gaps) // 2] if gaps else 1


@lru_cache(maxsize=64)
def _layout(text: str) -> _Layout:
    """Classify the lines of one report's text (cached: it is pure and used twice)."""
    lines = _lines(text)
    kinds: list[LineKind | None] = [None] * len(lines)
    n = len(lines)

    # 1. Boilerplate, dates, bylines (role words anywhere; bare bracketed names at the end).
    for i, line in enumerate(lines):
        if _is_boilerplate(line.text):
            kinds[i] = "boilerplate"
        elif _is_date_line(line.text):
            kinds[i] = "date"
        elif _byline_names(line.text, allow_bare=i >= n - 2) is not None:
            kinds[i] = "byline"

    # 2. Header zone: lines before the first body paragraph (bare-name bylines allowed too).
    head_end = _header_end(lines, kinds)
    for i in range(min(head_end, n)):
        if kinds[i] is None and _byline_names(lines[i].text, allow_bare=True) is not None:
            kinds[i] = "byline"

    # 3. Outlets: in the header, or next to a byline/date line.
    for i, line in enumerate(lines):
        if kinds[i] is not None:
            continue
        near = any(0 <= j < n and kinds[j] in ("byline", "date") for j in (i - 1, i + 1))
        if _outlet_name(line.text, near) is not None and (i < head_end or near):
            kinds[i] = "outlet"

    # 4. Captions.
    image_gap = max(2, _typical_gap(lines) + 1)
    for i, line in enumerate(lines):
        if kinds[i] is not None or i < head_end:
            continue
        t = line.text
        if _is_caption_marked(t) or (
            line.gap >= image_gap
            and len(t) <= CAPTION_MAX
            and ends_sentence(t)
            and _sentence_count(t) == 1
        ):
            kinds[i] = "caption"

    # 5. Title lines and nav banners in the header.
    head = [i for i in range(min(head_end, n)) if kinds[i] is None]
    place_line = next((i for i in head if _PLACE_HEAD_RE.match(lines[i].text)), None)
    title_lines: list[int] = []

    def next_to_boilerplate(i: int) -> bool:
        before = i > 0 and lines[i].gap == 0 and kinds[i - 1] == "boilerplate"
        after = i + 1 < n and lines[i + 1].gap == 0 and kinds[i + 1] == "boilerplate"
        return before or after

    for i in head:
        before_place = place_line is not None and i < place_line
        navish = bool(_NAV_SUFFIX_RE.search(lines[i].text)) or next_to_boilerplate(i)
        if not title_lines and (before_place or (place_line is None and navish)):
            kinds[i] = "boilerplate"
        else:
            title_lines.append(i)
    title_lines = title_lines[:_MAX_HEADER_LINES]
    for i in title_lines:
        kinds[i] = "title"

    title, subtitle = "", ""
    if title_lines:
        first = lines[title_lines[0]].text
        rest = title_lines[1:]
        m = _PLACE_HEAD_RE.match(first)
        if m and not m.group("head") and rest:
            first = first + lines[rest[0]].text  # "天桥区堤口路街道:" + headline
            rest = rest[1:]
        title = first
        if rest:
            subtitle = lines[rest[0]].text
        # Header lines beyond title and subtitle are headings of the lead.
        for i in rest[1:]:
            kinds[i] = "heading"

    # 6. Body lines: rejoin page breaks, then find headings. Boilerplate is transparent; any other
    # classified line (caption, meta, title) ends a paragraph.
    blocks: list[tuple[SentenceKind, list[int]]] = []
    current: list[int] = []

    def flush() -> None:
        if current:
            blocks.append(("body", list(current)))
            current.clear()

    for i in range(n):
        kind = kinds[i]
        if kind == "boilerplate":
            continue
        if kind is None:
            if current and should_join(lines[current[-1]].text, lines[i].text):
                current.append(i)
                continue
            flush()
            current.append(i)
            continue
        flush()
        if kind in ("title", "heading", "caption"):
            blocks.append((kind, [i]))
    flush()

    # A lone short unpunctuated body line with something after it is a heading.
    for b, (kind, idx) in enumerate(blocks):
        if kind != "body" or len(idx) != 1:
            continue
        t = lines[idx[0]].text
        if len(t) <= HEADING_MAX and not ends_sentence(t) and b < len(blocks) - 1:
            blocks[b] = ("heading", idx)
            kinds[idx[0]] = "heading"
    for kind, idx in blocks:
        for i in idx:
            if kinds[i] is None:
                kinds[i] = kind

    # Metadata from the meta lines.
    date = next((parse_date(lines[i].text) for i in range(n) if kinds[i] == "date"), None)
    authors: list[str] = []
    for i in range(n):
        if kinds[i] == "byline":
            for name in _byline_names(lines[i].text, allow_bare=True) or []:
                if name not in authors:
                    authors.append(name)
    outlet = next(
        (_outlet_name(lines[i].text, True) for i in range(n) if kinds[i] == "outlet"), None
    )
    if outlet is None:
        outlet = next(
            (m.group(1) for i in range(n) if kinds[i] == "date"
             for m in [_SOURCE_RE.search(lines[i].text)] if m),
            None,
        )  # fmt: skip

    final_kinds: list[LineKind] = [k if k is not None else "body" for k in kinds]
    return _Layout(lines, final_kinds, blocks, title, subtitle, date, authors, outlet)


# --- places -----------------------------------------------------------------------------------


def _non_name(flag: str) -> bool:
    """Whether a jieba tag marks a word that cannot start a place name."""
    return flag.startswith(_NON_NAME_PREFIXES) or flag in _NON_NAME_VERBS


def _header_places(line: str) -> list[str]:
    """Place names in a title line: each runs from the clause start or the end of the previous
    level (市/省/县 or a place) to its suffix (九水街道党工委…, 青岛市崂山区王哥庄街道…,
    泺口街道香磨李社区:…). The chain stops at the first suffix that does not fit."""
    names: list[str] = []
    for clause_m in re.finditer(f"[{CJK}]+", line):
        clause = clause_m.group(0)
        begin = 0
        anchored = False  # right after a higher level, the first word needs no vetting
        for m in _LEVEL_RE.finditer(clause):
            body = clause[begin : m.start()]
            level = m.group(0)
            if level in "市省县":
                # A higher level (青岛市) is not collected but anchors the next name; a 市 with
                # a short body is part of a name (市北区) and is skipped.
                if 2 <= len(body) <= 6:
                    begin, anchored = m.end(), True
                continue
            ok = 2 <= len(body) <= _PLACE_MAX_BODY[level] and body not in _GENERIC_PLACE_BODIES
            if ok and not anchored:
                ok = not _non_name(_pos_cut(clause[begin:])[0][1])
            if not ok:
                break
            names.append(body + level)
            begin, anchored = m.end(), True
    return names


def _token_spans(clause: str) -> list[tuple[int, int, str, str]]:
    """(start, end, word, flag) of the jieba tokens of ``clause``."""
    spans: list[tuple[int, int, str, str]] = []
    pos = 0
    for word, flag in _pos_cut(clause):
        spans.append((pos, pos + len(word), word, flag))
        pos += len(word)
    return spans


def _body_places(clause: str) -> list[tuple[int, str]]:
    """(position, name) of place names found in a body clause by their jieba tokens.

    A jieba place word ending in the suffix (李沧区) counts as is. Otherwise the name is the run of
    noun-like tokens before the suffix, stopped by a verb, function word, number or higher-level
    place (在|堤口路|街道, 李沧区|九水|街道); when the run starts with a long common noun or is too
    long, it starts at its first proper-name token instead (党建示范点|唐家庄|社区). The run must
    hold a token jieba tags as a proper or place name (not 城市, 全国, 党员干部联系), and a 区
    found this way must be followed by an organisation word (区委, 区政府).
    """
    spans = _token_spans(clause)
    out: list[tuple[int, str]] = []
    for m in _PLACE_SUFFIX_RE.finditer(clause):
        sfx = m.group(0)
        limit = _PLACE_MAX_BODY[sfx]
        spanning = [t for t in spans if t[0] < m.start() < t[1]]
        if spanning:
            start, end, word, flag = spanning[0]
            body = word[: -len(sfx)] if word.endswith(sfx) else ""
            if (
                end == m.end()
                and flag == "ns"
                and len(body) >= 2
                and body not in _GENERIC_PLACE_BODIES
                and not word.endswith(_GENERIC_AREA_ENDINGS)
            ):
                out.append((start, word))
            continue
        run: list[tuple[int, int, str, str]] = []
        overflow = False
        for tok in reversed([t for t in spans if t[1] <= m.start()]):
            if tok[3] not in _NAME_FLAGS or tok[2] in _DANGLING_WORDS:
                break
            if tok[2].endswith(_HIGHER_PLACE_END) or tok[2] in ("区", "市", "县", "省"):
                break
            if m.start() - tok[0] > limit:
                overflow = True
                break
            run.insert(0, tok)
        if not run:
            continue
        proper = [k for k, t in enumerate(run) if t[3] in _PROPER_FLAGS]
        if proper and (overflow or (run[0][3] not in _PROPER_FLAGS and len(run[0][2]) >= 3)):
            k = proper[0]
            if run[k][1] - run[k][0] < 2 and k > 0:
                k -= 1
            run = run[k:]
        body = clause[run[0][0] : m.start()]
        if len(body) < 2 or body in _GENERIC_PLACE_BODIES:
            continue
        if not any(t[3] in _PROPER_FLAGS for t in run):
            continue  # common nouns only (党员干部联系社区): jieba saw no name here
        if sfx == "区" and not clause[m.end() :].startswith(_ORG_WORDS):
            continue
        out.append((run[0][0], body + sfx))
    return out


def find_places(content: str, header_lines: Sequence[str] = ()) -> list[str]:
    """区/街道/社区/镇 names of a report, ordered by first occurrence in ``content``.

    Names in the title lines are trusted (:func:`_header_places`); body names must pass the
    stricter token test of :func:`_body_places`.
    """
    first: dict[str, int] = {}
    for line in header_lines:
        for name in _header_places(line):
            pos = content.find(name)
            first.setdefault(name, pos if pos >= 0 else 0)
    for clause_m in re.finditer(f"[{CJK}]+", content):
        for pos, name in _body_places(clause_m.group(0)):
            first.setdefault(name, clause_m.start() + pos)
    return [name for name, _ in sorted(first.items(), key=lambda kv: kv[1])]


# --- reports ----------------------------------------------------------------------------------


def _title_candidates(text: str) -> list[int]:
    """Offsets of lines that open a report: ``<place>:<headline>`` (or ``<place>:`` + headline
    line), each followed by at least :data:`MIN_REPORT_BODY` characters of body text."""
    lines = _lines(text)
    cands: list[int] = []
    for i, line in enumerate(lines):
        t = line.text
        if len(t) > 60 or any(ch in t for ch in "。！？!?"):
            continue
        m = _PLACE_HEAD_RE.match(t)
        if not m:
            continue
        if not m.group("head"):
            nxt = lines[i + 1].text if i + 1 < len(lines) else ""
            if not nxt or len(nxt) > HEADING_MAX or ends_sentence(nxt):
                continue
        cands.append(i)
    kept: list[int] = []
    for k, i in enumerate(cands):
        stop = cands[k + 1] if k + 1 < len(cands) else len(lines)
        body = sum(len(ln.text) for ln in lines[i + 1 : stop] if _is_body_paragraph(ln.text))
        if body >= MIN_REPORT_BODY:
            kept.append(i)
    if len(kept) < 2:
        return []
    # The first candidate must be the file's own title, or every candidate have its own byline.
    first_body = next(
        (j for j, ln in enumerate(lines) if _is_body_paragraph(ln.text) and len(ln.text) > 40),
        len(lines),
    )
    in_header = kept[0] < first_body

    def has_byline(i: int) -> bool:
        window = lines[i + 1 : i + 8]
        return any(
            _byline_names(ln.text, allow_bare=False) is not None
            or _outlet_name(ln.text, near_byline=False) is not None
            for ln in window
        )

    if not in_header and not all(has_byline(i) for i in kept):
        return []
    return [lines[i].start for i in kept]


def _line_start(text: str, offset: int) -> int:
    """Offset of the start of the line holding ``offset``."""
    return text.rfind("\n", 0, offset) + 1


def split_sources(text: str) -> list[tuple[int, int]]:
    """(start, end) slices of ``text`` holding one report each (see the module docstring)."""
    cuts: list[tuple[int, int]] = []  # (end of previous, start of next)
    pos = 0
    for raw in text.split("\n"):
        line_end = pos + len(raw)
        if _SEPARATOR_RE.match(raw):
            cuts.append((pos, min(line_end + 1, len(text))))
        elif "\f" in raw:
            for k, ch in enumerate(raw):
                if ch == "\f":
                    cuts.append((pos + k, pos + k + 1))
        pos = line_end + 1
    if not cuts:
        starts = [_line_start(text, off) for off in _title_candidates(text)]
        cuts = [(s, s) for s in starts[1:]]
    bounds: list[tuple[int, int]] = []
    begin = 0
    for end, nxt in cuts:
        bounds.append((begin, end))
        begin = nxt
    bounds.append((begin, len(text)))
    return [(s, e) for s, e in bounds if text[s:e].strip()]


def parse_reports(source_id: str, text: str, source_name: str | None = None) -> list[Report]:
    """Split a file's text into reports with titles and metadata.

    Report ``i`` of a file holding several gets ``doc_id = f"{source_id}-{i}"`` (1-based); a
    single report keeps ``source_id``. ``Report.text`` is the report's unmodified slice of the file.
    """
    slices = split_sources(text)
    if len(slices) > 1:
        log.info("%s: %d reports in one file", source_name or source_id, len(slices))
    reports: list[Report] = []
    for k, (start, end) in enumerate(slices, start=1):
        body = text[start:end]
        layout = _layout(body)
        doc_id = f"{source_id}-{k}" if len(slices) > 1 else source_id
        title = _full_title(layout) or _fallback_title(layout) or doc_id
        header_lines = [
            layout.lines[i].text for i, kind in enumerate(layout.kinds) if kind == "title"
        ]
        meta: dict[str, Any] = {
            "source": source_name or f"{source_id}.txt",
            "source_id": source_id,
            "source_offset": start,
        }
        if layout.subtitle:
            meta["subtitle"] = layout.subtitle
        places = find_places(_content(layout), header_lines)
        if places:
            meta["places"] = places
        if layout.date:
            meta["date"] = layout.date
        if layout.authors:
            meta["authors"] = list(layout.authors)
        if layout.outlet:
            meta["outlet"] = layout.outlet
        reports.append(Report(doc_id=doc_id, title=title, text=body, meta=meta))
    return reports


def _content(layout: _Layout) -> str:
    """The report's content lines (title, headings, body, captions) joined by newlines; page
    breaks are rejoined so a name cut by a page break is found whole."""
    parts: list[str] = []
    for _kind, idx in layout.blocks:
        parts.append("".join(layout.lines[i].text for i in idx))
    return "\n".join(parts)


def _full_title(layout: _Layout) -> str:
    """Title and subtitle joined: a subtitle starting with a dash is appended as is, others after
    "——" (the usual Chinese title–subtitle separator)."""
    if not layout.title:
        return ""
    if not layout.subtitle:
        return layout.title
    sub = layout.subtitle
    if sub.startswith(("—", "-", "－")):
        return layout.title + sub
    return f"{layout.title}——{sub}"


def _fallback_title(layout: _Layout) -> str:
    """A title for a report without a header: its first sentence, shortened."""
    for kind, idx in layout.blocks:
        if kind in ("body", "heading"):
            first = "".join(layout.lines[i].text for i in idx)
            end = next((k + 1 for k, ch in enumerate(first) if ch in FINAL_PUNCT), len(first))
            sentence = first[:end]
            return sentence if len(sentence) <= 40 else sentence[:39] + "…"
    return ""


# --- sentences --------------------------------------------------------------------------------


def split_sentence_spans(clean: str) -> list[tuple[int, int]]:
    """(start, end) of the sentences of a cleaned paragraph, stripped of whitespace.

    A sentence ends after a run of 。！？；… and the closing quotes/brackets that follow it.
    A piece of punctuation only is attached to the sentence before it.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    i = 0
    n = len(clean)
    while i < n:
        if clean[i] in FINAL_PUNCT:
            j = i + 1
            while j < n and (clean[j] in FINAL_PUNCT or clean[j] in CLOSERS):
                j += 1
            spans.append((start, j))
            start = i = j
            continue
        i += 1
    if start < n:
        spans.append((start, n))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and clean[s].isspace():
            s += 1
        while e > s and clean[e - 1].isspace():
            e -= 1
        if s >= e:
            continue
        if out and _PUNCT_ONLY_RE.match(clean[s:e]):
            out[-1] = (out[-1][0], e)
            continue
        out.append((s, e))
    return out


def _block_sentences(
    text: str, layout: _Layout, kind: SentenceKind, idx: list[int]
) -> list[Sentence]:
    """Sentences of one block; offsets into ``text``."""
    lines = layout.lines
    start, end = lines[idx[0]].start, lines[idx[-1]].end
    if kind in ("title", "heading"):
        return [Sentence(ln.start, ln.end, ln.text, kind) for ln in (lines[i] for i in idx)]
    if kind == "caption":
        t = lines[idx[0]].text
        lead = len(_CAPTION_TRIM_START_RE.match(t).group(0))  # type: ignore[union-attr]
        trail_m = _CAPTION_TRIM_END_RE.search(t)
        trail = len(t) - trail_m.start() if trail_m else 0
        if lead + trail >= len(t):
            lead = trail = 0
        s, e = start + lead, end - trail
        return [Sentence(s, e, clean_span(text[s:e]), "caption")]
    positions = cleaned_offsets(text, start, end)
    clean = "".join(text[p] for p in positions)
    out: list[Sentence] = []
    for s, e in split_sentence_spans(clean):
        o_start, o_end = positions[s], positions[e - 1] + 1
        out.append(Sentence(o_start, o_end, clean_span(text[o_start:o_end]), kind))
    return out


def report_sentences(report: Report) -> list[Sentence]:
    """The cleaned reading of a report as sentences (boilerplate and meta lines dropped).

    ``clean_span(report.text[s.start:s.end]) == s.text`` for every sentence; kinds are title,
    heading, body and caption.
    """
    layout = _layout(report.text)
    out: list[Sentence] = []
    for kind, idx in layout.blocks:
        out.extend(_block_sentences(report.text, layout, kind, idx))
    return out
