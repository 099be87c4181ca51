"""Signatures drawn as strokes, rendered to PNG for documents and staff (Pillow).

The app keeps a signature as vectors (see :mod:`backend.forms`); the image is
made on the server only, from the stored strokes, so it can always be drawn
again at another size.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

from backend import forms

DEFAULT_WIDTH = 600
DEFAULT_HEIGHT = 240
INK = (20, 30, 60, 255)


class NotASignature(ValueError):
    """The value is not a signature answer that :mod:`backend.forms` accepts."""


def render_png(signature: Any, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> bytes:
    """The strokes of ``signature`` drawn in a ``width`` × ``height`` PNG (transparent).

    The signature's own box (0..1, or its pixel ``width``/``height``) is
    scaled to the image, keeping its proportions and centred.
    """
    if forms.validate_answer({"type": "signature"}, signature) or forms.is_missing(signature):
        raise NotASignature("not a signature")
    box = forms.signature_box(signature)
    assert box is not None  # validated above
    if not (1 <= width <= 4000 and 1 <= height <= 4000):
        raise ValueError("image size out of range")
    margin = max(2, min(width, height) // 20)
    scale = min((width - 2 * margin) / box[0], (height - 2 * margin) / box[1])
    left = (width - box[0] * scale) / 2
    top = (height - box[1] * scale) / 2
    pen = max(2, round(min(width, height) / 80))
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    for stroke in signature["strokes"]:
        points = [(left + x * scale, top + y * scale) for x, y in stroke]
        if len(points) == 1:
            x, y = points[0]
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=INK)
            continue
        draw.line(points, fill=INK, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):  # round caps
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=INK)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
