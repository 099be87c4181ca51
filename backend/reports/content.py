"""The content of a generated document, independent of its format (PDF or Word).

Pure (no web, database or screen). A :class:`Document` is a title, the
business unit's branding and a list of blocks (headings, paragraphs,
label/value fields, bullet lists, tables, photos, signatures), every text
already in the reader's language. ``backend.reports.pdf`` and
``backend.reports.word`` render the same model, so the two formats always say
the same thing. :func:`content_key` is the SHA-256 of everything a renderer
reads: the cache key of the rendered file (content-addressed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Bump when a renderer's output changes for the same content: every document
# is then rendered again the next time it is refreshed (new content keys).
RENDERER_VERSION = "1"

Format = Literal["pdf", "docx"]
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class Branding:
    """Who issues the document: the business unit's name, contacts and logo (PNG/JPEG)."""

    name: str
    address: str = ""
    phone: str = ""
    email: str = ""
    logo: bytes | None = None


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Fields:
    """Label/value rows (client, site, dates; a form's answers; the evidence trail)."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table with a header row; ``widths`` are fractions of the text width,
    ``align`` is ``L`` or ``R`` per column; ``totals`` are (label, amount) rows
    under it, the last one in bold."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...]
    align: tuple[str, ...]
    totals: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Photo:
    """A JPEG, already downscaled (``backend.reports.photos``), with its pixel size."""

    data: bytes
    width: int
    height: int
    caption: str = ""


@dataclass(frozen=True)
class Photos:
    items: tuple[Photo, ...]


@dataclass(frozen=True)
class Signature:
    """A signature kept as strokes (``backend.forms`` shape), drawn by the renderer."""

    label: str
    strokes: dict[str, Any]
    caption: str = ""


@dataclass(frozen=True)
class Signatures:
    items: tuple[Signature, ...]


Block = Heading | Paragraph | Fields | Bullets | Table | Photos | Signatures


@dataclass(frozen=True)
class Document:
    """One document in one language, ready for any renderer."""

    language: str
    title: str
    branding: Branding
    blocks: tuple[Block, ...]
    subtitle: str = ""
    # Shown in the file's metadata (creation date): part of the content, so
    # the same content always gives the same bytes.
    issued_at: datetime | None = None
    footer: str = ""
    meta: dict[str, str] = field(default_factory=dict)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_of(value: Any) -> Any:
    """The model as JSON, bytes replaced by their SHA-256 (what the cache key hashes)."""
    if isinstance(value, bytes):
        return {"sha256": _digest(value), "size": len(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json_of(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_of(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        body = {name: _json_of(getattr(value, name)) for name in value.__dataclass_fields__}
        return {"type": type(value).__name__, **body}
    return value


def content_json(document: Document) -> dict[str, Any]:
    """Everything a renderer reads of ``document``, as JSON (images by their hash)."""
    return _json_of(document)


def content_key(document: Document, fmt: Format) -> str:
    """SHA-256 of the renderer version, the format and the whole content: the cache key."""
    text = json.dumps(
        {"renderer": RENDERER_VERSION, "format": fmt, "content": content_json(document)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return _digest(text.encode())
