"""Check a generated answer against the passages it cites (pure functions, no I/O).

The LLM writes sentences ending in ``[n]`` markers that refer to the numbered passages of the
prompt. :func:`validate_answer` keeps a sentence only when the passages it cites support it:

* **Markers.** :mod:`.reply` splits the reply into sentences and reads their markers (``[1]``,
  ``[1,2]``, ``[1-3]``, ``【1】`` …); markers are moved to the end of their sentence. A marker
  that points at no passage is dropped; so is a marker whose passage shares no key term and no
  number with the sentence, and, in a sentence citing several passages, one whose passage covers
  less than ``min_marker_coverage`` (0.2) of the sentence's key terms and none of its numbers
  (common words such as 街道 alone do not make a passage a source). A sentence left without a
  marker is unsupported.
* **Key-term overlap.** Key terms are the character bigrams of the Chinese text (bigrams holding a
  function character such as 的/了/是 are left out), lower-cased Latin words and the numbers.
  ``coverage = |terms(sentence) ∩ terms(cited passages)| / |terms(sentence)|`` must reach
  ``min_coverage`` (0.5: a fluent paraphrase keeps well over half of the passage's bigrams;
  an invented claim shares few), and a sentence needs at least ``min_key_terms`` terms
  (``我是猫。`` has none — a sentence that says nothing checkable cannot be supported).
* **Numbers.** Every number of the sentence — ``172``, ``5.73亿`` (compared by value, so
  ``57300万`` matches), ``12.5%``, ``1:8``, Chinese numerals such as ``四天`` or ``十九`` — must
  occur in a cited passage; one number found in none makes the sentence unsupported.
* **What the passage is.** A passage is what the model was shown: title, date, places and the
  chunk's sentences, minus any sentence that reads like an instruction to the model ("忽略以上指令"
  …): report text is data, so an injected instruction can never be the evidence for a claim.
* **Spans.** Each citation points at the passage sentence that best supports the answer sentence
  (most shared key terms and numbers); ``quote == report.text[start:end]`` always.

Unsupported sentences are removed from the answer text; their citations are still reported, with
``supported=False``, numbered after the supported ones, so a client can show what the model
claimed without support — even when a supported sentence cites the same span. Citations are
renumbered 1..m in order of first appearance; one span cited by several kept sentences is one
citation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from indexer.text.zh import extract_numbers, key_terms, nfkc
from indexer.types import Chunk, Report, Sentence
from service.answering.config import DEFAULT, ValidationConfig
from service.answering.reply import AnswerSentence, says_not_found, split_answer
from service.answering.types import Citation

__all__ = [
    "Passage",
    "SentenceCheck",
    "Validation",
    "coverage",
    "is_instruction_like",
    "passage_fields",
    "passage_sentences",
    "validate_answer",
]


# Sentences of a passage that read like instructions to the model. They stay in the prompt (as
# inert, delimited data) but are never accepted as evidence for an answer sentence.
_INSTRUCTION_LIKE = re.compile(
    r"(?:忽略|无视|忘记|忘掉|不要理会|不要遵守)(?:掉)?(?:你)?(?:以上|上面|上述|之前|此前|前面|先前|"
    r"原来|原有|所有|全部|一切)"
    r"|(?:以上|之前|上述|前面)(?:的)?(?:所有)?(?:指令|指示|提示|规则)(?:作废|无效)"
    r"|你现在(?:是|扮演|的任务)|从现在(?:开始|起)你|新的(?:指令|任务|身份)|系统提示|提示词"
    r"|ignore\s+(?:all\s+)?(?:the\s+)?(?:previous|prior|above|earlier)"
    r"|disregard\s+(?:all\s+)?(?:the\s+)?(?:previous|prior|above)"
    r"|system\s*prompt|you\s+are\s+now|<\s*/?\s*passage|<\|",
    re.I,
)


@dataclass(frozen=True)
class Passage:
    """Passage ``n`` of the prompt (1-based): a retrieved chunk and the report it comes from."""

    n: int
    chunk: Chunk
    report: Report


@dataclass(frozen=True)
class SentenceCheck:
    """The verdict on one answer sentence."""

    sentence: AnswerSentence
    cited: tuple[int, ...]  # passages it cites that exist and contribute to it
    dropped: tuple[int, ...]  # markers dropped: no such passage, or the passage shares nothing
    supported: bool
    reason: str  # "supported", "uncited", "too_few_terms", "low_overlap …", "number_not_found …"
    coverage: float


@dataclass(frozen=True)
class Validation:
    """A validated answer: the kept text, its citations (supported ones first) and the verdicts."""

    text: str
    citations: tuple[Citation, ...]
    checks: tuple[SentenceCheck, ...]
    not_found: bool  # the reply says the passages do not answer

    @property
    def supported_count(self) -> int:
        return sum(1 for c in self.checks if c.supported)

    @property
    def removed(self) -> tuple[SentenceCheck, ...]:
        return tuple(c for c in self.checks if not c.supported)

    @property
    def dropped_markers(self) -> tuple[int, ...]:
        return tuple(sorted({n for c in self.checks for n in c.dropped}))


# --- key terms and numbers -------------------------------------------------------------------


def coverage(sentence_terms: frozenset[str], passage_terms: Iterable[str]) -> float:
    """Share of the sentence's key terms found in the passage terms (0.0 for no terms)."""
    if not sentence_terms:
        return 0.0
    return len(sentence_terms.intersection(passage_terms)) / len(sentence_terms)


# --- passages --------------------------------------------------------------------------------


def passage_fields(chunk: Chunk, report: Report) -> tuple[str, str, str]:
    """Title, date and places of a passage as shown to the model (empty strings when unknown)."""
    title = report.title or chunk.title
    date = str(report.meta.get("date") or "")
    places = report.meta.get("places") or ()
    places_text = places if isinstance(places, str) else "、".join(str(p) for p in places)
    return title, date, places_text


_PASSAGE_SENTENCE = re.compile(r"[^。！？!?]+(?:[。！？!?]+[”’」』）)\"']*|$)")


def passage_sentences(chunk: Chunk) -> tuple[Sentence, ...]:
    """The chunk's sentences; when the chunker gave none, split ``chunk.text`` here (offsets
    still index ``Report.text``)."""
    if chunk.sentences:
        return chunk.sentences
    found: list[Sentence] = []
    for match in _PASSAGE_SENTENCE.finditer(chunk.text):
        raw = match.group(0)
        stripped = raw.strip()
        if not stripped:
            continue
        start = chunk.start + match.start() + (len(raw) - len(raw.lstrip()))
        end = start + len(stripped)
        found.append(Sentence(start, end, re.sub(r"\s*\n\s*", "", stripped)))
    return tuple(found)


def is_instruction_like(text: str) -> bool:
    """Whether a passage sentence reads like an instruction to the model (prompt injection)."""
    return bool(_INSTRUCTION_LIKE.search(nfkc(text)))


@dataclass(frozen=True)
class _Evidence:
    passage: Passage
    header_terms: frozenset[str]
    header_numbers: frozenset[str]
    sentences: tuple[tuple[Sentence, frozenset[str], frozenset[str]], ...]
    terms: frozenset[str]
    numbers: frozenset[str]


def _evidence(passage: Passage) -> _Evidence:
    header = " ".join(passage_fields(passage.chunk, passage.report))
    header_terms, header_numbers = key_terms(header), _with_ratio_parts(extract_numbers(header))
    sentences = tuple(
        (s, key_terms(s.text), _with_ratio_parts(extract_numbers(s.text)))
        for s in passage_sentences(passage.chunk)
        if not is_instruction_like(s.text)
    )
    terms = header_terms.union(*(t for _, t, _ in sentences))
    numbers = header_numbers.union(*(n for _, _, n in sentences))
    return _Evidence(passage, header_terms, header_numbers, sentences, terms, numbers)


def _with_ratio_parts(numbers: frozenset[str]) -> frozenset[str]:
    # A passage saying 1:8 also says 1 and 8 (an answer may write 1比8 spaced out, or cite one).
    parts = {p for n in numbers if ":" in n for p in n.split(":")}
    return numbers | parts


def _best_span(
    terms: frozenset[str], numbers: frozenset[str], evidence: _Evidence
) -> tuple[int, int] | None:
    """Offsets of the passage sentence that best supports the answer sentence, or the whole
    chunk when only the header (title/date/place) supports it; ``None`` when nothing does."""
    best: tuple[int, int, int] | None = None  # (score, body-preference, -index)
    best_sentence: Sentence | None = None
    for index, (sentence, s_terms, s_numbers) in enumerate(evidence.sentences):
        score = len(terms & s_terms) + 2 * len(numbers & s_numbers)
        if score == 0:
            continue
        key = (score, 0 if sentence.kind == "caption" else 1, -index)
        if best is None or key > best:
            best, best_sentence = key, sentence
    if best_sentence is not None:
        return best_sentence.start, best_sentence.end
    if terms & evidence.header_terms or numbers & evidence.header_numbers:
        return evidence.passage.chunk.start, evidence.passage.chunk.end
    return None


# --- validation ------------------------------------------------------------------------------


def validate_answer(
    reply: str, passages: Sequence[Passage], config: ValidationConfig = DEFAULT.validation
) -> Validation:
    """Validate a generated ``reply`` against the numbered ``passages`` of its prompt.

    Returns the answer text with unsupported sentences removed and markers renumbered, its
    citations (supported ones first, then ``supported=False`` ones), and a verdict per sentence.
    """
    evidence = {p.n: _evidence(p) for p in passages}
    checks: list[SentenceCheck] = []
    spans: list[list[tuple[int, tuple[int, int]]]] = []
    for sentence in split_answer(reply):
        check, sentence_spans = _check_sentence(sentence, evidence, config)
        checks.append(check)
        spans.append(sentence_spans)

    citations: list[Citation] = []
    numbers_by_span: dict[tuple[str, int, int, bool], int] = {}

    def cite(passage_n: int, span: tuple[int, int], supported: bool) -> int:
        report = evidence[passage_n].passage.report
        key = (report.doc_id, span[0], span[1], supported)
        if key not in numbers_by_span:
            numbers_by_span[key] = len(citations) + 1
            citations.append(
                Citation(
                    n=len(citations) + 1,
                    doc_id=report.doc_id,
                    title=evidence[passage_n].passage.report.title
                    or evidence[passage_n].passage.chunk.title,
                    quote=report.text[span[0] : span[1]],
                    start=span[0],
                    end=span[1],
                    supported=supported,
                )
            )
        return numbers_by_span[key]

    paragraphs: dict[int, list[str]] = {}
    for check, sentence_spans in zip(checks, spans, strict=True):
        if not check.supported:
            continue
        refs = dict.fromkeys(cite(n, span, True) for n, span in sentence_spans)
        marks = "".join(f"[{r}]" for r in refs)
        line = paragraphs.setdefault(check.sentence.paragraph, [])
        line.append(f"{check.sentence.prefix}{check.sentence.text}{marks}")
    for check, sentence_spans in zip(checks, spans, strict=True):
        if not check.supported:
            for n, span in sentence_spans:
                cite(n, span, False)

    text = "\n".join("".join(parts) for _, parts in sorted(paragraphs.items()))
    return Validation(
        text=text,
        citations=tuple(citations),
        checks=tuple(checks),
        not_found=says_not_found(reply),
    )


def _check_sentence(
    sentence: AnswerSentence, evidence: dict[int, _Evidence], config: ValidationConfig
) -> tuple[SentenceCheck, list[tuple[int, tuple[int, int]]]]:
    terms = key_terms(sentence.text)
    numbers = extract_numbers(sentence.text)
    valid = [n for n in sentence.markers if n in evidence]
    dropped = [n for n in sentence.markers if n not in evidence]

    # Spans first. A cited passage that shares nothing with the sentence is a wrong marker; with
    # several markers, so is one whose passage covers little of it and none of its numbers.
    sentence_spans: list[tuple[int, tuple[int, int]]] = []
    for n in valid:
        span = _best_span(terms, numbers, evidence[n])
        weak = (
            len(valid) > 1
            and coverage(terms, evidence[n].terms) < config.min_marker_coverage
            and not numbers & evidence[n].numbers
        )
        if span is None or weak:
            dropped.append(n)
        else:
            sentence_spans.append((n, span))
    cited = tuple(n for n, _ in sentence_spans)

    def verdict(supported: bool, reason: str, cov: float = 0.0) -> SentenceCheck:
        return SentenceCheck(sentence, cited, tuple(dropped), supported, reason, cov)

    if says_not_found(sentence.text):
        return verdict(False, "not_found_statement"), sentence_spans
    if not cited:
        return verdict(False, "uncited"), sentence_spans
    if len(terms) < config.min_key_terms:
        return verdict(False, "too_few_terms"), sentence_spans
    passage_terms = frozenset().union(*(evidence[n].terms for n in cited))
    cov = coverage(terms, passage_terms)
    if cov < config.min_coverage:
        return verdict(False, f"low_overlap {cov:.2f} < {config.min_coverage}", cov), sentence_spans
    passage_numbers = frozenset().union(*(evidence[n].numbers for n in cited))
    missing = sorted(numbers - passage_numbers)
    if missing:
        return verdict(False, f"number_not_found {', '.join(missing)}", cov), sentence_spans
    return verdict(True, "supported", cov), sentence_spans
