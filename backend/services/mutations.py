"""Idempotency records of client mutations (DESIGN.md §4, push).

A mutation id is bound to the change it first carried: its client (part of
the key), its action and its activity. Sent again for that same change it
replays the first answer; sent for another activity or another action it is
refused with 409, never answered with the first change's result.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.models import Mutation


class MutationReused(Exception):
    """The mutation id was already used for a different change."""

    status = 409
    code = "mutation_id_reused"

    def __init__(self, kind: str, activity_id: int | None) -> None:
        target = f" of intervention {activity_id}" if activity_id is not None else ""
        self.message = (
            f"This mutation_id was already used for another change ({kind}{target}). "
            "Send this change again with a new mutation_id."
        )
        super().__init__(self.message)


def mutation_key(client_id: int, mutation_id: str) -> str:
    """The stored key: mutation ids are only unique per client."""
    return f"{client_id}:{mutation_id}"


def replay(
    db: Session, key: str, kind: str, activity_id: int | None
) -> tuple[int, dict[str, Any]] | None:
    """The first (status, body) of this same change, None if the id is new.

    Raises :class:`MutationReused` when the id was used for another action or
    activity. Records from before activities were stored (``activity_id``
    NULL) are checked on the action only.
    """
    done = db.get(Mutation, key)
    if done is None:
        return None
    if done.kind != kind or (done.activity_id is not None and done.activity_id != activity_id):
        raise MutationReused(done.kind, done.activity_id)
    return done.status_code, done.result


def remember(
    db: Session,
    key: str,
    client_id: int,
    kind: str,
    activity_id: int | None,
    status: int,
    result: dict[str, Any],
) -> None:
    """Record the first answer of a change, in the transaction that applies it."""
    db.add(
        Mutation(
            id=key,
            client_id=client_id,
            kind=kind,
            activity_id=activity_id,
            status_code=status,
            result=result,
        )
    )
