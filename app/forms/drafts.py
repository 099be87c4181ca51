"""Form drafts in the local store: every change kept, reopened where it was left.

A draft is one document of the ``drafts`` collection, keyed
``<activity id>/<action key>``: the answers so far, the form version they were
typed against and when. The sync never touches this collection (a feed reset
clears only what the feed owns), so a draft survives restarts, resets and
power cuts: each change is its own committed write. Sending a form deletes
its draft in the same transaction that queues it (``discard_in``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.sync.store import Store

DRAFTS = "drafts"


def draft_id(activity_id: str, action_key: str) -> str:
    """The store id of the draft of one action on one activity."""
    return f"{activity_id}/{action_key}"


@dataclass(frozen=True)
class Draft:
    """What was typed so far."""

    answers: dict[str, Any]
    form_version: str
    updated_at: datetime | None


class Drafts:
    """The drafts kept in ``store`` (call from a thread: these are disk writes)."""

    def __init__(self, store: Store) -> None:
        """Work on ``store``'s ``drafts`` collection."""
        self._store = store

    def load(self, activity_id: str, action_key: str) -> Draft | None:
        """The draft of this action, or None."""
        doc = self._store.get(DRAFTS, draft_id(activity_id, action_key))
        if not doc or not isinstance(doc.get("answers"), dict):
            return None
        stamp = doc.get("updated_at")
        return Draft(
            answers=dict(doc["answers"]),
            form_version=str(doc.get("form_version") or ""),
            updated_at=datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
        )

    def save(
        self,
        activity_id: str,
        action_key: str,
        answers: dict[str, Any],
        form_version: str,
        now: datetime | None = None,
    ) -> None:
        """Keep ``answers`` (one committed write: nothing typed is lost after it)."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        self._store.put(
            DRAFTS,
            draft_id(activity_id, action_key),
            {
                "answers": answers,
                "form_version": form_version,
                "updated_at": moment.isoformat(timespec="seconds"),
            },
        )

    def discard(self, activity_id: str, action_key: str) -> None:
        """Forget the draft (the form was sent, or the client threw it away)."""
        self._store.delete(DRAFTS, draft_id(activity_id, action_key))

    def keys(self) -> set[str]:
        """Ids of every draft (the detail screen marks actions with one)."""
        rows = self._store.fetchall("SELECT id FROM documents WHERE collection = ?", (DRAFTS,))
        return {str(row[0]) for row in rows}
