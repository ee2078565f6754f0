"""Fact features: does the passage hold the asked *fact*, not just the asked topic?

The first answerability features (term coverage, cosines, margins) describe topic match; on a
corpus where every passage is on topic (issue 31: SQuAD 2.0 style questions, CMRC passages with
the answer sentence removed) they cannot tell a question the passage answers from one it only
seems to. These pure functions look for signs of a missing fact around the answer's lead
sentence instead:

* the question's terms gather round the lead sentence (``window_terms``, ``window_bigrams``)
  rather than being scattered over the passage (``window_gap``);
* the question's rarest term is in the lead sentence itself (``lead_rarest``);
* literals the question quotes — numbers, Latin-script words, names in quotes or 《》 — are in
  the passage (``literals_missing``);
* the question negates (「不是」「没有」) where the sentence does not (``negation_mismatch``);
* the key word of the asked relation — the content word next to the question word, 「首都」 in
  「法国的首都是什么」 — is near the lead sentence (``relation_found``).

All take normalised text (``indexer.text.zh.norm``) and are grammar of Chinese questions, never words
of an evaluated question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.text.zh import bigrams, norm

# the names :func:`fact_features` returns, in a fixed order (candidates for ``FEATURES``)
FACT_FEATURES: tuple[str, ...] = (
    "window_terms",
    "window_gap",
    "window_bigrams",
    "lead_rarest",
    "literals_missing",
    "negation_mismatch",
    "relation_found",
)

# sentences on either side of the lead sentence that count as "around" it
WINDOW_RADIUS = 1

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LATIN = re.compile(r"[a-z][a-z0-9'’\-.&]*[a-z0-9]|[a-z]{2,}")
_QUOTED = re.compile(r"[「“\"《『]([^」”\"》』]{1,30})[」”\"》』]")
# negation markers; compounds where 不/无/非/未 does not negate the clause are masked first
_NEGATION = re.compile(r"不|没有|没|未|无|非|并非|别")
_NOT_NEGATION = re.compile(
    r"不同|不断|不仅|不少|不过|不久|不但|不管|不论|不得不|不可|无论|无数|无线|非常|非洲|未来|并不|差不多|"
    r"要不|不要紧|不如|无法"
)
# question words after which (or before which) the asked relation is named
_WH = re.compile(r"什么|谁|哪|多少|几|何时|何地|何种|怎么|怎样|如何|为什么|为何")
_FILLER = frozenset("是 的 为 在 有 了 被 由 于 叫 称 做 把 和 与 及 对".split())


def window_text(sentences: Sequence[str], at: int, radius: int = WINDOW_RADIUS) -> str:
    """The lead sentence ``sentences[at]`` joined with ``radius`` sentences on each side
    (all of them when ``at`` is not an index of ``sentences``)."""
    if not 0 <= at < len(sentences):
        return "".join(sentences)
    return "".join(sentences[max(0, at - radius) : at + radius + 1])


def term_share(terms: Sequence[str], weights: Sequence[float], text: str) -> float:
    """IDF-weighted share of ``terms`` found in ``text`` (1.0 when there are none)."""
    total = sum(weights)
    if not total:
        return 1.0
    return sum(w for t, w in zip(terms, weights, strict=True) if t in text) / total


def rarest_found(terms: Sequence[str], weights: Sequence[float], text: str) -> float:
    """1.0 when the question's rarest term (highest IDF) is in ``text``; 1.0 with no terms."""
    if not terms:
        return 1.0
    rarest = max(zip(weights, terms, strict=True))[1]
    return 1.0 if rarest in text else 0.0


def bigram_share(question_bigrams: frozenset[str] | set[str], text: str) -> float:
    """Share of the question's character bigrams found in ``text`` (1.0 without bigrams)."""
    if not question_bigrams:
        return 1.0
    return len(question_bigrams & bigrams(text)) / len(question_bigrams)


def question_literals(question: str) -> tuple[str, ...]:
    """Literal strings of a (normalised) question that an answering passage must repeat:
    numbers, Latin-script words, and names in quotes or 《》, in question order, unique."""
    q = norm(question)
    found = [m.group(1) for m in _QUOTED.finditer(q)]
    found += _NUMBER.findall(q)
    found += [w for w in _LATIN.findall(q) if len(w) >= 2]
    return tuple(dict.fromkeys(f.strip() for f in found if f.strip()))


def literals_missing(literals: Sequence[str], text: str) -> float:
    """Share of ``literals`` not found in ``text`` (0.0 without literals)."""
    if not literals:
        return 0.0
    return sum(lit not in text for lit in literals) / len(literals)


def negated(text: str) -> bool:
    """Whether ``text`` holds a negation (「不是」「没有」「未」…), compounds such as 不同, 非常
    and 未来 not counted."""
    return bool(_NEGATION.search(_NOT_NEGATION.sub("", text)))


def negation_mismatch(question: str, text: str) -> float:
    """1.0 when the question negates and ``text`` (the lead window) does not: a question that
    asks what something is *not* is rarely answered by a sentence that negates nothing."""
    return 1.0 if negated(question) and not negated(text) else 0.0


def relation_word(question: str, terms: Sequence[str]) -> str:
    """The content term nearest the question word (「首都」 in 「法国的首都是什么」, 「发明」 in
    「谁发明了电话」): the term ending right before it or starting right after it, fillers such
    as 是/的/了 between them skipped; ties go to the term before. Empty without a question word
    or terms."""
    q = norm(question)
    wh = _WH.search(q)
    if wh is None or not terms:
        return ""
    best: tuple[int, int, str] | None = None
    for term in terms:
        at = q.find(term)
        if at < 0:
            continue
        if at + len(term) <= wh.start():
            gap = q[at + len(term) : wh.start()]
            side = 0
        elif at >= wh.end():
            gap = q[wh.end() : at]
            side = 1
        else:
            continue
        distance = sum(ch not in _FILLER for ch in gap)
        key = (distance, side, term)
        if best is None or key[:2] < best[:2]:
            best = key
    return best[2] if best is not None else ""


def relation_found(relation: str, text: str) -> float:
    """1.0 when the asked relation's key word is in ``text`` (or there is none), else 0.0."""
    return 1.0 if not relation or relation in text else 0.0


def fact_features(
    question: str,
    terms: Sequence[str],
    weights: Sequence[float],
    question_bigrams: frozenset[str] | set[str],
    sentences: Sequence[str],
    at: int,
    passage: str,
) -> dict[str, float]:
    """The fact features (``FACT_FEATURES``) of an answer led by ``sentences[at]`` of a passage
    whose normalised text (with its title) is ``passage``; sentences normalised too."""
    window = window_text(sentences, at)
    lead = sentences[at] if 0 <= at < len(sentences) else window
    in_window = term_share(terms, weights, window)
    return {
        "window_terms": in_window,
        "window_gap": term_share(terms, weights, passage) - in_window,
        "window_bigrams": bigram_share(question_bigrams, window),
        "lead_rarest": rarest_found(terms, weights, lead),
        "literals_missing": literals_missing(question_literals(question), passage),
        "negation_mismatch": negation_mismatch(norm(question), window),
        "relation_found": relation_found(relation_word(question, terms), window),
    }
