"""Photos for forms: checked, turned upright, downscaled and compressed before queuing.

No Flet here. A phone photo is several MB; the server takes at most
``backend.forms.PHOTO_MAX_BYTES``. ``prepare_photo`` makes a JPEG of at most
``MAX_SIDE`` pixels on its long side and lowers the quality until it fits, so
what is queued always passes the server's check and a retry never resends a
big file. The answer is ``{"media_type", "data"}`` (base64), the shape
``backend.forms`` validates.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from backend.forms import PHOTO_MAX_BYTES

MAX_SIDE = 1600
# Refuse absurd files before decoding them (a 50 MP phone photo is ~25 MB).
MAX_INPUT_BYTES = 40_000_000
_QUALITIES = (85, 75, 65, 55, 45)


class PhotoError(Exception):
    """A file that cannot be used as a photo; ``key`` is the sentence to show."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def prepare_photo(data: bytes) -> dict[str, Any]:
    """The form answer for an image file's bytes: an upright JPEG that fits the limit.

    Raises ``PhotoError`` for a file that is not an image, or too big to read.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise PhotoError("form.photo.too_big")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError("form.photo.unreadable") from exc
    if image.mode not in ("RGB", "L"):
        # Transparency on white, as the photo would be printed.
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    side = MAX_SIDE
    while True:
        for quality in _QUALITIES:
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= PHOTO_MAX_BYTES:
                return {
                    "media_type": "image/jpeg",
                    "data": base64.b64encode(out.getvalue()).decode("ascii"),
                }
        # Still too big at the lowest quality (a very noisy picture): smaller.
        side = int(side * 0.75)
        if side < 200:
            raise PhotoError("form.photo.too_big")
        image.thumbnail((side, side), Image.Resampling.LANCZOS)


def thumbnail_src(answer: Any) -> str | None:
    """A ``data:`` URL of a photo answer, for an ``ft.Image`` thumbnail."""
    if not isinstance(answer, dict):
        return None
    data, media_type = answer.get("data"), answer.get("media_type")
    if not isinstance(data, str) or not isinstance(media_type, str):
        return None
    return f"data:{media_type};base64,{data}"
