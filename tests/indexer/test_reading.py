"""Decoding report files: encodings, line endings, and the files that must be refused."""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import pytest

from indexer.ingest.decode import ReadError, decode_bytes, read_text

REPORTS = Path(__file__).resolve().parents[2] / "data" / "reports"
SAMPLE = (
    "天桥区堤口路街道:\n\n党建引领创新路 亮点项目惠民生\n\n今年以来,堤口路街道“三结合一针对”。\n"
)


def test_utf8_real_report_reads_unchanged() -> None:
    path = REPORTS / "003_417ad2edf06574dc.txt"
    assert read_text(path) == path.read_bytes().decode("utf-8")


def test_utf8_bom_is_dropped() -> None:
    assert decode_bytes(codecs.BOM_UTF8 + SAMPLE.encode(), "a.txt") == SAMPLE


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_line_endings_are_normalised(newline: str) -> None:
    data = SAMPLE.replace("\n", newline).encode()
    assert decode_bytes(data, "a.txt") == SAMPLE


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_gbk_family_file_decodes(tmp_path: Path, codec: str) -> None:
    text = (REPORTS / "004_f6854607940c3363.txt").read_text(encoding="utf-8")
    path = tmp_path / f"report-{codec}.txt"
    path.write_bytes(text.encode(codec))
    assert read_text(path) == text


def test_gbk_short_text_decodes() -> None:
    assert decode_bytes("九水街道党工委荣获“干事创业好班子”荣誉称号。".encode("gbk"), "x.txt") == (
        "九水街道党工委荣获“干事创业好班子”荣誉称号。"
    )


def test_utf16_with_bom_decodes() -> None:
    assert decode_bytes(SAMPLE.encode("utf-16"), "u16.txt") == SAMPLE


def test_binary_with_nul_bytes_is_refused() -> None:
    with pytest.raises(ReadError) as info:
        decode_bytes(b"PK\x03\x04\x00\x00binary\x00data", "000.txt")
    assert str(info.value) == "000.txt: not a text file (binary data)"
    assert info.value.name == "000.txt"
    assert info.value.reason == "not a text file (binary data)"


def test_undecodable_bytes_are_refused() -> None:
    data = bytes(range(0x80, 0x100)) * 8  # not UTF-8, not GB18030, not plausible text anywhere
    with pytest.raises(ReadError, match=r"^junk\.txt: not a text file"):
        decode_bytes(data, "junk.txt")


def test_many_control_characters_are_refused() -> None:
    data = ("正文" + "\x01\x02\x03\x1b" * 20).encode()
    with pytest.raises(ReadError, match="binary"):
        decode_bytes(data, "ctl.txt")


def test_a_stray_control_character_is_tolerated() -> None:
    text = SAMPLE + "\x07"
    assert decode_bytes(text.encode(), "bell.txt") == text


@pytest.mark.parametrize("data", [b"", b"   \n\n\t  ", "\u3000\n".encode(), codecs.BOM_UTF8])
def test_empty_or_whitespace_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(data)
    with pytest.raises(ReadError, match=r"^empty\.txt: empty file"):
        read_text(path)


def test_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"^nope\.txt: cannot read file"):
        read_text(tmp_path / "nope.txt")


def test_read_error_survives_pickling() -> None:
    err = pickle.loads(pickle.dumps(ReadError("a.txt", "empty file")))
    assert (err.name, err.reason, str(err)) == ("a.txt", "empty file", "a.txt: empty file")
