"""Web pages to report text: the main text, without navigation, share buttons and footers
(trafilatura, Apache-2.0); the page title and date go into the metadata and the title also
heads the text, so the cleaner finds it as it does in a ``.txt`` report."""

from __future__ import annotations

from typing import Any

from indexer.ingest.decode import ReadError, decode_bytes
from indexer.ingest.readers.base import Extracted, compatibility_to_unified


def read_html(data: bytes, name: str) -> Extracted:
    import trafilatura

    markup = decode_bytes(data, name)
    body = trafilatura.extract(markup, output_format="txt", include_comments=False, include_tables=True,
                               include_images=False, include_links=False, favor_precision=True,
                               deduplicate=False, with_metadata=False)
    if not body or not body.strip():
        raise ReadError(name, "no main text found in this web page")
    meta: dict[str, Any] = {"format": "html"}
    found = trafilatura.extract_metadata(markup)
    title = (found.title or "").strip() if found is not None else ""
    if found is not None and found.date:
        meta["date"] = str(found.date)
    text = compatibility_to_unified(body.strip())
    if title:
        meta["title"] = title
        if not text.startswith(title):
            text = f"{title}\n\n{text}"
    # trafilatura puts one paragraph a line; a blank line between them, as the .txt reports have
    text = "\n\n".join(line.strip() for line in text.split("\n") if line.strip())
    return Extracted(text + "\n", "html", meta=meta)
