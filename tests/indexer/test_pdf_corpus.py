"""A corpus holding a printed PDF and a scanned one retrieves the dev set as the .txt corpus does,
and answers from a PDF cite their stored text and their page."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.conftest import REPORTS_DIR
from tests.indexer.documents import PDF_TITLE, dev_hit_at_5, scanned_pdf, to_pdf

REPORTS = sorted(REPORTS_DIR.glob("*.txt"))


def test_the_dev_set_retrieves_from_pdfs_as_from_text(tmp_path: Path, embedder, searcher,  # type: ignore[no-untyped-def]
                                                      dev_questions) -> None:
    from indexer.backends.local.build import build_index
    from indexer.backends.local.store import load_index
    from indexer.ingest.readers import report_page
    from service.answering.engine import engine_for

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / f"{REPORTS[0].stem}.pdf").write_bytes(to_pdf(REPORTS[0], tmp_path / "000.pdf"))
    (corpus / f"{REPORTS[2].stem}.pdf").write_bytes(scanned_pdf(to_pdf(REPORTS[2], tmp_path / "002.pdf")))
    for path in (REPORTS[1], *REPORTS[3:]):
        shutil.copy(path, corpus / path.name)
    stats = build_index(corpus, tmp_path / "index", embedder)
    assert not stats.skipped, stats.skipped
    mixed = load_index(tmp_path / "index", embedder)
    assert mixed.reports[REPORTS[2].stem].meta["ocr_pages"]
    assert not mixed.reports[REPORTS[0].stem].meta.get("ocr_pages")
    assert dev_hit_at_5(mixed, dev_questions) == dev_hit_at_5(searcher, dev_questions) == 1.0
    for chunk in mixed.chunks:
        assert PDF_TITLE not in chunk.text and "file://" not in chunk.text
        assert not re.search(r"^\s*\d+/\d+\s*$", chunk.text, re.M)
    engine = engine_for(embedder, mixed)
    answer = engine.ask("九水街道共有多少处安全隐患被整改？", top_k=5)
    assert "172处" in answer.text
    cited = [c for c in answer.citations if c.doc_id == REPORTS[0].stem]
    assert cited and all(mixed.reports[c.doc_id].text[c.start : c.end] == c.quote for c in cited)
    assert all(c.page is not None and c.page >= 1 for c in cited)
    # OCR confidence: per page in the report, per chunk and per citation of the scanned report
    scanned = mixed.reports[REPORTS[2].stem].meta
    by_page = dict(scanned["ocr_page_confidence"])
    assert sorted(by_page) == scanned["ocr_pages"] and all(0.5 < v <= 1 for v in by_page.values())
    for chunk in mixed.chunks:
        if chunk.doc_id != REPORTS[2].stem:
            assert chunk.ocr_confidence is None, chunk.chunk_id
            continue
        pages = range(report_page(scanned, chunk.start) or 1, (report_page(scanned, chunk.end - 1) or 1) + 1)
        assert chunk.ocr_confidence == min(by_page[p] for p in pages), chunk.chunk_id
    from_scan = [c for q in dev_questions if q["doc"] == REPORTS[2].stem
                 for c in engine.ask(q["question"], top_k=5).citations if c.doc_id == REPORTS[2].stem]
    assert from_scan and all(c.ocr_confidence is not None and c.page for c in from_scan)
    assert all(c.ocr_confidence is None for c in cited)


def _holds_gold(engine, questions) -> int:  # type: ignore[no-untyped-def]
    """Dev questions answered with a text that holds one of their gold answers."""
    answers = [engine.ask(q["question"], top_k=5) for q in questions]
    return sum(1 for q, a in zip(questions, answers, strict=True)
               if q["answers"] and a.answerable and any(g in a.text for g in q["answers"]))


def test_a_corpus_of_printed_pdfs_answers_as_the_text_corpus_does(tmp_path: Path, embedder, searcher,  # type: ignore[no-untyped-def]
                                                                  dev_questions) -> None:
    """Every report printed to PDF (visual lines of ~36 characters, running header and footer):
    the cleaner rejoins the hard-wrapped lines into paragraphs, so retrieval and answers hold.
    Prints the figures the README quotes (pytest -s)."""
    from indexer.backends.local.build import build_index
    from indexer.backends.local.store import load_index
    from indexer.ingest.cleaning import report_sentences
    from service.answering.engine import engine_for

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, path in enumerate(REPORTS):
        (corpus / f"{path.stem}.pdf").write_bytes(to_pdf(path, tmp_path / f"{i}.pdf"))
    build_index(corpus, tmp_path / "index", embedder)
    printed = load_index(tmp_path / "index", embedder)
    hit5 = dev_hit_at_5(printed, dev_questions)
    held, held_txt = (_holds_gold(engine_for(embedder, s), dev_questions) for s in (printed, searcher))
    headings = sum(1 for r in printed.reports.values() for x in report_sentences(r) if x.kind == "heading")
    headings_txt = sum(1 for r in searcher.reports.values() for x in report_sentences(r) if x.kind == "heading")
    print(f"all-PDF corpus: dev Hit@5 {hit5:.2f}; answers holding the gold answer {held}/{len(dev_questions)} "
          f"(.txt corpus {held_txt}); headings {headings} (.txt corpus {headings_txt})")
    assert hit5 >= 0.9
    assert held >= held_txt - 2
    assert headings <= headings_txt + 5  # wrapped lines are not taken for headings
