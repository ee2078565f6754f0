"""OCR for scanned PDF pages and images: RapidOCR (PP-OCRv4 Chinese detection and recognition on
onnxruntime; the models ship inside the rapidocr-onnxruntime wheel, so nothing is downloaded).

One engine per process, created on first use; one inference at a time (the machines this runs on
have two cores, and a second concurrent inference would only contend for them). Recognised boxes
come back as lines in reading order: top to bottom, boxes on the same line left to right.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from indexer.ingest.readers.base import compatibility_to_unified

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class OcrConfig:
    """How OCR runs; each number says how it was chosen."""

    # onnxruntime intra-op threads: the target machines have 2 cores (more threads only contend,
    # fewer doubled the time of a page on the Chromium-printed reports).
    threads: int = 2
    # RapidOCR shrinks any image whose long side exceeds this (its max_side_len) before detection,
    # so PDF pages are rendered to about this size: A4 at 2000 px is ~170 dpi, where the 20 px
    # body text of the test reports is read with 98-99% character recall.
    long_side: int = 2000
    # Small pages (receipts, slides) are not blown up beyond this render scale (216 dpi).
    max_scale: float = 3.0
    # Two boxes are one line when their vertical overlap is at least this share of the shorter
    # box's height: boxes of one printed line overlap almost fully, neighbouring lines not at all,
    # and a slightly skewed scan still overlaps by well over half.
    same_line: float = 0.5
    # Boxes on one line closer than this many line heights are one run of text that the detector
    # split (joined without a space; a character both boxes cover is read once): CJK characters
    # are about one line height wide, so a wider gap is a real one (table columns) and stays a
    # space. Seen on Chromium screenshots of the reports: splits overlap by half a character.
    space_gap: float = 1.0


DEFAULT_OCR = OcrConfig()


@dataclass(frozen=True)
class OcrResult:
    """Recognised lines in reading order and the recogniser's score for each box (0–1)."""

    lines: tuple[str, ...]
    scores: tuple[float, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def confidence(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


_engine: Any = None
_ENGINE_LOCK = threading.Lock()  # guards creating the engine (loading three ONNX models)
_RUN_LOCK = threading.Lock()  # one inference at a time (RapidOCR's call also mutates the engine)


def engine(config: OcrConfig = DEFAULT_OCR) -> Any:
    """The process's RapidOCR engine, loaded on first use (about half a second)."""
    global _engine
    if _engine is None:
        with _ENGINE_LOCK:
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                threads = max(1, min(config.threads, os.cpu_count() or 1))
                _engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
    return _engine


def ocr_image(image: Image.Image, config: OcrConfig = DEFAULT_OCR) -> OcrResult:
    """The text of an image, as lines in reading order (compatibility ideographs unified)."""
    rgb = _to_rgb(image)
    ocr = engine(config)
    with _RUN_LOCK:
        found, _ = ocr(rgb)
    boxes = [(_bounds(box), str(text), float(score)) for box, text, score in found or []]
    lines, scores = reading_order(boxes, config)
    return OcrResult(tuple(compatibility_to_unified(line) for line in lines), tuple(scores))


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 (image pixels, y down)


def reading_order(
    boxes: Sequence[tuple[Box, str, float]], config: OcrConfig = DEFAULT_OCR
) -> tuple[list[str], list[float]]:
    """Lines of text from recognised boxes: grouped into lines by vertical overlap, lines top to
    bottom, boxes within a line left to right; a wide gap between two boxes stays a space.
    Returns the lines and the boxes' scores in that order."""
    rows: list[list[tuple[Box, str, float]]] = []
    for item in sorted(boxes, key=lambda b: ((b[0][1] + b[0][3]) / 2, b[0][0])):
        box = item[0]
        if rows and _same_line(rows[-1][0][0], box, config.same_line):
            rows[-1].append(item)
        else:
            rows.append([item])
    lines: list[str] = []
    scores: list[float] = []
    for row in rows:
        row.sort(key=lambda b: b[0][0])
        text = ""
        previous: Box | None = None
        for box, part, score in row:
            part = part.strip()
            if not part:
                continue
            if previous is not None:
                gap = box[0] - previous[2]
                if gap < 0:  # overlapping boxes both read the shared character
                    part = _drop_repeat(text, part)
                elif (gap > config.space_gap * min(box[3] - box[1], previous[3] - previous[1])
                      or (text[-1].isascii() and text[-1].isalnum() and part[0].isascii()
                          and part[0].isalnum())):  # or two Latin words
                    text += " "
            text += part
            scores.append(score)
            previous = box
        if text:
            lines.append(text)
    return lines, scores


def _drop_repeat(before: str, part: str, longest: int = 2) -> str:
    """``part`` without the characters at its start that end ``before`` (up to ``longest``)."""
    for n in range(min(longest, len(before), len(part) - 1), 0, -1):
        if before.endswith(part[:n]):
            return part[n:]
    return part


def _same_line(first: Box, box: Box, share: float) -> bool:
    """Whether ``box`` sits on the line that ``first`` (its top-most box) started."""
    overlap = min(first[3], box[3]) - max(first[1], box[1])
    shorter = min(first[3] - first[1], box[3] - box[1])
    return shorter > 0 and overlap >= share * shorter


def _bounds(points: Sequence[Sequence[float]]) -> Box:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for the recogniser; transparent areas become white (a transparent PNG's background is
    often black in its colour channels, which would hide black text)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
