"""The office archive of the ingestion benchmark is what it claims: Word, text PDF and scanned PDF
files of the CMRC passages, each read back by the product's readers (OCR for the scans)."""

from __future__ import annotations

from pathlib import Path

from bench.common import load_cmrc
from bench.ingestion import MIX, make_archive
from indexer.ingest.readers import ReadError, read_document
from indexer.ingest.readers.base import Limits


def _bigrams(text: str) -> set[str]:
    text = "".join(text.split())
    return {text[i : i + 2] for i in range(len(text) - 1)}


def test_the_archive_mixes_the_formats_and_every_file_reads_back_as_its_passage(tmp_path: Path) -> None:
    manifest = make_archive(tmp_path / "archive", len(MIX))
    assert [f["format"] for f in manifest] == list(MIX)
    passages = load_cmrc().reports[: len(MIX)]
    for entry, passage in zip(manifest, passages, strict=True):
        path = tmp_path / "archive" / entry["name"]
        assert entry["pages"] >= 1
        assert entry["chars"] == len(passage.title) + len(passage.text)
        text = read_document(path).text
        if entry["format"] == "scanned":
            # no text layer: without OCR the file is refused, with it OCR reads the passage
            try:
                read_document(path, Limits(ocr=False))
            except ReadError:
                pass
            else:
                raise AssertionError(f"{entry['name']} has a text layer; a scan must not")
        wanted = _bigrams(passage.text)
        assert len(wanted & _bigrams(text)) >= 0.9 * len(wanted), entry["name"]


def test_a_kept_archive_is_reused_and_a_larger_one_is_made_again(tmp_path: Path) -> None:
    first = make_archive(tmp_path / "archive", 3)
    stamp = (tmp_path / "archive" / first[0]["name"]).stat().st_mtime_ns
    assert make_archive(tmp_path / "archive", 2) == first[:2]  # a prefix of the kept one
    assert (tmp_path / "archive" / first[0]["name"]).stat().st_mtime_ns == stamp
    assert len(make_archive(tmp_path / "archive", 4)) == 4
