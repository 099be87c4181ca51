"""Photos for documents: checked, turned upright and downscaled to a JPEG under a byte cap.

Pure (Pillow only). A report embeds the photos as they come out of
:func:`prepare_photo`, without decoding them again, so ten photos stay under
:data:`PHOTO_MAX_BYTES` each and a report's size is bounded whatever the
camera sent.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

# Large enough to read a meter or a data plate at A4 width, small enough that
# ten photos make a report of about 1.5 MB at most.
MAX_SIDE = 1280
PHOTO_MAX_BYTES = 150_000
START_QUALITY = 82
MIN_QUALITY = 45
# Refused before decoding: a small file may claim a huge canvas (decompression bomb).
MAX_PIXELS = 50_000_000
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


class PhotoError(ValueError):
    """The bytes are not a JPEG or PNG photo that can be read."""


def _encode(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True, progressive=False)
    return out.getvalue()


def prepare_photo(
    data: bytes, max_side: int = MAX_SIDE, max_bytes: int = PHOTO_MAX_BYTES
) -> tuple[bytes, int, int]:
    """``(jpeg, width, height)``: the photo upright, at most ``max_side`` pixels on its
    longer side and ``max_bytes`` long (lower quality first, then smaller).

    Raises :class:`PhotoError` for anything but a readable JPEG or PNG.
    """
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ACCEPTED_FORMATS:
            raise PhotoError("the photo must be a JPEG or PNG image")
        if image.width * image.height > MAX_PIXELS:
            raise PhotoError(f"the photo is too large (at most {MAX_PIXELS} pixels)")
        image.load()
        image = ImageOps.exif_transpose(image)
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError("the photo could not be read") from exc
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    side = max_side
    while True:
        copy = image.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        quality = START_QUALITY
        while True:
            jpeg = _encode(copy, quality)
            if len(jpeg) <= max_bytes or quality <= MIN_QUALITY:
                break
            quality -= 12
        if len(jpeg) <= max_bytes or side <= 200:
            return jpeg, copy.width, copy.height
        side = int(side * 0.75)
