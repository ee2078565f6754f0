"""Images (PNG, JPEG: photos and screenshots of reports) to report text by OCR (:mod:`.ocr`).

The pixel count is read from the file's header and checked before anything is decoded, so an
image bomb (a few kilobytes that decode to gigabytes) is refused, not unpacked. Pillow's own
``Image.open`` is not used for the header: it rejects images over its built-in limit with a
message that does not give the size.
"""

from __future__ import annotations

import io
from typing import Any

from indexer.ingest.decode import OverLimit, ReadError
from indexer.ingest.readers.base import Extracted, Limits


def read_image(data: bytes, name: str, limits: Limits) -> Extracted:
    """The OCR text of a PNG or JPEG image, lines in reading order; ``meta["ocr_confidence"]`` is
    the recogniser's mean score of its lines."""
    if not limits.ocr:
        raise ReadError(name, "an image is read by OCR, and OCR is off")
    width, height = image_size(data, name)
    if width * height > limits.max_pixels:
        raise OverLimit(name, f"image too large: {width}×{height} pixels, "
                              f"limit {limits.max_pixels:,} pixels")
    image = _decode(data, name)
    from indexer.ingest.readers.ocr import ocr_image

    result = ocr_image(image)
    if not result.text.strip():
        raise ReadError(name, "no text found in this image (OCR)")
    meta: dict[str, Any] = {"format": "image", "ocr_confidence": round(result.confidence or 0.0, 4)}
    return Extracted(result.text, "image", meta=meta)


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """Width and height from a PNG or JPEG header, without decoding the pixels."""
    from PIL import JpegImagePlugin, PngImagePlugin

    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        header: Any = PngImagePlugin.PngImageFile
    elif data.startswith(b"\xff\xd8\xff"):
        header = JpegImagePlugin.JpegImageFile
    else:
        raise ReadError(name, "not a PNG or JPEG image")
    try:
        # The plugin class parses the header only (and skips Image.open's decompression-bomb
        # check, which would refuse the largest images without saying their size).
        with header(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ReadError(name, f"not a readable image ({exc})") from exc
    return int(width), int(height)


def _decode(data: bytes, name: str) -> Any:
    """The decoded image, turned upright as its EXIF orientation says (phone photos)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return upright if upright is not image else image.copy()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ReadError(name, f"not a readable image ({exc})") from exc
