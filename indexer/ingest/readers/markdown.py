"""Markdown to report text: block by block, markup out (markdown-it-py, MIT).

Headings become lines of their own, their offsets in ``meta["headings"]`` (section context for
the chunks under them); emphasis, links, images and HTML tags are
dropped, keeping their text; list items and table rows become lines; fenced code is kept as is.
"""

from __future__ import annotations

from typing import Any

from indexer.ingest.decode import ReadError, decode_bytes
from indexer.ingest.readers.base import Extracted, block_starts, compatibility_to_unified


def read_markdown(data: bytes, name: str) -> Extracted:
    from markdown_it import MarkdownIt

    source = decode_bytes(data, name)
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    blocks: list[str] = []
    row: list[str] = []
    header: list[str] = []
    in_head = False
    title = ""
    marked: list[int] = []  # indices of heading blocks
    rows: list[int] = []  # indices of table-row blocks
    for i, token in enumerate(tokens):
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            if in_head:
                header = row
            else:
                rows.append(len(blocks))
                blocks.append(_table_row(header, row))
        elif token.type == "inline":
            text = _inline_text(token.children or [])
            if tokens[i - 1].type in ("th_open", "td_open"):
                row.append(text)
            elif text.strip():
                if tokens[i - 1].type == "heading_open":
                    title = title or text.strip()
                    marked.append(len(blocks))
                blocks.append(text)
        elif token.type in ("fence", "code_block") and token.content.strip():
            blocks.append(token.content.rstrip("\n"))
    blocks = [b.strip("\n") for b in blocks]
    text = compatibility_to_unified("\n\n".join(blocks))  # one character for one: offsets hold
    if not text.strip():
        raise ReadError(name, "no text in this Markdown file")
    meta: dict[str, Any] = {"format": "md", "headings": block_starts(blocks, marked),
                            "rows": block_starts(blocks, rows)}
    if title:
        meta["title"] = title
    return Extracted(text + "\n", "md", meta=meta)


def _inline_text(children: list[Any]) -> str:
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            continue  # alt text is not report text
    return "".join(parts)


def _table_row(header: list[str], row: list[str]) -> str:
    """「列名：值；列名：值」 so a number in a table reads with its column's name."""
    if header and len(header) == len(row):
        return "；".join(f"{h.strip()}：{v.strip()}" for h, v in zip(header, row, strict=True) if v.strip())
    return "；".join(v.strip() for v in row if v.strip())
