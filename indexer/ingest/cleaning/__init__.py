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
     that needs an object (开展, 实施 …) when B opens with a quotation mark (开展“…”活动); or
  5. the text is hard-wrapped (PDF and OCR lines, 28 characters a line in a 公文: at least three
     lines and a third of the lines of 10+ characters share one length within 2) and A is filled
     to that width. Such a line also ends the header.

  A short line (≤ 40 characters) without sentence-final punctuation that is not joined to the
  next line is a heading (unless the file marks its headings: Word styles, Markdown ``#``; then
  those are the headings); headings are never joined to the following paragraph.

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

The package follows those steps: ``lexicon`` (characters, thresholds, patterns, jieba), ``lines``
(line classification), ``layout`` (rejoining paragraphs, one report's layout), ``places``,
``reports`` (splitting files, titles, metadata) and ``sentences``.
"""

from __future__ import annotations

from indexer.ingest.cleaning.layout import should_join
from indexer.ingest.cleaning.lexicon import (
    CAPTION_MAX,
    CLOSERS,
    FINAL_PUNCT,
    HEADING_MAX,
    META_MAX,
    MIN_REPORT_BODY,
    OPENERS,
    clean_span,
    cleaned_offsets,
    ends_sentence,
    pos_tags,
)
from indexer.ingest.cleaning.lines import parse_date
from indexer.ingest.cleaning.places import find_places
from indexer.ingest.cleaning.reports import parse_reports, split_sources
from indexer.ingest.cleaning.sentences import report_sentences, split_sentence_spans

__all__ = [
    "CAPTION_MAX",
    "CLOSERS",
    "FINAL_PUNCT",
    "HEADING_MAX",
    "META_MAX",
    "MIN_REPORT_BODY",
    "OPENERS",
    "clean_span",
    "cleaned_offsets",
    "ends_sentence",
    "find_places",
    "parse_date",
    "parse_reports",
    "pos_tags",
    "report_sentences",
    "should_join",
    "split_sentence_spans",
    "split_sources",
]
