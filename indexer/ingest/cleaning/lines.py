"""Line classification: boilerplate, dates, bylines, outlets and captions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.ingest.cleaning.lexicon import (
    _BOILERPLATE_ANY,
    _BOILERPLATE_START,
    _BREADCRUMB_RE,
    _BYLINE_MARKERS,
    _CAPTION_MARKER_RE,
    _CAPTION_NOTE_RE,
    _DATE_LABEL_RE,
    _DATE_RE,
    _END_MARK_RE,
    _NAME_RE,
    _OUTLET_DOT_RE,
    _OUTLET_PLAIN_RE,
    _PUNCT_ONLY_RE,
    _ROLES,
    _SOURCE_RE,
    _TIME_RE,
    FINAL_PUNCT,
    HEADING_MAX,
    META_MAX,
    ends_sentence,
)
from indexer.text.zh import CJK_RE

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


