"""The outbox on a real SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.sync.outbox import Outbox, backoff_delay
from app.sync.store import Store, StoreError


class Clock:
    """A controllable clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "cache.sqlite3") as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(store: Store, clock: Clock) -> Outbox:
    return Outbox(store, clock=clock)


def test_enqueue_returns_a_pending_mutation_with_uuid4(outbox: Outbox, clock: Clock) -> None:
    mutation = outbox.enqueue("confirm_activity", {"activity_id": "a1"})
    assert uuid.UUID(mutation.mutation_id).version == 4
    assert mutation.kind == "confirm_activity"
    assert mutation.payload == {"activity_id": "a1"}
    assert mutation.status == "pending"
    assert mutation.attempts == 0
    assert mutation.next_attempt_at is None
    assert mutation.created_at == clock.now
    assert outbox.pending_count() == 1


def test_enqueue_keeps_a_given_mutation_id(outbox: Outbox) -> None:
    given = str(uuid.uuid4())
    assert outbox.enqueue("x", {}, mutation_id=given).mutation_id == given
    with pytest.raises(StoreError):
        outbox.enqueue("x", {}, mutation_id=given)
    with pytest.raises(ValueError):
        outbox.enqueue("x", {}, mutation_id="not-a-uuid")
    with pytest.raises(ValueError):
        outbox.enqueue("x", {}, mutation_id=str(uuid.uuid1()))
    assert outbox.pending_count() == 1


def test_effect_and_outbox_item_commit_together(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with Store.open(path) as store:
        outbox = Outbox(store)
        with store.transaction():
            store.put("activities", "a1", {"status": "confirmed"})
            outbox.enqueue("confirm_activity", {"activity_id": "a1"})
    with Store.open(path) as store:
        assert store.get("activities", "a1") == {"status": "confirmed"}
        assert [m.kind for m in Outbox(store).pending()] == ["confirm_activity"]


def test_failed_action_leaves_neither_effect_nor_outbox_item(store: Store, outbox: Outbox) -> None:
    store.put("activities", "a1", {"status": "planned"})
    with pytest.raises(RuntimeError), store.transaction():
        store.put("activities", "a1", {"status": "confirmed"})
        outbox.enqueue("confirm_activity", {"activity_id": "a1"})
        raise RuntimeError("validation failed after enqueue")
    assert store.get("activities", "a1") == {"status": "planned"}
    assert outbox.pending_count() == 0


def test_pending_is_fifo(outbox: Outbox, clock: Clock) -> None:
    ids = []
    for n in range(5):
        ids.append(outbox.enqueue("note", {"n": n}).mutation_id)
        clock.now -= timedelta(minutes=1)  # a clock going backwards must not reorder
    assert [m.mutation_id for m in outbox.pending()] == ids
    assert [m.payload["n"] for m in outbox.pending(limit=2)] == [0, 1]


def test_mark_sent_stores_result_and_leaves_the_queue(outbox: Outbox) -> None:
    first = outbox.enqueue("a", {})
    second = outbox.enqueue("b", {})
    sent = outbox.mark_sent(first.mutation_id, {"activity": {"id": "a1", "rev": 7}})
    assert sent.status == "sent"
    assert sent.result == {"activity": {"id": "a1", "rev": 7}}
    assert [m.mutation_id for m in outbox.pending()] == [second.mutation_id]
    assert outbox.pending_count() == 1
    with pytest.raises(StoreError):
        outbox.mark_sent(first.mutation_id, None)  # answered twice: caller bug
    assert outbox.forget_sent() == 1
    assert outbox.get(first.mutation_id) is None


def test_rejected_is_kept_with_reason_and_does_not_block(outbox: Outbox) -> None:
    first = outbox.enqueue("book_slot", {"slot": "s1"})
    second = outbox.enqueue("add_note", {"text": "hi"})
    outbox.mark_rejected(first.mutation_id, "That time slot is no longer available.")

    assert [m.mutation_id for m in outbox.pending()] == [second.mutation_id]
    rejected = outbox.rejected()
    assert [(m.mutation_id, m.reason) for m in rejected] == [
        (first.mutation_id, "That time slot is no longer available.")
    ]
    assert rejected[0].payload == {"slot": "s1"}

    outbox.dismiss(first.mutation_id)
    assert outbox.rejected() == []


def test_failures_count_attempts_and_back_off(outbox: Outbox, clock: Clock) -> None:
    mutation = outbox.enqueue("a", {})
    assert mutation.is_due(clock.now)

    failed = outbox.mark_failed(mutation.mutation_id, "connection refused")
    assert failed.attempts == 1
    assert failed.last_error == "connection refused"
    assert failed.next_attempt_at == clock.now + backoff_delay(1)
    assert not failed.is_due(clock.now)
    assert failed.is_due(clock.now + backoff_delay(1))

    again = outbox.mark_failed(mutation.mutation_id, "timeout")
    assert again.attempts == 2
    assert again.next_attempt_at == clock.now + backoff_delay(2)
    assert outbox.pending()[0].attempts == 2  # still pending, still first

    sent = outbox.mark_sent(mutation.mutation_id, {"ok": True})
    assert sent.next_attempt_at is None and sent.attempts == 2


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff_delay(n) for n in range(0, 12)]
    assert delays[0] == timedelta(0)
    assert delays[1] < delays[2] < delays[3]
    assert max(delays) == timedelta(minutes=5)
    assert backoff_delay(10_000) == timedelta(minutes=5)


def test_unknown_mutation_is_an_error(outbox: Outbox) -> None:
    with pytest.raises(StoreError):
        outbox.mark_rejected(str(uuid.uuid4()), "nope")


def test_outbox_survives_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with Store.open(path) as store:
        outbox = Outbox(store)
        kinds = [outbox.enqueue(f"k{n}", {"n": n}).kind for n in range(10)]
        outbox.mark_rejected(outbox.pending()[3].mutation_id, "gone")
    with Store.open(path) as store:
        outbox = Outbox(store)
        assert [m.kind for m in outbox.pending()] == kinds[:3] + kinds[4:]
        assert [m.kind for m in outbox.rejected()] == ["k3"]
