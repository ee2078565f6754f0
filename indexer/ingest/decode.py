"""Read report files into text: the only module of the text pipeline that does I/O.

Decoding: UTF-8 (a BOM is dropped), UTF-16/32 with a BOM, else GB18030 (a superset of GBK and
GB2312) when it decodes cleanly to mostly Chinese/ASCII text, else whatever charset-normalizer
finds, under the same plausibility check. Binary data (NUL bytes, many control characters,
undecodable bytes) and empty or whitespace-only files raise :class:`ReadError` naming the file.

Line endings are normalised to ``\\n`` (``\\r\\n`` and lone ``\\r``). All offsets in the indexer
(``Report.text``, ``Sentence``, ``Chunk``) refer to this decoded, newline-normalised text, not to
the bytes on disk.
"""

from __future__ import annotations

import codecs
import logging
import unicodedata
from pathlib import Path

log = logging.getLogger(__name__)

# Share of characters that must look like text (CJK, ASCII, common punctuation) before a GB18030
# or charset-normalizer reading is believed; wrong codecs produce rare symbols and mojibake.
_MIN_TEXT_SHARE = 0.9
# A few stray control characters happen in real files; more than this share means binary.
_MAX_CONTROL_SHARE = 0.01
_ALLOWED_CONTROLS = frozenset("\n\r\t\f\v")


class ReadError(Exception):
    """A file that cannot be used as a report: ``name`` is the file name, ``reason`` says why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple[type[ReadError], tuple[str, str]]:
        # Keep the two-argument constructor working across pickling (multiprocessing, caches).
        return (type(self), (self.name, self.reason))


class OverLimit(ReadError):
    """A file over a configured limit (bytes, pages, pixels, unpacked size): refused unread."""


def _is_texty(ch: str) -> bool:
    """Whether a character is plausible in a Chinese report (used to vet a guessed encoding)."""
    code = ord(ch)
    if code < 0x80:
        return ch.isprintable() or ch in _ALLOWED_CONTROLS
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x2000 <= code <= 0x206F  # general punctuation (“ ” — …)
        or 0x2460 <= code <= 0x24FF  # enclosed numbers ①
        or 0x25A0 <= code <= 0x25FF  # geometric shapes □ ▶
        or code in (0x00A0, 0x00B7, 0x00A9, 0x00D7, 0xFEFF)  # nbsp · © × BOM
    )


def _text_share(text: str) -> float:
    """Share of characters of ``text`` that look like report text."""
    if not text:
        return 0.0
    return sum(1 for ch in text if _is_texty(ch)) / len(text)


def _control_count(text: str) -> int:
    """Number of control characters other than ordinary whitespace."""
    return sum(1 for ch in text if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc")


def _decode(data: bytes, name: str) -> str:
    """Decode ``data`` with the first plausible encoding, or raise :class:`ReadError`."""
    # A BOM is decisive, and UTF-16/32 legitimately contain NUL bytes, so check them first
    # (UTF-32-LE's BOM starts with UTF-16-LE's).
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise ReadError(name, f"not a text file (bad {codec}: {exc.reason})") from exc
    if b"\x00" in data:
        raise ReadError(name, "not a text file (binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _text_share(text) >= _MIN_TEXT_SHARE:
        log.debug("%s: decoded as GB18030", name)
        return text
    # Last resort (Big5, Latin-1 …): charset-normalizer's best guess, vetted the same way.
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        guess = str(best)
        if _text_share(guess) >= _MIN_TEXT_SHARE:
            log.debug("%s: decoded as %s (charset-normalizer)", name, best.encoding)
            return guess
    raise ReadError(name, "not a text file (binary data)")


def decode_bytes(data: bytes, name: str) -> str:
    """Decode a report file's bytes to text with ``\\n`` line endings.

    ``name`` only labels errors. Raises :class:`ReadError` for binary, undecodable or empty data.
    """
    if not data.strip():
        raise ReadError(name, "empty file")
    text = _decode(data, name)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):  # BOM left by the UTF-16/32 codecs or charset-normalizer
        text = text[1:]
    if not text.strip():
        raise ReadError(name, "empty file (whitespace only)")
    if _control_count(text) > max(2, int(len(text) * _MAX_CONTROL_SHARE)):
        raise ReadError(name, "not a text file (binary data)")
    return text


def read_text(path: Path) -> str:
    """Read and decode one report file; see :func:`decode_bytes`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReadError(Path(path).name, f"cannot read file ({exc.strerror or exc})") from exc
    return decode_bytes(data, Path(path).name)
