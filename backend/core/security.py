"""Secrets, codes and their keyed hashes. Nothing here touches the database."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """A 256-bit URL-safe random token (sessions, login links)."""
    return secrets.token_urlsafe(32)


def new_code() -> str:
    """A 6-digit one-time code, uniformly drawn with ``secrets``."""
    return f"{secrets.randbelow(1_000_000):06d}"


def keyed_hash(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 hex digest of the parts; the server key means a leaked table is useless."""
    message = "\x1f".join(parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def matches(expected_hex: str, key: bytes, *parts: str) -> bool:
    """Constant-time comparison of a stored digest with the digest of ``parts``."""
    return hmac.compare_digest(expected_hex, keyed_hash(key, *parts))
