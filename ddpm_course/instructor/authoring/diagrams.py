"""The pictures of the released notebooks: each link to assets/*.svg or *.png becomes an inline PNG.

Colab renders neither relative image links, nor cell attachments, nor SVG data URIs, but it
does render PNG data URIs; so do JupyterLab and nbgrader's feedback pages. `make release`
therefore rasterises the SVGs, which stay the source, with resvg (a pip wheel, no system
library) and the DejaVu fonts that matplotlib ships, so the PNG bytes are the same on every
machine with the pinned versions. PNGs (expected-output grids) go in as they are.
"""
from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

import matplotlib
import resvg_py

# ![alt](../../assets/name.svg) or .png: the only form of image link the source notebooks use
IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.(?:svg|png))\)")


@cache
def png(svg: Path) -> bytes:
    """The PNG rendering of an SVG file at its own size."""
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return bytes(resvg_py.svg_to_bytes(svg_path=str(svg), skip_system_fonts=True, font_dirs=[str(fonts)],
                                       sans_serif_family="DejaVu Sans", font_family="DejaVu Sans"))


def data_uri(picture: Path) -> str:
    """A PNG data URI of an SVG (rasterised) or of a PNG (its bytes)."""
    data = picture.read_bytes() if picture.suffix == ".png" else png(picture.resolve())
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def inline_diagrams(markdown: str, notebook_dir: Path) -> str:
    """`markdown` with every link to an SVG or PNG (relative to notebook_dir) replaced by an inline PNG."""
    return IMAGE_LINK.sub(lambda m: f"![{m.group(1)}]({data_uri(notebook_dir / m.group(2))})", markdown)
