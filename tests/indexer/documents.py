"""Real documents built from the bundled reports, for the reader tests: Word (python-docx),
Markdown and a web page with site chrome. (PDFs are printed by Chromium in test_readers_pdf.py.)"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

# Text that only the site chrome, page headers and footers carry: it must never reach a chunk.
CHROME = ("首页 | 新闻中心 | 专题", "分享到微信朋友圈", "版权所有 ©2021 某某新闻网 鲁ICP备0000号", "关于我们 联系我们")
DOCX_HEADER = "内部资料 注意保存"
DOCX_FOOTER = "街道党工委办公室印发"


def report_lines(path: Path) -> list[str]:
    """The non-blank lines of a bundled report: the first is its title."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_heading(line: str) -> bool:
    return len(line) <= 40 and not line.endswith(("。", "！", "？", "”", "…", "：", ":"))


def to_docx(path: Path, *, table: list[list[str]] | None = None) -> bytes:
    import docx

    lines = report_lines(path)
    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = DOCX_HEADER
    section.footer.paragraphs[0].text = DOCX_FOOTER
    document.add_heading(lines[0], 0)
    for line in lines[1:]:
        if is_heading(line):
            document.add_heading(line, 1)
        else:
            document.add_paragraph(line)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def to_markdown(path: Path) -> str:
    lines = report_lines(path)
    out = [f"# {lines[0]}", ""]
    for line in lines[1:]:
        out += [f"## {line}" if is_heading(line) else line.replace("街道", "**街道**", 1), ""]
    return "\n".join(out)


def to_html(path: Path) -> str:
    from html import escape

    lines = report_lines(path)
    body = "\n".join(
        f"<h2>{escape(line)}</h2>" if is_heading(line) else f"<p>{escape(line)}</p>" for line in lines[1:]
    )
    return f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>{escape(lines[0])}</title>
<meta property="article:published_time" content="2021-01-30"></head>
<body>
<header><nav><a href="/">{CHROME[0]}</a></nav></header>
<div class="share"><a href="#">{CHROME[1]}</a></div>
<main><article><h1>{escape(lines[0])}</h1>
{body}
</article></main>
<footer><p>{CHROME[2]}</p><p>{CHROME[3]}</p></footer>
</body></html>
"""


PDF_TITLE = "内部资料汇编"  # the page title Chromium prints in every page's running header


def to_pdf(path: Path, out: Path) -> bytes:
    """``path`` printed to PDF by headless Chromium, with its default running header (date and
    page title) and footer (file URL and 「n/N」 page numbers) on every page."""
    import subprocess
    from html import escape

    lines = report_lines(path)
    body = "".join(f"<p>{escape(line)}</p>" for line in lines[1:])
    page = out.with_suffix(".html")
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{PDF_TITLE}</title>"
        f"<style>body{{font-size:22px}}</style></head><body><h1>{escape(lines[0])}</h1>{body}</body></html>",
        encoding="utf-8",
    )
    result = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--user-data-dir={out.parent / 'chromium-profile'}",
         f"--print-to-pdf={out}", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert out.is_file(), f"Chromium printed no PDF: {result.stderr[-2000:]}"
    return out.read_bytes()


def scanned_pdf(pdf: bytes, pages: int | None = None, scale: float = 1.5) -> bytes:
    """An image-only PDF of ``pdf``'s pages (each page rendered, then saved as a picture)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    images = [document[i].render(scale=scale).to_pil().convert("RGB")
              for i in range(min(len(document), pages or len(document)))]
    document.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=72 * scale)
    return out.getvalue()


def blank_pdf(pages: int = 1) -> bytes:
    """A PDF of ``pages`` empty pages (no text layer, nothing to OCR)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    try:
        for _ in range(pages):
            document.new_page(300, 200)
        out = io.BytesIO()
        document.save(out)
    finally:
        document.close()
    return out.getvalue()


def write_mixed_corpus(corpus: Path, reports: list[Path]) -> None:
    """The bundled reports as a folder of mixed formats: the first as Word, the second as
    Markdown, the third as a web page with site chrome, the rest as .txt."""
    import shutil

    corpus.mkdir(parents=True)
    (corpus / f"{reports[0].stem}.docx").write_bytes(to_docx(reports[0]))
    (corpus / f"{reports[1].stem}.md").write_text(to_markdown(reports[1]), encoding="utf-8")
    (corpus / f"{reports[2].stem}.html").write_text(to_html(reports[2]), encoding="utf-8")
    for path in reports[3:]:
        shutil.copy(path, corpus / path.name)


def dev_hit_at_5(searcher: Any, questions: list[dict[str, Any]]) -> float:
    """Share of the dev set's answerable questions whose report is in the top 5 hits."""
    answerable = [q for q in questions if q.get("doc")]
    found = [any(h.chunk.doc_id.startswith(q["doc"]) for h in searcher.search(q["question"], top_k=5))
             for q in answerable]
    return sum(found) / len(found)
