"""The CJK font reports are drawn with, and the check that one is there.

matplotlib draws a box (tofu) for every character its font lacks, silently. So a report never starts without a
font that has Chinese: the shipped Noto Sans CJK SC subset (OFL.txt), or ``LINGTING_REPORT_FONT`` (a path to
any .otf/.ttf/.ttc with CJK). Characters that no configured font has (emoji, rare hanzi) are left out of the
static images (:func:`drawable`), never drawn as boxes; the HTML report keeps them (the browser has fallbacks).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from schemas.errors import LingtingError

HERE = Path(__file__).resolve().parent
SHIPPED = HERE / "NotoSansCJKsc-Regular-subset.otf"
#: a character every CJK font has: a font without it cannot draw Chinese
PROBE = "中"


class FontMissing(LingtingError):
    pass


def cjk_font(path: str | None = None) -> tuple[str, frozenset[int]]:
    """Register the font with matplotlib; returns (family name, code points it has). Raises FontMissing."""
    return _load(str(path or os.environ.get("LINGTING_REPORT_FONT") or SHIPPED))


@cache
def _load(path: str) -> tuple[str, frozenset[int]]:
    from fontTools.ttLib import TTCollection, TTFont
    from matplotlib import font_manager

    chosen = Path(path)
    if not chosen.is_file():
        raise FontMissing(
            f"no CJK font for reports: {chosen} does not exist. Reinstall lingting (the font ships "
            "in pipeline/report/fonts/) or set LINGTING_REPORT_FONT to a Chinese .otf/.ttf file"
        )
    try:
        font = TTCollection(str(chosen)).fonts[0] if chosen.suffix.lower() == ".ttc" else TTFont(str(chosen))
        cmap = frozenset(font.getBestCmap() or {})
    except Exception as err:
        raise FontMissing(f"cannot read the report font {chosen}: {err}") from None
    if ord(PROBE) not in cmap:
        raise FontMissing(
            f"the report font {chosen} has no Chinese characters (no {PROBE!r}); "
            "set LINGTING_REPORT_FONT to a CJK font such as Noto Sans CJK SC"
        )
    font_manager.fontManager.addfont(str(chosen))
    return font_manager.FontProperties(fname=str(chosen)).get_name(), cmap


def drawable(text: str, cmap: frozenset[int]) -> str:
    """``text`` without the characters the font cannot draw (spaces and newlines always stay)."""
    return "".join(ch for ch in text if ord(ch) in cmap or ch in " \n\t")
