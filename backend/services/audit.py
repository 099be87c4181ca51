"""The staff audit log: who changed what, when, with the changed fields before and after.

Entries are added to the caller's session, so they commit (or roll back) with
the change they describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.staff_models import AuditEntry

DEPRECATED_TOKEN_LABEL = "staff-token (deprecated)"


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff account, an API key, or the deprecated shared token."""

    kind: str  # "staff" | "api_key" | "staff_token"
    id: int | None
    label: str


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields whose value differs, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    keys += [k for k in before if k not in after]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def snapshot(obj: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named attributes of an object as JSON-able values (datetimes as ISO text)."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def record(
    db: Session,
    actor: Actor,
    action: str,
    now: datetime,
    *,
    business_unit_id: int | None,
    target_kind: str = "",
    target_id: int | None = None,
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    only_changes: bool = True,
) -> AuditEntry:
    """Add an entry; with ``only_changes`` the before/after keep the differing fields only."""
    if only_changes and before is not None and after is not None:
        before, after = changed(before, after)
    entry = AuditEntry(
        at=now,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label[:200],
        business_unit_id=business_unit_id,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        target_label=target_label[:200],
        before=before,
        after=after,
    )
    db.add(entry)
    return entry


def entry_doc(entry: AuditEntry) -> dict[str, Any]:
    from backend.services.projection import iso

    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id, "label": entry.actor_label},
        "business_unit_id": entry.business_unit_id,
        "action": entry.action,
        "target": {"kind": entry.target_kind, "id": entry.target_id, "label": entry.target_label},
        "before": entry.before,
        "after": entry.after,
    }


def page(
    db: Session, business_unit_ids: list[int], limit: int, before_id: int | None
) -> tuple[list[AuditEntry], int | None]:
    """Newest first within the business units, keyset by id; returns (entries, next)."""
    query = select(AuditEntry).where(AuditEntry.business_unit_id.in_(business_unit_ids))
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = list(db.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
