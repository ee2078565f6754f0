"""The corpus folder, the source of truth an index is derived from: its files and their ids.

* Scanning: :func:`scan_corpus` (file -> SHA-256), :func:`source_id` (a file's report id),
  :func:`corpus_hash`, :func:`read_reports` (the reports of some of its files, unreadable ones
  named with the reason).
* Uploads: :func:`validate_doc_id`, :func:`document_text` (the file content stored for an upload),
  :func:`default_doc_id`.
* Seeding: the bundled reports (``data/reports``) are seed data under version control: live
  writes (the HTTP write endpoints, ``zhiwen add``/``remove``) change the service's corpus folder
  (``var/reports`` by default), never the checkout. The first time zhiwen opens a corpus folder
  that does not exist, it is created as a copy of the seed folder, whole or not at all
  (:func:`seed_corpus`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.durable import fsync_dir, fsync_tree
from indexer.errors import InvalidDocument
from indexer.types import Report

if TYPE_CHECKING:
    from indexer.ingest.readers import Extracted, Limits

log = logging.getLogger(__name__)

# A report id is a file name without its extension, safe in URLs (percent-encoded) and on every
# file system: ASCII letters and digits, CJK ideographs (a Chinese file name is its own id), and
# ``_ . -`` plus the brackets and marks Chinese file names carry (（）【】《》·、—); never a path
# separator, a wildcard, a control character or a leading dot.
_ID_FIRST = "A-Za-z0-9\\u3007\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff"
_ID_OPEN = "(\\uff08\\u3010\\u300a"  # a name may start with an opening bracket: 《…》
_ID_MARKS = "_.\\-()\\uff08\\uff09\\u3010\\u3011\\u300a\\u300b\\u00b7\\u3001\\u2014"
DOC_ID_PATTERN = f"^[{_ID_FIRST}{_ID_OPEN}][{_ID_FIRST}{_ID_MARKS}]{{0,127}}$"
DOC_ID_RULE = "1-128 characters: letters, digits, Chinese characters, _ . - （）【】《》·、—, starting with a letter, digit, Chinese character or opening bracket"
_DOC_ID_RE = re.compile(DOC_ID_PATTERN)
_NOT_IN_ID = re.compile(f"[^{_ID_FIRST}{_ID_MARKS}]+")


# -- the folder -----------------------------------------------------------------------------------
def scan_corpus(corpus_dir: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every report file under ``corpus_dir``: every name a reader
    takes (``.txt .md .html .htm .docx .pdf .png .jpg .jpeg``, any case); hidden ones skipped."""
    from indexer.ingest.readers import SUFFIXES

    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    out = {}
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if (path.suffix.lower() in SUFFIXES and path.is_file()
                and not any(part.startswith(".") for part in rel.parts)):
            out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def source_id(rel_path: str) -> str:
    """Report id of a file: its stem, whatever the format (``000_x.docx`` -> ``000_x``); files
    in sub-folders keep the folder in the id (``a/b.txt`` -> ``a__b``)."""
    from indexer.ingest.readers import strip_suffix

    return strip_suffix(rel_path).replace("/", "__")


def corpus_hash(sources: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(sources.items())).encode()).hexdigest()


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file, None when it does not exist."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def parse_file(name: str, text: str, extracted: Extracted | None = None) -> list[Report]:
    """The reports of corpus file ``name`` (one, or several for a multi-report file); with the
    reader's ``extracted`` result, each report's metadata records the format and, for paged
    formats, where its pages start (offsets into the report's own text)."""
    from indexer.ingest.cleaning import parse_reports

    reports = parse_reports(source_id(name), text, source_name=name)
    if extracted is None or extracted.format == "txt":
        return reports
    out = []
    for report in reports:
        meta = dict(report.meta, format=extracted.format)
        for key in ("ocr_pages", "ocr_confidence", "ocr_page_confidence", "date"):
            if key in extracted.meta and key not in meta:
                meta[key] = extracted.meta[key]
        start = int(report.meta.get("source_offset", 0))
        end = start + len(report.text)
        for key in ("headings", "rows"):  # the file marks its headings and table rows (Word, Markdown)
            if key in extracted.meta:
                meta[key] = [h - start for h in extracted.meta[key] if start <= h < end]
        if extracted.pages:
            first = max(0, bisect.bisect_right(extracted.pages, start) - 1)
            meta["pages"] = [[max(0, p - start), n] for n, p in enumerate(extracted.pages, start=1)
                             if n - 1 >= first and p < end]
        out.append(Report(report.doc_id, report.title, report.text, meta))
    return out


def read_reports(corpus_dir: Path, names: Iterable[str], *, parsed: Mapping[str, tuple[str, list[Report]]]
                 | None = None, digests: Mapping[str, str | None] | None = None,
                 progress: Any = None, taken: Mapping[str, str] | None = None,
                 limits: Limits | None = None) -> tuple[list[Report], dict[str, str]]:
    """Read and parse corpus files ``names``: their reports and ``{name: reason}`` of the files
    that cannot be used (unreadable, or holding a report id another file has: ``taken`` maps the
    ids already in the index to their files). ``parsed`` may hold ``name -> (sha256, reports)``
    parsed already, used when ``digests`` gives the same SHA-256; ``progress`` wraps the names."""
    from indexer.ingest.readers import ReadError, read_document

    reports: list[Report] = []
    skipped: dict[str, str] = {}
    owners = dict(taken or {})
    names = list(names)
    for name in progress(names) if progress else names:
        given = (parsed or {}).get(name)
        if given is not None and digests is not None and given[0] == digests.get(name):
            found = given[1]
        else:
            try:
                extracted = read_document(Path(corpus_dir) / name, limits)
            except ReadError as exc:
                skipped[name] = exc.reason
                log.warning("skipped %s: %s", name, exc.reason)
                continue
            found = parse_file(name, extracted.text, extracted)
        clash = next((r.doc_id for r in found if owners.get(r.doc_id, name) != name), None)
        if clash is not None:
            skipped[name] = f"report id {clash!r} is taken by {owners[clash]}; rename one of the files"
            log.warning("skipped %s: %s", name, skipped[name])
            continue
        owners.update({r.doc_id: name for r in found})
        reports += found
    return reports, skipped


# -- uploads --------------------------------------------------------------------------------------
def validate_doc_id(doc_id: str) -> str:
    """``doc_id`` if it is safe as a file name and report id, else :class:`InvalidDocument`."""
    if not isinstance(doc_id, str) or not _DOC_ID_RE.fullmatch(doc_id):
        shown = doc_id if isinstance(doc_id, str) and len(doc_id) <= 80 else f"{str(doc_id)[:80]}…"
        raise InvalidDocument(
            f"invalid doc_id {shown!r}: use {DOC_ID_RULE}"
        )
    return doc_id


def doc_id_from_name(stem: str) -> str | None:
    """The report id a file named ``stem`` (no extension) gets: the name itself (NFC), blanks and
    characters an id cannot hold turned into ``_``, full-width letters, digits and brackets read
    as their ASCII forms (NFKC); ``None`` when nothing usable is left (the caller derives one from
    the content). 「海棠街道民生工作总结」 keeps its name, so a revised file with the same name replaces
    the report instead of adding a second one."""
    name = unicodedata.normalize("NFKC", stem).strip()
    name = re.sub("_+", "_", _NOT_IN_ID.sub("_", name))
    name = re.sub(f"^[^{_ID_FIRST}{_ID_OPEN}]+", "", name)[:128].rstrip("_")
    return name if name and _DOC_ID_RE.fullmatch(name) else None


def document_text(text: str, title: str | None = None) -> str:
    """The file content stored for an upload: the title as the first line (unless the text
    already starts with it), then the text; line endings normalised."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if title and title.strip() and not text.lstrip().startswith(title.strip()):
        text = f"{title.strip()}\n\n{text}"
    return text if text.endswith("\n") else text + "\n"


def default_doc_id(text: str) -> str:
    """A doc_id for an upload that names none: derived from its content, so a retried upload
    gets the same id (and answers 409 instead of storing a duplicate)."""
    return "doc_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- seeding --------------------------------------------------------------------------------------


class SeedError(OSError):
    """The seed folder cannot be copied (missing, unreadable): the message names it."""


def seed_corpus(corpus_dir: Path, seed_dir: Path | None) -> int:
    """Create ``corpus_dir`` as a copy of ``seed_dir`` when it does not exist yet.

    Returns the number of files copied (0 when the corpus folder exists, no seed folder is
    configured, or both name the same folder). The copy is staged in a hidden folder beside
    ``corpus_dir``, synced, then renamed into place, so a crash leaves no half-seeded corpus; when
    another process seeded first, its copy is kept. Hidden files of the seed are not copied.
    """
    corpus_dir = Path(corpus_dir)
    if seed_dir is None or corpus_dir.exists():
        return 0
    seed_dir = Path(seed_dir)
    if not seed_dir.is_dir():
        raise SeedError(
            f"seed folder {seed_dir} does not exist (ZHIWEN_SEED_DIR); the corpus folder "
            f"{corpus_dir} cannot be created from it"
        )
    if seed_dir.resolve() == corpus_dir.resolve():
        return 0
    corpus_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{corpus_dir.name}.seeding-", dir=corpus_dir.parent))
    try:
        copy = staging / corpus_dir.name
        shutil.copytree(seed_dir, copy, ignore=shutil.ignore_patterns(".*"))
        files = [p for p in copy.rglob("*") if p.is_file()]
        fsync_tree(copy)
        try:
            os.rename(copy, corpus_dir)
        except OSError:
            if corpus_dir.is_dir():  # another process seeded it first: keep theirs
                return 0
            raise
        fsync_dir(corpus_dir.parent)
    except OSError as exc:
        raise SeedError(f"cannot seed the corpus folder {corpus_dir} from {seed_dir}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("corpus folder %s created from %s (%d files)", corpus_dir, seed_dir, len(files))
    return len(files)
