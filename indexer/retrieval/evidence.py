"""Sentence evidence: how well each sentence of the retrieved chunks answers the question.

Used twice: to rerank fused hits by their best sentence (answer-aware reranking, no model), and
by the extractive composer to pick the sentences it quotes. How a sentence is scored:

* **focus terms** — the question's search-mode tokens without question words and stopwords.
  Terms naming a place that the sentence's report is about (its title or place metadata) are
  *anchors*: they pick the report, and a sentence inherits them from its report ("街道党工委书记…"
  in the 九水街道 report covers "九水街道").
* **coverage** — the share of focus-term characters found in the sentence (or inherited).
* **overlap** — the share of the question's character bigrams found in the sentence, which also
  credits partial and paraphrased wording.
* **answer type** — a bonus when the sentence carries what the question asks for: a number for
  多少/几, a person for 谁/叫什么名字, a quoted name for 叫什么/什么品牌, a place for 哪个街道.
* **retrieval prior** — a small bonus for sentences of higher-ranked passages; photo captions are
  down-weighted so running text wins when both say the same.

* **meaning** — the query–sentence cosine from the index's sentence vectors, scaled 0..1 over the
  candidates; its weight rises when keyword evidence is weak (paraphrased questions).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from indexer.retrieval.scoring import DEFAULT, EvidenceConfig
from indexer.text.tokenize import STOPWORDS, Tokenizer
from indexer.text.zh import (
    CJK_BASIC,
    bigrams,
    nfkc,
    norm,
    place_name_re,
    place_suffixes,
    suffix_pattern,
)
from indexer.types import Hit, Report, Sentence

log = logging.getLogger(__name__)

_NUM_Q = re.compile(r"多少|几[个天年次名所处件家项条期人位次户]?|多大|多高|多长|多久|多远|比例|百分之|数量|面积|产值|金额")
_PERSON_Q = re.compile(r"谁|叫什么名字|名字是|姓名")
_NAME_Q = re.compile(r"叫什么|什么名称|名称是|什么品牌|品牌|什么称号|称号|荣誉|什么平台|哪个平台|口号|什么模式|思路|什么党组织")
# The places a 哪个… question asks for: a district and the places in it (not 新区, 县, 市, 省).
_PLACE_KINDS = place_suffixes("区")
_PLACE_Q = re.compile(rf"哪个(?P<kind>{suffix_pattern(_PLACE_KINDS)})|哪(?:些|一个|一)?(?P<kind2>街道|社区)")
_NUMBER = re.compile(
    r"\d+(?:[.:：]\d+)?\s*(?:%|％)?|[一二三四五六七八九十百千万两]+(?:个|天|年|次|名|所|处|件|家|项|条|期|位|户|轮|批|种|大|支)"
)
_QUOTED = re.compile(r"[“「『\"][^”」』\"]{2,20}[”」』\"]")
_PERSON_HINT = re.compile(rf"(?:书记|主任|经理|局长|区长|部长|记者|院长|校长|负责人|总经理|主席)[{CJK_BASIC}]{{2,3}}")
_PLACE_NAME = place_name_re(_PLACE_KINDS)

# Words that name the answer slot rather than the topic ("叫什么名字"): an answer sentence says
# "书记陆兆纲", not "名字", so they are not required for coverage.
SLOT_WORDS = frozenset("名字 名称 姓名 数量 数目 时间 日期 地点 内容 方式 办法 情况 原因".split())


@dataclass(frozen=True)
class QuestionInfo:
    """What the question asks: focus terms, anchor candidates and the expected answer type."""

    text: str
    terms: tuple[str, ...]
    bigrams: frozenset[str]
    wants: str  # number | person | name | place | other
    place_kind: str  # 街道/社区/… for "哪个街道" questions, else ""
    weights: tuple[float, ...] = ()  # per term: IDF in the index (rare terms matter more)
    noun: str = ""  # the noun the question word asks about: 哪个平台 -> 平台


_ASKED = re.compile(rf"(?:哪个|哪些|哪一个|哪一|哪几个|哪家|哪种|什么|何种)(?:样的|的)?([{CJK_BASIC}]{{1,4}})")


def _asked_noun(question: str, tokenizer: Tokenizer) -> str:
    """The word right after 哪个/什么…, cut with jieba so 哪个平台反映 gives 平台."""
    m = _ASKED.search(question)
    if not m:
        return ""
    words = tokenizer.words(question[m.start(1) :])
    noun = words[0] if words else ""
    return noun if len(noun) >= 2 and noun not in STOPWORDS else ""


def analyse_question(
    question: str, tokenizer: Tokenizer, idf: Callable[[str], float] | None = None
) -> QuestionInfo:
    q = nfkc(question).strip()
    terms = tuple(dict.fromkeys(t for t in tokenizer.tokens(q) if t not in STOPWORDS and t not in SLOT_WORDS))
    # Without an index, longer terms count more; with one, rarer terms do.
    weights = tuple(max(idf(t), 0.05) if idf else float(len(t)) for t in terms)
    stripped = q
    for word in sorted(STOPWORDS, key=len, reverse=True):
        if len(word) > 1:
            stripped = stripped.replace(word, " ")
    place = _PLACE_Q.search(q)
    if place:
        wants, kind = "place", place.group("kind") or place.group("kind2") or ""
    elif _PERSON_Q.search(q):
        wants, kind = "person", ""
    elif _NUM_Q.search(q):
        wants, kind = "number", ""
    elif _NAME_Q.search(q):
        wants, kind = "name", ""
    else:
        wants, kind = "other", ""
    return QuestionInfo(q, terms, frozenset(bigrams(stripped.lower())), wants, kind, weights, _asked_noun(q, tokenizer))


@dataclass(frozen=True)
class Candidate:
    sentence: Sentence
    hit: Hit
    rank: int
    score: float
    coverage: float  # of non-anchor focus terms


@functools.lru_cache(maxsize=1 << 12)
def _normalised(text: str) -> tuple[str, frozenset[str]]:
    """``text`` compared as questions are (:func:`norm`) and its character bigrams. The same
    sentences and report contexts come back question after question, and normalising them and
    taking their bigrams anew was most of the rerank's time (bounded: tens of MB of bigram sets at most; a
    query reads about a hundred sentences)."""
    normal = norm(text)
    return normal, frozenset(bigrams(normal))


def _report_context(report: Report | None, hit: Hit) -> str:
    """What the sentences of ``hit`` inherit: the chunk's title and context, the report's places
    and title (as written; :func:`score_sentence` normalises it)."""
    places = " ".join(str(p) for p in (report.meta.get("places", []) if report else []))
    return " ".join([hit.chunk.title, hit.chunk.context, places, report.title if report else ""])


def score_sentence(
    info: QuestionInfo,
    sentence: Sentence,
    context: str,
    rank: int,
    cfg: EvidenceConfig = DEFAULT.evidence,
) -> tuple[float, float]:
    """(score, coverage of the non-anchor focus terms) of one sentence for the question;
    ``context`` is what the sentence inherits (:func:`_report_context`)."""
    text, text_bigrams = _normalised(sentence.text)
    context, context_bigrams = _normalised(context)
    total = covered = 0.0
    free_total = free_covered = 0.0
    for term, weight in zip(info.terms, info.weights, strict=True):
        total += weight
        in_sentence = term in text
        anchor = not in_sentence and term in context
        if in_sentence or anchor:
            covered += weight
        if not anchor:
            free_total += weight
            free_covered += weight if in_sentence else 0.0
    coverage = covered / total if total else 0.0
    free = free_covered / free_total if free_total else 1.0
    # Bigrams the report's title/places supply count too (at a discount): "它的面积约为…" in the
    # 乍都节公园 article answers "乍都节公园的面积有多大" as well as a sentence naming the park.
    own = info.bigrams & text_bigrams
    inherited = (info.bigrams - own) & context_bigrams
    overlap = (len(own) + cfg.context_credit * len(inherited)) / len(info.bigrams) if info.bigrams else 0.0
    bonus = 0.0
    if (info.wants == "number" and _NUMBER.search(sentence.text)) or (info.wants == "person" and _PERSON_HINT.search(sentence.text)):
        bonus = cfg.type_bonus
    elif info.wants == "name" and _QUOTED.search(sentence.text):
        bonus = cfg.name_bonus
    elif info.wants == "place" and _PLACE_NAME.search(sentence.text):
        bonus = cfg.place_bonus
    if info.noun and info.noun in text:
        # the asked-for slot is filled when a quoted name or a number stands right before the noun
        filled = re.search(rf"(?:[”」』]|\d[\d.]*[^\W\d_]?)[{CJK_BASIC}]{{0,2}}{re.escape(info.noun)}", text)
        bonus += cfg.slot_filled_bonus if filled else cfg.slot_noun_bonus
    # a sentence that only restates the question (e.g. a heading) adds nothing
    novelty = 1.0 if len(text) > len(info.text) * cfg.restated_length else cfg.restated_factor
    score = (
        cfg.coverage_weight * coverage + cfg.overlap_weight * overlap + bonus + cfg.rank_prior / (1 + rank)
    ) * novelty
    if sentence.kind == "caption":
        score *= cfg.caption_weight
    return score, free




def score_candidates(
    info: QuestionInfo,
    hits: Sequence[Hit],
    reports: Mapping[str, Report],
    semantic_weight: float,
    cfg: EvidenceConfig = DEFAULT.evidence,
) -> list[Candidate]:
    """Every body/caption sentence of the hits (once), scored and sorted best first."""
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    sims: list[float | None] = []
    for rank, hit in enumerate(hits):
        report = reports.get(hit.chunk.doc_id)
        context = _report_context(report, hit)
        for j, sentence in enumerate(hit.chunk.sentences):
            key = (hit.chunk.doc_id, sentence.start)
            if sentence.kind in ("title", "heading") or key in seen or not sentence.text.strip():
                continue
            seen.add(key)
            score, coverage = score_sentence(info, sentence, context, rank, cfg)
            out.append(Candidate(sentence, hit, rank, score, coverage))
            sims.append(hit.sentence_scores[j] if j < len(hit.sentence_scores) else None)
    known = [s for s in sims if s is not None]
    if known and semantic_weight > 0:
        lo, hi = min(known), max(known)
        span = (hi - lo) or 1.0
        out = [
            Candidate(c.sentence, c.hit, c.rank, c.score + semantic_weight * ((s - lo) / span if s is not None else 0.0),
                      c.coverage)
            for c, s in zip(out, sims, strict=True)
        ]
    out.sort(key=lambda c: (-c.score, c.rank, c.sentence.start))
    return out


def evidence_rerank(
    info: QuestionInfo,
    hits: Sequence[Hit],
    reports: Mapping[str, Report],
    *,
    semantic_weight: float,
    alpha: float,
    cfg: EvidenceConfig = DEFAULT.evidence,
) -> list[Hit]:
    """Reorder fused hits by ``alpha`` × fused score + (1 − alpha) × best-sentence evidence (both
    scaled 0..1 over the hits): a chunk whose one sentence answers beats one that merely shares
    the question's words throughout."""
    if len(hits) < 2:
        return list(hits)
    best: dict[str, float] = {}
    for cand in score_candidates(info, hits, reports, semantic_weight, cfg):
        cid = cand.hit.chunk.chunk_id
        best[cid] = max(best.get(cid, 0.0), cand.score)
    fused = [h.score for h in hits]
    evidence = [best.get(h.chunk.chunk_id, 0.0) for h in hits]
    f_lo, f_span = min(fused), (max(fused) - min(fused)) or 1.0
    e_lo, e_span = min(evidence), (max(evidence) - min(evidence)) or 1.0
    final = [alpha * (f - f_lo) / f_span + (1 - alpha) * (e - e_lo) / e_span for f, e in zip(fused, evidence, strict=True)]
    order = sorted(range(len(hits)), key=lambda i: (-final[i], i))
    return [
        Hit(hits[i].chunk, final[i], {**hits[i].scores, "evidence": evidence[i], "fused": final[i]}, hits[i].sentence_scores)
        for i in order
    ]
