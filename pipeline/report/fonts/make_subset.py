"""Rebuild the shipped CJK font: Noto Sans CJK SC Regular cut down to the characters Chinese posts use.

Reports are drawn by matplotlib, which draws a box for every glyph its font lacks; a font ships with the package
so a report renders the same on any machine. The full face is 16 MB; this keeps GB 2312 (6,763 hanzi), the
traditional forms of its 3,755 common ones (through OpenCC, since posts come in both scripts), ASCII, Latin-1 and CJK/full-width
punctuation — about 2.5 MB. Source: Debian's ``fonts-noto-cjk`` (SIL Open Font License 1.1, see OFL.txt).

    apt-get install fonts-noto-cjk   # fontTools comes with matplotlib
    python -m pipeline.report.fonts.make_subset
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
TARGET = HERE / "NotoSansCJKsc-Regular-subset.otf"


def characters() -> str:
    """GB 2312 row by row, their traditional forms, and the Latin and punctuation blocks."""
    from opencc import OpenCC

    hanzi = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                hanzi.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    simplified = "".join(hanzi)
    # GB 2312's first level (rows 16-55) holds the 3,755 common hanzi: their traditional forms matter, those of
    # the rare second level would double the file for characters a post almost never has
    common = "".join(h for h in hanzi if h.encode("gb2312")[0] < 0xD8)
    traditional = OpenCC("s2t").convert(common)
    symbols = "".join(
        bytes([hi, lo]).decode("gb2312", errors="ignore") for hi in range(0xA1, 0xB0) for lo in range(0xA1, 0xFF)
    )
    blocks = [
        (0x20, 0x7E),
        (0xA0, 0xFF),
        (0x2000, 0x206F),
        (0x2190, 0x21FF),
        (0x2460, 0x24FF),
        (0x25A0, 0x25FF),
        (0x3000, 0x303F),
        (0xFF00, 0xFFEF),
    ]
    latin = "".join(chr(c) for lo, hi in blocks for c in range(lo, hi + 1))
    return "".join(sorted(set(simplified + traditional + symbols + latin)))


def main() -> int:
    from fontTools import subset

    if not SOURCE.exists():
        print(f"{SOURCE} not found: apt-get install fonts-noto-cjk", file=sys.stderr)
        return 2
    text = characters()
    # face 2 of the collection is Simplified Chinese (JP, KR, SC, TC, HK)
    subset.main(
        [
            str(SOURCE),
            "--font-number=2",
            f"--text={text}",
            f"--output-file={TARGET}",
            "--notdef-outline",
            "--no-hinting",
        ]
    )
    print(f"{TARGET.name}: {len(text)} characters, {TARGET.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
