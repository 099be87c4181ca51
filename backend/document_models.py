"""Closure records and generated documents (SQLAlchemy mapping, same ``Base`` as
:mod:`backend.models`).

- :class:`ActivityClosure`: what the technician recorded when closing an
  activity (summary, work done, answers, photos, signatures). Append-only:
  closing again after a reopen adds a row, the newest is the report.
- :class:`GeneratedDocument`: the content-addressed cache of rendered files.
  ``content_key`` is the SHA-256 of the renderer version, the format and the
  document's whole content, so the same content is rendered once, and any
  change of the data gives a new key (a new file).
- :class:`ActivityDocument`: which files an activity currently offers its
  client (report, quote, signed quote, forms), with the size and SHA-256 of
  the bytes served. The feed reads these rows, never renders.

No foreign keys to activities: like form submissions, a closure is evidence
(signatures) that outlives the activity; downloads check the activity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models import Base, utcnow


class ActivityClosure(Base):
    """One closure of an activity as staff sent it (photos already downscaled)."""

    __tablename__ = "activity_closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(Integer, index=True)
    # {"summary", "work_done", "answers": [{"label", "value"}], "photos":
    # [{"media_type", "data", "caption"}], "signatures": {...}}: large, deferred.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    closed_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GeneratedDocument(Base):
    """A rendered file, stored once per content (see the module docstring)."""

    __tablename__ = "generated_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_key: Mapped[str] = mapped_column(String(64), unique=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityDocument(Base):
    """A file one activity offers its client, as the feed lists it."""

    __tablename__ = "activity_documents"
    __table_args__ = (
        UniqueConstraint("activity_id", "doc_key", name="uq_activity_document"),
        Index("ix_activity_documents_content", "content_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(Integer)
    doc_key: Mapped[str] = mapped_column(String(60))  # "report.pdf", "form-access.pdf"
    kind: Mapped[str] = mapped_column(String(20))  # report | quote | signed_quote | form
    language: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_key: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = ["ActivityClosure", "ActivityDocument", "GeneratedDocument"]
