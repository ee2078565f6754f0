"""Regenerate ``indexer/text/radicals.py`` from Unicode's ``EquivalentUnifiedIdeograph.txt``.

The file is part of the Unicode Character Database; take it from a released version, e.g.::

    curl -O https://www.unicode.org/Public/17.0.0/ucd/EquivalentUnifiedIdeograph.txt
    python scripts/radicals_table.py EquivalentUnifiedIdeograph.txt --out indexer/text/radicals.py

(The UCD files are also in github.com/unicode-org/unicodetools under
``unicodetools/data/ucd/<version>/``.) Only the entries for the CJK Radicals Supplement and the
Kangxi Radicals are kept, and the script refuses a file whose mapping is not one code point to
one CJK unified ideograph, or whose Kangxi entries disagree with NFKC: the reader relies on both.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
import unicodedata
from pathlib import Path

log = logging.getLogger("radicals_table")

# The blocks the table covers: CJK Radicals Supplement and Kangxi Radicals.
BLOCKS = ((0x2E80, 0x2EFF), (0x2F00, 0x2FDF))
# The CJK Unified Ideographs blocks (main and extensions A to J) of Blocks-17.0.0.txt: Python's
# own Unicode database may be older than the file and not know a target (U+2B739 is 15.0).
UNIFIED_BLOCKS = (
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0x2EBF0, 0x2EE5F), (0x30000, 0x3134F),
    (0x31350, 0x323AF), (0x323B0, 0x3347F),
)
_ENTRY = re.compile(r"^([0-9A-F]{4,6})(?:\.\.([0-9A-F]{4,6}))?\s*;\s*([0-9A-F]{4,6})\s*(?:#.*)?$")
_VERSION = re.compile(r"^# EquivalentUnifiedIdeograph-(\d+\.\d+\.\d+)\.txt")

# Unicode License v3 (https://www.unicode.org/license.txt): its permission notice must travel
# with the data. The copyright line is taken from the data file itself.
LICENSE = """\
UNICODE LICENSE V3

COPYRIGHT AND PERMISSION NOTICE

{copyright}

NOTICE TO USER: Carefully read the following legal agreement. BY
DOWNLOADING, INSTALLING, COPYING OR OTHERWISE USING DATA FILES, AND/OR
SOFTWARE, YOU UNEQUIVOCALLY ACCEPT, AND AGREE TO BE BOUND BY, ALL OF THE
TERMS AND CONDITIONS OF THIS AGREEMENT. IF YOU DO NOT AGREE, DO NOT
DOWNLOAD, INSTALL, COPY, DISTRIBUTE OR USE THE DATA FILES OR SOFTWARE.

Permission is hereby granted, free of charge, to any person obtaining a
copy of data files and any associated documentation (the "Data Files") or
software and any associated documentation (the "Software") to deal in the
Data Files or Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, and/or sell
copies of the Data Files or Software, and to permit persons to whom the
Data Files or Software are furnished to do so, provided that either (a)
this copyright and permission notice appear with all copies of the Data
Files or Software, or (b) this copyright and permission notice appear in
associated Documentation.

THE DATA FILES AND SOFTWARE ARE PROVIDED "AS IS", WITHOUT WARRANTY OF ANY
KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT OF
THIRD PARTY RIGHTS.

IN NO EVENT SHALL THE COPYRIGHT HOLDER OR HOLDERS INCLUDED IN THIS NOTICE
BE LIABLE FOR ANY CLAIM, OR ANY SPECIAL INDIRECT OR CONSEQUENTIAL DAMAGES,
OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS,
WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION,
ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THE DATA
FILES OR SOFTWARE.

Except as contained in this notice, the name of a copyright holder shall
not be used in advertising or otherwise to promote the sale, use or other
dealings in these Data Files or Software without prior written
authorization of the copyright holder.

SPDX-License-Identifier: Unicode-3.0"""


def in_blocks(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in BLOCKS)


def is_unified_block(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in UNIFIED_BLOCKS)


def parse(text: str) -> dict[int, int]:
    """The file's mappings (ranges expanded) for code points in :data:`BLOCKS`."""
    table: dict[int, int] = {}
    for line in text.splitlines():
        found = _ENTRY.match(line.strip())
        if not found:
            continue
        first = int(found.group(1), 16)
        last = int(found.group(2) or found.group(1), 16)
        target = int(found.group(3), 16)
        table.update((code, target) for code in range(first, last + 1) if in_blocks(code))
    return table


def check(table: dict[int, int]) -> list[str]:
    """Why the table cannot be used as a length-preserving fix (empty when it can)."""
    problems = []
    for code, target in sorted(table.items()):
        name = unicodedata.name(chr(target), "")
        if not (name.startswith("CJK UNIFIED IDEOGRAPH-") or (not name and is_unified_block(target))):
            problems.append(f"U+{code:04X} -> U+{target:04X} is not a CJK unified ideograph ({name!r})")
        folded = unicodedata.normalize("NFKC", chr(code))
        if folded != chr(code) and folded != chr(target):
            problems.append(f"U+{code:04X}: the file says U+{target:04X}, NFKC says {folded!r}")
    if not any(0x2E80 <= code <= 0x2EFF for code in table) or not any(code >= 0x2F00 for code in table):
        problems.append("no CJK Radicals Supplement or no Kangxi Radicals entries found")
    return problems


def header_field(text: str, prefix: str) -> str:
    for line in text.splitlines()[:10]:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise ValueError(f"no {prefix!r} line in the file's header")


def render(text: str, table: dict[int, int]) -> str:
    """The Python module holding ``table``, with its source, version and licence."""
    version_line = _VERSION.match(text)
    if not version_line:
        raise ValueError("the first line does not name EquivalentUnifiedIdeograph-<version>.txt")
    version = version_line.group(1)
    date = header_field(text, "# Date:")
    copyright_line = header_field(text, "# ©").replace("Unicode®", "Unicode")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    supplement = sum(1 for code in table if code < 0x2F00)
    notice = LICENSE.format(copyright=f"Copyright © {copyright_line}")
    lines = [
        '"""Equivalent unified ideographs of the CJK radicals (generated by',
        "scripts/radicals_table.py; do not edit).",
        "",
        f"Source: EquivalentUnifiedIdeograph-{version}.txt (date {date}) of the Unicode Character",
        f"Database, https://www.unicode.org/Public/{version}/ucd/EquivalentUnifiedIdeograph.txt",
        f"(sha256 {digest}):",
        f"its {supplement} CJK Radicals Supplement (U+2E80–2EFF) and {len(table) - supplement} Kangxi "
        "Radicals (U+2F00–2FDF) entries.",
        "Regenerate with::",
        "",
        "    python scripts/radicals_table.py EquivalentUnifiedIdeograph.txt --out indexer/text/radicals.py",
        '"""',
        "",
        *(f"# {line}".rstrip() for line in notice.splitlines()),
        "",
        "from __future__ import annotations",
        "",
        f'UNICODE_VERSION = "{version}"',
        "",
        "# radical code point -> equivalent CJK unified ideograph",
        "EQUIVALENT_UNIFIED: dict[int, int] = {",
    ]
    for code, target in sorted(table.items()):
        name = unicodedata.name(chr(code), "")
        lines.append(f"    0x{code:04X}: 0x{target:04X},  # {chr(code)} {chr(target)} {name}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="EquivalentUnifiedIdeograph.txt of a UCD release")
    parser.add_argument("--out", type=Path, default=Path("indexer/text/radicals.py"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    text = args.source.read_text(encoding="utf-8")
    table = parse(text)
    problems = check(table)
    if problems:
        for problem in problems:
            log.error("%s", problem)
        return 1
    args.out.write_text(render(text, table), encoding="utf-8")
    log.info("wrote %d entries to %s", len(table), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
