"""Real documents built from the bundled reports, for the reader tests: Word (python-docx),
Markdown and a web page with site chrome. (PDFs are printed by Chromium in test_readers_pdf.py.)"""

from __future__ import annotations

import io
from pathlib import Path

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
