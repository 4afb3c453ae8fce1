"""Diagrams: assets/*.svg rasterised into the released notebooks."""
import base64
import io
import re
import struct

import matplotlib.image
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.authoring import diagrams

SVGS = sorted((course.ROOT / "assets").glob("*.svg"))


@pytest.mark.parametrize("svg", SVGS, ids=[svg.name for svg in SVGS])
def test_each_diagram_renders_to_a_png_of_its_own_size_with_its_text(svg):
    """Does every SVG in assets/ render to a PNG of the SVG's width and height, with glyphs drawn?"""
    png = diagrams.png(svg)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    declared = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', svg.read_text())
    assert (width, height) == (int(declared.group(1)), int(declared.group(2)))


def test_text_is_drawn_with_the_bundled_font(tmp_path):
    """Is text drawn even though system fonts are skipped (with no font found, resvg silently draws none)?"""
    svg = tmp_path / "text.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" font-family="Helvetica, Arial, '
                   'sans-serif"><rect width="40" height="20" fill="#ffffff"/>'
                   '<text x="2" y="16" font-size="16">Hg</text></svg>')
    pixels = matplotlib.image.imread(io.BytesIO(diagrams.png(svg)))
    assert (pixels[..., :3] < 0.5).any()


def test_links_to_svgs_become_png_data_uris_and_other_text_stays(tmp_path):
    """Is every SVG link replaced by its PNG inline, keeping the alt text, and everything else left as it was?"""
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "box.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="2"><rect width="4" height="2" fill="red"/></svg>')
    text = "Before ![a red box](pictures/box.svg) after, and [a link](other.md)."
    inlined = diagrams.inline_diagrams(text, tmp_path)
    prefix, _, rest = inlined.partition("![a red box](data:image/png;base64,")
    assert prefix == "Before "
    encoded, _, suffix = rest.partition(")")
    assert base64.b64decode(encoded)[:4] == b"\x89PNG" and suffix == " after, and [a link](other.md)."


def test_links_to_pngs_go_in_byte_for_byte(tmp_path):
    """Is a linked PNG (an expected-output grid) inlined with its own bytes, not re-encoded?"""
    picture = tmp_path / "grid.png"
    matplotlib.image.imsave(picture, [[0.0, 1.0], [1.0, 0.0]], cmap="gray")
    inlined = diagrams.inline_diagrams("![expected](grid.png)", tmp_path)
    assert inlined == "![expected](data:image/png;base64," + base64.b64encode(picture.read_bytes()).decode() + ")"
