"""Delta sync: paging, tombstones, staff changes, cursor faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.models import RevisionCounter
from tests.backend.portal_setup import World, build_world
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


async def pull_all(
    http: httpx.AsyncClient, token: str, cursor: str | None = None, limit: int = 500
) -> tuple[list[dict[str, Any]], str, list[dict[str, Any]]]:
    """Follow has_more; returns (changes, final cursor, pages)."""
    changes: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = await http.get("/sync", params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        changes.extend(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, cursor, pages


def keys(changes: list[dict[str, Any]], deleted: bool = False) -> set[tuple[str, str]]:
    return {(c["kind"], c["key"]) for c in changes if c["deleted"] is deleted}


async def test_full_sync_holds_exactly_what_the_client_sees(http, world: World) -> None:
    changes, _, pages = await pull_all(http, world.alice_token)
    assert pages[0]["reset"] is True and pages[0]["reset_reason"] == "initial"
    assert keys(changes) == {
        ("profile", "me"),
        ("branding", "bu"),
        ("activity_type", str(world.boiler.id)),
        ("form", str(world.access_form.id)),
        ("activity", str(world.upcoming.id)),
        ("activity", str(world.past.id)),
        ("activity", str(world.cancelled.id)),
    }
    assert not keys(changes, deleted=True)
    activity = next(
        c for c in changes if (c["kind"], c["key"]) == ("activity", str(world.upcoming.id))
    )
    assert activity["body"]["title"] == "Boiler service – Lyon"
    assert activity["body"]["technician"] == {"first_name": "Karim"}
    assert "Benali" not in str(activity["body"])  # only the first name is shown


async def test_paging_covers_everything_once(http, world: World) -> None:
    full, _, _ = await pull_all(http, world.alice_token)
    paged, _, pages = await pull_all(http, world.alice_token, limit=2)
    assert len(pages) == 4
    assert all(p["has_more"] for p in pages[:-1]) and not pages[-1]["has_more"]
    assert [c["key"] for c in paged] == [c["key"] for c in full]
    revs = [c["rev"] for c in paged]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)


async def test_no_change_means_an_empty_incremental_page(http, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    changes, cursor2, pages = await pull_all(http, world.alice_token, cursor)
    assert changes == [] and pages[0]["reset"] is False
    assert cursor2 == cursor


async def test_staff_change_appears_in_next_pull(http, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}", json={"status": "in_progress"}, headers=STAFF
    )
    assert r.status_code == 200, r.text
    changes, _, pages = await pull_all(http, world.alice_token, cursor)
    assert pages[0]["reset"] is False
    assert [(c["key"], c["body"]["status"]) for c in changes] == [
        (str(world.upcoming.id), "in_progress")
    ]
    # Bob's feed is untouched by Alice's activity.
    bob_changes, _, _ = await pull_all(http, world.bob_token)
    assert ("activity", str(world.upcoming.id)) not in keys(bob_changes)


async def test_step_added_by_staff_is_synced(http, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    r = await http.post(
        f"/staff/activities/{world.upcoming.id}/steps",
        json={"code": "on_the_way", "note": "Karim is 20 minutes away"},
        headers=STAFF,
    )
    assert r.status_code == 201
    changes, _, _ = await pull_all(http, world.alice_token, cursor)
    assert changes[0]["body"]["steps"][-1]["code"] == "on_the_way"


async def test_hiding_a_type_tombstones_its_activities_and_the_type(http, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    r = await http.put(
        f"/staff/activity-types/{world.boiler.id}/portal",
        json={"portal_shown": False, "title_template": "{type.name}", "portal_actions": []},
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    changes, _, _ = await pull_all(http, world.alice_token, cursor)
    assert keys(changes, deleted=True) == {
        ("activity_type", str(world.boiler.id)),
        ("form", str(world.access_form.id)),  # no shown type uses it any more
        ("activity", str(world.upcoming.id)),
        ("activity", str(world.past.id)),
        ("activity", str(world.cancelled.id)),
    }
    assert all(c["body"] is None for c in changes if c["deleted"])


async def test_cancelled_and_hidden_becomes_a_tombstone(http, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    r = await http.patch(
        f"/staff/business-units/{world.bu.id}",
        json={"show_cancelled_activities": False},
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    changes, _, _ = await pull_all(http, world.alice_token, cursor)
    assert keys(changes, deleted=True) == {("activity", str(world.cancelled.id))}


async def test_activity_moved_to_another_client(http, world: World) -> None:
    _, alice_cursor, _ = await pull_all(http, world.alice_token)
    _, bob_cursor, _ = await pull_all(http, world.bob_token)
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}",
        json={"client_id": world.bob.id, "site_id": world.bob.sites[0].id},
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    alice_changes, _, _ = await pull_all(http, world.alice_token, alice_cursor)
    bob_changes, _, _ = await pull_all(http, world.bob_token, bob_cursor)
    assert keys(alice_changes, deleted=True) == {("activity", str(world.upcoming.id))}
    assert keys(bob_changes) == {("activity", str(world.upcoming.id))}


async def test_deleted_activity_is_a_tombstone(http, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    r = await http.delete(f"/staff/activities/{world.past.id}", headers=STAFF)
    assert r.status_code == 204
    changes, _, _ = await pull_all(http, world.alice_token, cursor)
    assert keys(changes, deleted=True) == {("activity", str(world.past.id))}


async def test_template_change_rerenders_titles(http, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    r = await http.put(
        f"/staff/activity-types/{world.boiler.id}/portal",
        json={
            "portal_shown": True,
            "title_template": "{client.name}: {type.name} ({site.label})",
            "portal_actions": world.boiler.portal_actions,
        },
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    changes, _, _ = await pull_all(http, world.alice_token, cursor)
    titles = {c["body"]["title"] for c in changes if c["kind"] == "activity"}
    assert titles == {"Alice Martin: Boiler service (Home)"}
    assert keys(changes) == {
        ("activity", str(world.upcoming.id)),
        ("activity", str(world.past.id)),
        ("activity", str(world.cancelled.id)),
    }


async def test_branding_change_reaches_every_client(http, world: World) -> None:
    _, a_cursor, _ = await pull_all(http, world.alice_token)
    _, b_cursor, _ = await pull_all(http, world.bob_token)
    r = await http.patch(
        f"/staff/business-units/{world.bu.id}",
        json={"description": "Now also heat pumps."},
        headers=STAFF,
    )
    assert r.status_code == 200
    for token, cursor in ((world.alice_token, a_cursor), (world.bob_token, b_cursor)):
        changes, _, _ = await pull_all(http, token, cursor)
        assert keys(changes) == {("branding", "bu")}
        assert changes[0]["body"]["description"] == "Now also heat pumps."


@pytest.mark.parametrize("garbage", ["", "abc", "!!!", "Zm9vOmJhcg", "x" * 512])
async def test_garbage_cursor_means_full_resync(http, world: World, garbage: str) -> None:
    changes, cursor, pages = await pull_all(http, world.alice_token, garbage or "%%%")
    assert pages[0]["reset"] is True and pages[0]["reset_reason"] == "invalid_cursor"
    assert ("activity", str(world.upcoming.id)) in keys(changes)
    # The cursor it handed back works: no loop.
    _, _, again = await pull_all(http, world.alice_token, cursor)
    assert again[0]["reset"] is False and again[0]["changes"] == []


async def test_foreign_cursor_means_full_resync(http, world: World) -> None:
    _, bob_cursor, _ = await pull_all(http, world.bob_token)
    changes, _, pages = await pull_all(http, world.alice_token, bob_cursor)
    assert pages[0]["reset"] is True and pages[0]["reset_reason"] == "foreign_cursor"
    assert ("activity", str(world.bobs.id)) not in keys(changes)


async def test_stale_epoch_means_full_resync(http, api: FastAPI, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    api.state.settings.sync_epoch = "2"  # e.g. restored from a backup
    _, new_cursor, pages = await pull_all(http, world.alice_token, cursor)
    assert pages[0]["reset"] is True and pages[0]["reset_reason"] == "stale_epoch"
    _, _, again = await pull_all(http, world.alice_token, new_cursor)
    assert again[0]["reset"] is False


async def test_cursor_ahead_of_server_means_full_resync(http, db: Session, world: World) -> None:
    _, cursor, _ = await pull_all(http, world.alice_token)
    # Simulate a database restored to an older state than the client saw.
    db.execute(update(RevisionCounter).values(value=1))
    db.commit()
    _, _, pages = await pull_all(http, world.alice_token, cursor)
    assert pages[0]["reset"] is True and pages[0]["reset_reason"] == "cursor_ahead"


async def test_tampered_cursor_is_rejected(http, world: World) -> None:
    import base64

    _, cursor, _ = await pull_all(http, world.alice_token)
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    epoch, client_id, rev, mac = raw.split(":")
    forged = base64.urlsafe_b64encode(f"{epoch}:{world.bob.id}:{rev}:{mac}".encode()).decode()
    _, _, pages = await pull_all(http, world.alice_token, forged)
    assert pages[0]["reset_reason"] == "invalid_cursor"


@pytest.mark.parametrize("limit", [0, -1, 100000, "ten"])
async def test_bad_limit_is_422_naming_the_field(http, world: World, limit: Any) -> None:
    r = await http.get("/sync", params={"limit": limit}, headers=world.auth(world.alice_token))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_sync_requires_a_session(http, world: World) -> None:
    assert (await http.get("/sync")).status_code == 401
    r = await http.get("/sync", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_the_client_choosing_a_language_re_renders_titles_at_the_next_pull(
    http, db: Session, world: World
) -> None:
    world.boiler.title_template = "{type.name} {activity.date}"
    db.commit()
    from backend.services import feed

    feed.refresh_client(db, world.alice.id)
    db.commit()
    changes, cursor, _ = await pull_all(http, world.alice_token)
    title = {c["key"]: c["body"] for c in changes if c["kind"] == "activity"}[
        str(world.upcoming.id)
    ]["title"]
    assert world.alice.preferred_language == "fr"

    auth = world.auth(world.alice_token)
    r = await http.put("/me/language", json={"language": "en"}, headers=auth)
    assert r.status_code == 200 and r.json()["profile"]["preferred_language"] == "en"
    changes, cursor, _ = await pull_all(http, world.alice_token, cursor)
    changed = {(c["kind"], c["key"]): c["body"] for c in changes}
    assert changed[("profile", "me")]["preferred_language"] == "en"
    new_title = changed[("activity", str(world.upcoming.id))]["title"]
    assert new_title != title and new_title.startswith("Boiler service ")
    # The same choice again changes nothing.
    r = await http.put("/me/language", json={"language": "en"}, headers=auth)
    assert r.status_code == 200
    assert (await pull_all(http, world.alice_token, cursor))[0] == []


async def test_choosing_a_language_rejects_bad_input_and_needs_a_session(
    http, world: World
) -> None:
    auth = world.auth(world.alice_token)
    r = await http.put("/me/language", json={"language": "de"}, headers=auth)
    assert r.status_code == 422 and "language" in r.text
    r = await http.put("/me/language", json={"lang": "en"}, headers=auth)
    assert r.status_code == 422 and "language" in r.text
    assert (await http.put("/me/language", json={"language": "en"})).status_code == 401
    r = await http.put(
        "/me/language", json={"language": "en"}, headers={"Authorization": "Bearer revoked"}
    )
    assert r.status_code == 401
