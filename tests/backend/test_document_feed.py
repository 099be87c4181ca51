"""The feed contract for generated documents: ``documents`` on an activity only when it has
any, with the size and SHA-256 of the bytes served (the app builds against this shape)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.document_models import ActivityDocument
from backend.models import FeedEntry
from backend.services import feed
from tests.backend.portal_setup import build_world
from tests.conftest import Clock


def _body(db: Session, activity_id: int) -> dict:
    entry = db.scalars(
        select(FeedEntry).where(FeedEntry.kind == "activity", FeedEntry.key == str(activity_id))
    ).one()
    return entry.body or {}


def test_documents_appear_in_the_feed_only_when_an_activity_has_some(
    db: Session, settings: Settings, clock: Clock
) -> None:
    world = build_world(db, settings, clock.now)
    before = {a.id: _body(db, a.id) for a in (world.past, world.upcoming)}
    assert all("documents" not in body for body in before.values())
    revision = feed.current_revision(db)
    db.commit()

    db.add(
        ActivityDocument(
            activity_id=world.past.id,
            doc_key="report.pdf",
            kind="report",
            language="fr",
            title="Rapport d'intervention",
            filename="rapport-intervention-1.pdf",
            media_type="application/pdf",
            size=1234,
            sha256="ab" * 32,
            content_key="cd" * 32,
            updated_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        )
    )
    db.flush()
    db.expire(world.past, ["documents"])
    changed = feed.refresh_activities(db, [world.past.id, world.upcoming.id])
    db.commit()

    assert changed == 1  # the untouched activity keeps its document and digest
    assert _body(db, world.upcoming.id) == before[world.upcoming.id]
    body = _body(db, world.past.id)
    assert body["documents"] == [
        {
            "key": "report.pdf",
            "kind": "report",
            "title": "Rapport d'intervention",
            "url": f"/activities/{world.past.id}/documents/report.pdf",
            "media_type": "application/pdf",
            "filename": "rapport-intervention-1.pdf",
            "size": 1234,
            "sha256": "ab" * 32,
            "updated_at": "2026-11-23T10:00:00Z",
        }
    ]
    assert {k: v for k, v in body.items() if k != "documents"} == before[world.past.id]
    assert feed.current_revision(db) == revision + 1
