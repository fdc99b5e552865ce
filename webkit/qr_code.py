"""QR codes for the pages (visitor passes, stall screens), drawn by segno as inline SVG."""

from __future__ import annotations

import segno


def qr_svg(text: str, title: str, dark: str = "#000000") -> str:
    """``text`` as a QR code in inline SVG that scales to the box CSS gives it: a viewBox and no fixed
    size (a fixed-size drawing in a smaller box is cropped, and a cropped code does not scan), with
    the quiet zone of four modules and medium error correction."""
    svg: str = segno.make(text, error="m").svg_inline(scale=1, border=4, omitsize=True, svgclass="qr-code",
                                                       lineclass=None, dark=dark, light="#ffffff", title=title)
    return svg
