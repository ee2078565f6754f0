"""Would a slot rule refuse a right answer? A measurement on CMRC 2018 (issue 31, item 1).

For every question whose slot refuses when no leading sentence fills it
(``service.answering.slots.parse_slot``: a confident slot, or a 多少/几 count), the answer
sentence of its gold passage is taken: the first sentence of the indexer's splitter that holds a
gold answer, as in :mod:`bench.sentence_pick`. The check is the one the composer applies,
``fills_count`` for a count and ``slot_filled`` otherwise, and the figure is the share of those
answer sentences that pass. A rule is kept only when its share is 1.0 on TRIAL, the fitting side.
Every sentence that fails is printed. Also printed: the share of the bundled reports' sentences
that would fill 什么时候 (how often the ``when`` rule lets a sentence through).

The figures are grouped by rule:

* ``dimension``: 面积有多大, 身高是多少 (``service.answering.dimensions``);
* ``count``: 多少/几 with or without a measure word;
* ``when``: 什么时候/何时, any time expression;
* ``date``: 哪一年/几月/哪一天;
* ``person``: 姓名/哪位/叫什么名字 after a person noun;
* ``other``: any other confident slot.

    PYTHONPATH=. python -m bench.slot_fill --split TRIAL
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.common import CMRC_DIR, ROOT
from bench.sentence_pick import pick_items
from eval.data import load_beir, load_beir_corpus
from indexer.text.zh import nfkc

log = logging.getLogger(__name__)


def rule_of(question: str) -> str | None:
    """Which refusing rule judges ``question``, or None when none does."""
    from service.answering.dimensions import asked_dimension
    from service.answering.slots import asks_count, parse_slot

    q = nfkc(question)
    slot = parse_slot(q)
    if slot is None:
        return None
    if slot.kind == "quantity" and asked_dimension(q) and not slot.unit:
        return "dimension"
    if asks_count(slot, q):
        return "count"
    if not slot.confident:
        return None
    if slot.kind == "date":
        return "date" if slot.granularity else "when"
    return slot.kind if slot.kind == "person" else "other"


def fills(question: str, sentence: str) -> bool:
    """The composer's check of ``sentence`` for the slot of ``question``."""
    from service.answering.amounts import fills_count
    from service.answering.slots import asks_count, counted_thing, parse_slot, slot_filled

    q = nfkc(question)
    slot = parse_slot(q)
    if slot is None:
        return True
    if asks_count(slot, q):
        return fills_count(slot, q, counted_thing(q), sentence)
    return slot_filled(slot, sentence, q)


def bundled_when(folder: Path) -> str:
    """How many body sentences of the reports in ``folder`` would fill a 什么时候 slot."""
    from indexer.ingest.cleaning import report_sentences
    from indexer.types import Report
    from service.answering.slots import Slot, slot_filled

    sentences = [
        s.text for path in sorted(folder.glob("*.txt"))
        for s in report_sentences(Report(doc_id=path.stem, title=path.stem, text=path.read_text(encoding="utf-8")))
        if s.kind == "body" and s.text.strip()
    ]
    held = sum(slot_filled(Slot("date", confident=True), text, "") for text in sentences)
    return f"bundled reports: {held} of {len(sentences)} body sentences hold a time expression ({held / len(sentences):.3f})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slot_fill", description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="TRIAL", help="CMRC 2018 split: TRIAL (fitting side) or DEV (report only)")
    parser.add_argument("--data", type=Path, default=CMRC_DIR, help="the CMRC 2018 BEIR folder")
    parser.add_argument("--reports", type=Path, default=ROOT / "data" / "reports", help="the bundled reports")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    eval_set = load_beir(args.data, split=args.split)
    reports = {r.doc_id: r for r in load_beir_corpus(args.data)}
    items, skipped = pick_items(eval_set, reports)
    counts: dict[str, list[int]] = {}
    failures: list[str] = []
    for item in items:
        rule = rule_of(item.question)
        if rule is None:
            continue
        sentence = item.sentences[item.gold].text
        ok = fills(item.question, sentence)
        tally = counts.setdefault(rule, [0, 0])
        tally[0] += 1
        tally[1] += ok
        if not ok:
            failures.append(f"  {rule}: {item.question} | {sentence[:80]}")
    lines = [f"CMRC 2018 {args.split}: {len(items)} questions with an answer sentence ({skipped} skipped)"]
    lines += [f"  {rule:10s} {ok:4d} / {n:4d} answer sentences pass ({ok / n:.3f})"
              for rule, (n, ok) in sorted(counts.items())]
    sys.stdout.write("\n".join(lines + failures + [bundled_when(args.reports)]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
