"""Answers about several reports: lists (「哪些街道开展了拆迁工作？」) and comparisons (「九水街道和
湖岛街道哪个整改的隐患更多？」). No model of their own: each part is the single-fact answer to the
question asked of one report (or one side), decided exactly as a fact answer is
(``service.answering.extractive``: the slot rule and the fitted answerability model), so a report
is listed only when its best sentence states the thing, and never by a heading.

* A list retrieves a pool of passages once, groups them by report, and asks each of the leading
  reports 「<its place>开展了拆迁工作？」 over its own passages. The answer says how many of the
  reports it read state it, then one line per report: its place (or title), its cited sentences.
* A comparison asks each side its own question (「九水街道整改的隐患有多少？」) over the reports about
  it, quotes both, and says which is more (or earlier) only when both quotes state an amount of the
  same unit (or a year); otherwise it says why it cannot.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from indexer.text.zh import PLACE_SUFFIXES, nfkc
from indexer.types import Hit, Report
from service.answering.amounts import head_noun, stated_amounts, unit_class
from service.answering.kinds import QuestionShape, for_report, for_side
from service.answering.quoting import shown
from service.answering.types import NOT_FOUND, Answer, Citation, Group

# (question, passages) -> the fact answer one report or side gives
Judge = Callable[[str, Sequence[Hit]], Answer]
# (side, its question, passages) -> the answer one side of a comparison gives
SideJudge = Callable[[str, str, Sequence[Hit]], Answer]
# (query, top_k, reports within) -> passages
Search = Callable[[str, int, Collection[str] | None], list[Hit]]


@dataclass(frozen=True)
class MultiConfig:
    pool: int = 40  # passages retrieved to find the reports a list question may be about
    max_reports: int = 10  # reports judged per list question (the leading ones of the pool)
    per_report: int = 20  # passages of each report its own question is judged on


DEFAULT = MultiConfig()
_YEAR_MONTH = re.compile(r"(\d{4})\s*年(?:\s*(\d{1,2})\s*月)?(?:\s*(\d{1,2})\s*[日号])?")


def report_place(report: Report, level: str = "") -> str:
    """The place a report is about, as a list names it: of its places (``meta["places"]``), one
    named in its title and of the asked ``level`` (街道) first, then the finest (a 社区 before
    its 街道 before its 区); "" when it names none."""
    places = [str(p) for p in report.meta.get("places") or [] if p]
    def rank(p: str) -> tuple[bool, bool, int, int]:
        fineness = next((i for i, s in enumerate(PLACE_SUFFIXES) if p.endswith(s)), len(PLACE_SUFFIXES))
        return (p not in report.title, not (level and p.endswith(level)), fineness, places.index(p))
    return min(places, key=rank) if places else ""


def compose_list(
    question: str,
    shape: QuestionShape,
    pool: Sequence[Hit],
    reports: Mapping[str, Report],
    judge: Judge,
    *,
    top_k: int,
    in_scope: int,
    search: Search | None = None,
    config: MultiConfig = DEFAULT,
) -> Answer:
    """The list answer to ``question`` from the passages ``pool`` (best first) of ``in_scope``
    reports: each leading report's own fact answer (``judge``), kept when it answers. With
    ``search``, each leading report's passages are retrieved for its own question, within it
    (the pool only chooses the reports)."""
    order: list[str] = []
    by_report: dict[str, list[Hit]] = {}
    for hit in pool:
        doc = hit.chunk.doc_id
        if doc not in by_report:
            if len(order) >= config.max_reports or doc not in reports:
                continue
            order.append(doc)
            by_report[doc] = []
        if len(by_report[doc]) < top_k:
            by_report[doc].append(hit)
    parts: list[tuple[Report, str, Answer]] = []
    for doc in order:
        report = reports[doc]
        place = report_place(report, shape.level)
        asked = for_report(question, shape, place)
        hits = search(asked, config.per_report, [doc]) if search is not None else by_report[doc]
        answer = judge(asked, hits or by_report[doc])
        if answer.answerable and answer.citations:
            parts.append((report, place, answer))
    read = len(order)
    if not parts:
        scope = f"已查看 {read} 份报告" if read else "没有相关报告"
        text = f"{NOT_FOUND}明确说到这一点的报告（{scope}）。以下是最接近的段落，供参考。"
        return Answer(text, False, (), tuple(pool[:top_k]), kind="list")
    head = (f"{in_scope} 份报告中有 {len(parts)} 份提到：" if read >= in_scope
            else f"在最相关的 {read} 份报告中，有 {len(parts)} 份提到：")
    return _grouped(head, [(r, p or r.title, a) for r, p, a in parts], kind="list")


def compose_comparison(
    question: str,
    shape: QuestionShape,
    reports: Mapping[str, Report],
    search: Search,
    judge_side: SideJudge,
    *,
    top_k: int,
    within: Collection[str] | None,
) -> Answer:
    """Both sides of a comparison quoted, each from the reports about it, and which is more (or
    earlier) when both quotes state it in the same unit."""
    sides: list[tuple[str, str, Answer]] = []
    for side in shape.sides:
        asked = for_side(question, shape, side)
        about = [d for d, r in reports.items() if _about(side, r) and (within is None or d in within)]
        answer = judge_side(side, asked, search(asked, top_k, about or within))
        sides.append((side, asked, answer))
    answered = [(side, asked, a) for side, asked, a in sides if a.answerable and a.citations]
    if not answered:
        hits = tuple(h for _, _, a in sides for h in a.passages)
        text = f"{NOT_FOUND}{'和'.join(shape.sides)}可供比较的内容。以下是最接近的段落，供参考。"
        return Answer(text, False, (), hits, kind="comparison")
    parts = [(reports[a.citations[0].doc_id], side, a) for side, _, a in answered]
    answer = _grouped("", parts, kind="comparison")
    verdict = _verdict(shape, sides, answer)
    text = answer.text + "\n" + verdict
    return dataclasses.replace(answer, text=text)


def by_report(answer: Answer, kind: str, reports: Mapping[str, Report]) -> Answer:
    """An LLM's answer to a list or comparison question, its citations grouped by report (in the
    order the answer first cites them)."""
    order: dict[str, list[int]] = {}
    for c in answer.citations:
        order.setdefault(c.doc_id, []).append(c.n)
    groups = tuple(
        Group(doc, reports[doc].title if doc in reports else doc,
              tuple(_places(reports[doc])) if doc in reports else (), tuple(ns))
        for doc, ns in order.items()
    )
    return dataclasses.replace(answer, kind="list" if kind == "list" else "comparison", groups=groups)


def _about(side: str, report: Report) -> bool:
    places = [str(p) for p in report.meta.get("places") or []]
    return side in report.title or side in places


def _verdict(shape: QuestionShape, sides: Sequence[tuple[str, str, Answer]], answer: Answer) -> str:
    """The sentence that compares: only from what both quotes state."""
    missing = [side for side, _, a in sides if not (a.answerable and a.citations)]
    if missing:
        return f"{NOT_FOUND}{'、'.join(missing)}的相应内容，无法比较。"
    values: list[tuple[str, tuple[float, ...], str, str, str]] = []  # side, value, shown, unit, [n]
    for (side, _, _), group in zip(sides, answer.groups, strict=True):
        # the first quoted sentence stating one amount of the thing (the verdict cites it)
        found: dict[tuple[tuple[float, ...], str, str], str] = {}
        for c in answer.citations:
            if c.n in group.citations:
                got = _when(c.quote) if shape.asks_time else _amount(c.quote, shape.compared)
                if got is not None:
                    found[got] = f"[{c.n}]"
                    break
        if not found:
            what = "日期" if shape.asks_time else f"{shape.compared}的数字"
            return f"所引内容中没有{side}可直接比较的{what}，请查看原文。"
        (value, shown_value, unit), marker = next(iter(found.items()))
        values.append((side, value, shown_value, unit, marker))
    (a_side, a_value, a_shown, a_unit, a_n), (b_side, b_value, b_shown, b_unit, b_n) = values
    if a_unit != b_unit:
        return f"两处所引数字的单位不同（{a_shown}、{b_shown}），无法直接比较。"
    markers = a_n + b_n
    if a_value == b_value:
        return f"按所引{'日期' if shape.asks_time else '数字'}，{a_side}（{a_shown}）与{b_side}（{b_shown}）相同{markers}。"
    if shape.asks_time:
        first, second = ((a_side, a_shown), (b_side, b_shown)) if a_value < b_value else ((b_side, b_shown), (a_side, a_shown))
        return f"按所引日期，{first[0]}（{first[1]}）早于{second[0]}（{second[1]}）{markers}。"
    more, less = ((a_side, a_shown), (b_side, b_shown)) if a_value > b_value else ((b_side, b_shown), (a_side, a_shown))
    return f"按所引数字，{more[0]}（{more[1]}）多于{less[0]}（{less[1]}）{markers}。"


def _amount(text: str, compared: str) -> tuple[tuple[float, ...], str, str] | None:
    """The one amount of the compared thing ``text`` states (right beside it, else with a few
    modifiers between: 11个社区 before 9个为村改居社区); none when it names no thing or states
    several equally close (which one is compared would be a guess)."""
    thing = head_noun(compared)
    if not thing:
        return None
    found: list[tuple[float, str]] = []
    for near in (0, 4):
        found = list(dict.fromkeys(stated_amounts(text, thing, near)))
        if found:
            break
    if len(found) != 1:
        return None
    value, unit = found[0]
    shown = f"{value:g}{unit}"
    return (value,), shown, unit_class(unit)


def _when(text: str) -> tuple[tuple[float, ...], str, str] | None:
    m = _YEAR_MONTH.search(nfkc(text))
    if m is None:
        return None
    parts = tuple(float(g) for g in m.groups() if g is not None)
    return parts, m.group(0).replace(" ", ""), "date" + str(len(parts))


def _grouped(head: str, parts: Sequence[tuple[Report, str, Answer]], *, kind: str) -> Answer:
    """One answer of the parts' citations renumbered in order, a line per part: 「1. 九水街道：…[1]」."""
    citations: list[Citation] = []
    groups: list[Group] = []
    lines = [head] if head else []
    hits: list[Hit] = []
    confidences = [a.confidence for _, _, a in parts if a.confidence is not None]
    for i, (report, label, answer) in enumerate(parts, 1):
        numbers: list[int] = []
        quotes: list[str] = []
        for c in answer.citations:
            n = len(citations) + 1
            citations.append(dataclasses.replace(c, n=n))
            numbers.append(n)
            quotes.append(shown(c.quote) + f"[{n}]")
        # the place the line names first, then the report's other places
        places = [label] + [p for p in _places(report) if p != label] if label != report.title else _places(report)
        groups.append(Group(report.doc_id, report.title, tuple(places), tuple(numbers)))
        prefix = f"{i}. " if kind == "list" else ""
        lines.append(f"{prefix}{label}：{''.join(quotes)}")
        # the passages that hold the quoted sentences: the evidence an LLM is given, report by report
        cited = sorted((h for h in answer.passages if any(_holds(h, c) for c in answer.citations)),
                       key=lambda h: h.chunk.start)  # in source order, as the quotes are
        hits.extend(h for h in cited or answer.passages[:1] if h not in hits)
    return Answer("\n".join(lines), True, tuple(citations), tuple(hits),
                  confidence=min(confidences) if confidences else None,
                  kind="list" if kind == "list" else "comparison", groups=tuple(groups))


def _holds(hit: Hit, c: Citation) -> bool:
    chunk = hit.chunk
    return chunk.doc_id == c.doc_id and chunk.start <= c.start < chunk.end


def _places(report: Report) -> list[str]:
    return [str(p) for p in report.meta.get("places") or [] if p]
