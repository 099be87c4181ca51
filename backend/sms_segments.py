"""How many SMS segments a text takes, and so what it costs.

Pure (no web, database or screen). A text that fits the GSM 03.38 7-bit
alphabet travels as GSM-7: 160 characters in one SMS, 153 per segment once
it is split (the rest of each segment holds the concatenation header); the
extension table's characters (``€ [ ] { } \\ ^ ~ |`` and form feed) take two
septets each and never straddle two segments. Any other character makes the
whole text UCS-2: 70 characters in one SMS, 67 per segment, and a character
outside the Basic Multilingual Plane (an emoji) takes two UTF-16 units that
stay in one segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

# GSM 03.38 basic character set (LF and CR included; ESC left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape character: two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsSize:
    """The encoding a text needs, its length in that encoding's units, and its segments."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` has a GSM-7 encoding."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _split(widths: list[int], single: int, part: int) -> int:
    total = sum(widths)
    if total == 0:
        return 1  # an empty SMS is still one message
    if total <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        # A two-unit character (GSM escape pair, UTF-16 surrogate pair) is
        # never cut across two segments: it starts the next one instead.
        if used + width > part:
            segments += 1
            used = 0
        used += width
    return segments


def sms_size(text: str) -> SmsSize:
    """The encoding, length in septets (GSM-7) or UTF-16 units (UCS-2), and segment count."""
    if is_gsm7(text):
        widths = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return SmsSize("gsm7", sum(widths), _split(widths, GSM7_SINGLE, GSM7_PART))
    widths = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SmsSize("ucs2", sum(widths), _split(widths, UCS2_SINGLE, UCS2_PART))


def segments(text: str) -> int:
    """How many SMS ``text`` is sent as (each one billed)."""
    return sms_size(text).segments


def cost_centicredits(text: str, price_per_segment: int) -> int:
    """What sending ``text`` costs: segments × the price of one SMS (hundredths of a credit)."""
    return segments(text) * price_per_segment
