"""Signature strokes rendered to PNG (backend/signature_image.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from backend.signature_image import NotASignature, render_png


def ink_at(image: Image.Image, x: int, y: int, radius: int = 2) -> bool:
    """Whether any pixel within ``radius`` of (x, y) is drawn (not transparent)."""
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            if image.getpixel((x + dx, y + dy))[3] > 0:
                return True
    return False


def test_strokes_are_drawn_where_they_are_and_nowhere_else() -> None:
    # A horizontal line across the middle of the unit box.
    png = render_png({"strokes": [[[0.0, 0.5], [1.0, 0.5]]]}, width=200, height=200)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (200, 200)
    image = image.convert("RGBA")
    assert ink_at(image, 100, 100)
    assert ink_at(image, 20, 100)
    assert not ink_at(image, 100, 20)
    assert not ink_at(image, 100, 180)
    drawn = 200 * 200 - image.getchannel("A").histogram()[0]
    assert 0 < drawn < 200 * 200 // 10


def test_a_pixel_box_is_scaled_with_its_proportions() -> None:
    # A 300 x 100 pad with a dot in its bottom-right corner, into a 600 x 400 image:
    # scaled by 2 (width-bound minus margins) and centred vertically.
    png = render_png(
        {"width": 300, "height": 100, "strokes": [[[0, 0]], [[300, 100]]]}, width=600, height=400
    )
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    margin = 20
    scale = (600 - 2 * margin) / 300
    top = (400 - 100 * scale) / 2
    assert ink_at(image, margin, round(top))
    assert ink_at(image, 600 - margin, round(top + 100 * scale), radius=3)
    assert not ink_at(image, 300, 10)


def test_what_is_not_a_signature_is_refused() -> None:
    for value in ({"strokes": []}, {"strokes": [[[2, 2]]]}, "signed", None):
        with pytest.raises(NotASignature):
            render_png(value)
    with pytest.raises(ValueError):
        render_png({"strokes": [[[0.5, 0.5]]]}, width=0)
