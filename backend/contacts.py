"""Normalization of the identifiers clients sign in with."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class IdentifierError(ValueError):
    """The text is neither an email address nor a phone number."""


def normalize_email(value: str) -> str:
    """Trimmed, lower-cased email; raises :class:`IdentifierError` when malformed."""
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 200:
        raise IdentifierError("not an email address")
    return email


def normalize_phone(value: str, default_country_code: str = "33") -> str:
    """E.164 form: ``06 12 34 56 78``, ``0612345678`` and ``+33 6 12…`` all give ``+33612345678``.

    A national number (leading 0) takes ``default_country_code`` (France by default,
    the business unit's country); ``00`` is the international prefix.
    """
    raw = value.strip()
    digits = re.sub(r"[\s.\-()/]", "", raw)
    if digits.startswith("+"):
        rest = digits[1:]
    elif digits.startswith("00"):
        rest = digits[2:]
    elif digits.startswith("0"):
        rest = default_country_code + digits[1:]
    else:
        raise IdentifierError("not a phone number")
    if not rest.isdigit() or not 8 <= len(rest) <= 15:
        raise IdentifierError("not a phone number")
    # French numbers are sometimes written +33 (0)6…: drop the trunk zero.
    if rest.startswith("330"):
        rest = "33" + rest[3:]
    return "+" + rest


def parse_identifier(value: str) -> tuple[str, str]:
    """``("email", normalized)`` or ``("phone", normalized)``; raises when neither."""
    if "@" in value:
        return "email", normalize_email(value)
    return "phone", normalize_phone(value)
