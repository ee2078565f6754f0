"""Read a generated reply: its sentences, the citation markers of each, and whether it says that
the passages do not answer (pure functions; :mod:`.validate` checks what the sentences claim).

``[1]``, ``[1][2]``, ``[1,2]``, ``[1-3]``, full-width ``［1］`` and ``【1】`` are understood as
markers; a marker written right after a sentence's end belongs to that sentence, so "……被整改。[1]"
and "……被整改[1]。" are the same sentence. Reasoning blocks (``<think>…</think>``) are removed
before any of that, also from a stream (:class:`ThinkFilter`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.answering.types import NOT_FOUND

# Replies meaning "the passages do not answer" (the prompt asks for NOT_FOUND verbatim; models
# sometimes paraphrase it).
NOT_FOUND_PHRASES = (NOT_FOUND, "资料中没有找到", "资料中未提及", "资料中没有提到", "资料未提及")

_MARKER_SRC = r"[\[［【]\s*(\d{1,3}(?:\s*[,，、;；\-–—~～]\s*\d{1,3})*)\s*[\]］】]"
_MARKER = re.compile(_MARKER_SRC)
_MARKER_SPLIT = re.compile(r"\s*[,，、;；]\s*")
_MARKER_RANGE = re.compile(r"^(\d+)\s*[\-–—~～]\s*(\d+)$")
_MAX_RANGE = 20

# A sentence ends at 。！？!? (plus closing quotes/brackets), and the markers written after it
# still belong to it: "……被整改。[1]" and "……被整改[1]。" are the same sentence.
_SENTENCE_END = re.compile(rf"[。！？!?]+[”’」』）)\"']*(?:[ \t]*{_MARKER_SRC})*")
_LIST_PREFIX = re.compile(
    r"^\s*(?:[-*•·]\s+|\d{1,2}(?:\.(?!\d)|[、)）])\s*|[（(]\d{1,2}[)）]\s*|#{1,6}\s+)"
)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([。！？!?，,；;：:、）)”’])")
_HAS_CONTENT = re.compile(r"[\w\u3400-\u9fff]")


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of a generated answer, split from its citation markers."""

    paragraph: int
    prefix: str  # list marker kept in front of the sentence ("1. ", "- "); not checked
    text: str  # the sentence without markers
    markers: tuple[int, ...]  # numbers as written, in order, without repeats


def parse_markers(sentence: str) -> tuple[str, tuple[int, ...]]:
    """Split ``sentence`` into its text without citation markers and the marker numbers (in
    order, without repeats). ``"被整改[1]。[2,3]"`` → ``("被整改。", (1, 2, 3))``."""
    numbers: list[int] = []
    for match in _MARKER.finditer(sentence):
        for part in _MARKER_SPLIT.split(match.group(1)):
            numbers.extend(_marker_numbers(part))
    text = _MARKER.sub("", sentence)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()
    return text, tuple(dict.fromkeys(numbers))


def _marker_numbers(part: str) -> list[int]:
    part = part.strip()
    if not part:
        return []
    ranged = _MARKER_RANGE.match(part)
    if ranged:
        low, high = int(ranged.group(1)), int(ranged.group(2))
        if low <= high and high - low < _MAX_RANGE:
            return list(range(low, high + 1))
        return [low, high]
    return [int(part)]  # \d in the pattern: int() also reads full-width digits


def split_answer(text: str) -> list[AnswerSentence]:
    """Split a generated answer into sentences (at 。！？!? and line breaks), each with the
    citation markers written in or right after it."""
    sentences: list[AnswerSentence] = []
    paragraph = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        prefix_match = _LIST_PREFIX.match(line)
        prefix = prefix_match.group(0).lstrip() if prefix_match else ""
        body = line[prefix_match.end() :] if prefix_match else line
        pieces: list[str] = []
        pos = 0
        for end in _SENTENCE_END.finditer(body):
            pieces.append(body[pos : end.end()])
            pos = end.end()
        if body[pos:].strip():
            pieces.append(body[pos:])
        first = True
        for piece in pieces:
            sentence_text, markers = parse_markers(piece)
            if not _HAS_CONTENT.search(sentence_text):
                # A stray marker after the sentence end ("。 [2]") belongs to the sentence before.
                if markers and sentences and sentences[-1].paragraph == paragraph:
                    last = sentences[-1]
                    merged = tuple(dict.fromkeys(last.markers + markers))
                    sentences[-1] = AnswerSentence(last.paragraph, last.prefix, last.text, merged)
                continue
            sentences.append(
                AnswerSentence(paragraph, prefix if first else "", sentence_text, markers)
            )
            first = False
        paragraph += 1
    return sentences


def says_not_found(text: str) -> bool:
    """Whether the reply states that the passages do not answer the question."""
    return any(phrase in text for phrase in NOT_FOUND_PHRASES)


class ThinkFilter:
    """Removes ``<think>…</think>`` reasoning blocks (DeepSeek-R1, Qwen3 on Ollama/vLLM without
    a reasoning parser) from streamed text, holding back a tag split across deltas."""

    _OPEN = "<think>"
    _CLOSE = "</think>"

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False

    def feed(self, delta: str) -> str:
        self._buffer += delta
        out: list[str] = []
        while True:
            tag = self._CLOSE if self._inside else self._OPEN
            at = self._buffer.find(tag)
            if at >= 0:
                if not self._inside:
                    out.append(self._buffer[:at])
                self._buffer = self._buffer[at + len(tag) :]
                self._inside = not self._inside
                continue
            keep = _partial_suffix(self._buffer, tag)
            ready = self._buffer[: len(self._buffer) - keep]
            if not self._inside:
                out.append(ready)
            self._buffer = self._buffer[len(self._buffer) - keep :]
            return "".join(out)

    def flush(self) -> str:
        rest = "" if self._inside else self._buffer
        self._buffer = ""
        return rest


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def strip_think(text: str) -> str:
    """``text`` without its ``<think>…</think>`` blocks."""
    think = ThinkFilter()
    return think.feed(text) + think.flush()
