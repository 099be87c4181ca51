"""Quotes over HTTP: staff attach a quote and its PDF, clients read and download them,
signatures cover the quote, an accepted quote is frozen."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.models import ActivityQuote, FeedEntry
from backend.quote_pdf import render_quote_pdf
from backend.services.quotes import PDF_MAX_BYTES
from tests.backend.test_mutations import (
    SIGNATURE,
    World,
    build_world,
    document_hash,
    item,
    push,
)
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}
PDF_HEADERS = {**STAFF, "Content-Type": "application/pdf"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


def quote_body(unit_price: str = "55.00", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": "D2026-00042",
        "issued_on": "2026-11-20",
        "valid_until": "2026-12-20",
        "currency": "EUR",
        "note": "Acompte de 30 % à la signature.",
        "lines": [
            {
                "label": "Déplacement et diagnostic",
                "quantity": "1",
                "unit": "forfait",
                "unit_price": "49.00",
                "tax_rate": "10",
            },
            {
                "label": "Main d'œuvre",
                "quantity": "1.5",
                "unit": "h",
                "unit_price": unit_price,
                "tax_rate": "10",
            },
            {"label": "Détartrant", "quantity": "2", "unit_price": "9.90", "tax_rate": "20"},
        ],
    }
    body.update(overrides)
    return body


def a_pdf(body: dict[str, Any] | None = None) -> bytes:
    from backend.quotes import parse_quote, quote_document

    return render_quote_pdf(quote_document(parse_quote(body or quote_body())), "Test Heating")


def feed_body(db: Session, activity_id: int) -> dict[str, Any]:
    entry = db.scalars(
        select(FeedEntry).where(FeedEntry.kind == "activity", FeedEntry.key == str(activity_id))
    ).one()
    db.commit()
    return entry.body or {}


async def put_quote(http: httpx.AsyncClient, activity_id: int, **body: Any) -> httpx.Response:
    return await http.put(
        f"/staff/activities/{activity_id}/quote", json=quote_body(**body), headers=STAFF
    )


async def sign_item(db: Session, world: World, decision: str = "accepted") -> dict[str, Any]:
    payload: dict[str, Any] = {
        "decision": decision,
        "document_sha256": document_hash(db, world, world.scheduled),
    }
    if decision == "accepted":
        payload["answers"] = {"accept": True, "signature": SIGNATURE}
    else:
        payload["reason"] = "Trop cher"
    return item(world.scheduled, "validate_document", "sign_quote", payload)


# --- staff: the quote ------------------------------------------------------------------


async def test_staff_attach_read_and_remove_a_quote(http, world: World, db: Session) -> None:
    target = world.scheduled.id
    before = feed_body(db, target)
    assert "quote" not in before

    r = await put_quote(http, target)
    assert r.status_code == 200, r.text
    quote = r.json()
    assert quote["subtotal"] == "151.30"  # 49 + 82.50 + 19.80
    assert quote["taxes"] == [
        {"rate": "10", "base": "131.50", "amount": "13.15"},
        {"rate": "20", "base": "19.80", "amount": "3.96"},
    ]
    assert quote["total"] == "168.41" and quote["pdf"] is None
    assert (await http.get(f"/staff/activities/{target}/quote", headers=STAFF)).json() == quote

    # The client gets it with the activity: in its sync feed and from the API.
    assert feed_body(db, target)["quote"] == quote
    r = await http.get(f"/activities/{target}", headers=world.auth())
    assert r.json()["quote"] == quote

    r = await http.delete(f"/staff/activities/{target}/quote", headers=STAFF)
    assert r.status_code == 204
    assert feed_body(db, target) == before  # no quote key again: same document as before
    assert (await http.get(f"/staff/activities/{target}/quote", headers=STAFF)).status_code == 404
    r = await http.delete(f"/staff/activities/{target}/quote", headers=STAFF)
    assert r.status_code == 404


async def test_bad_lines_are_422_naming_the_field(http, world: World) -> None:
    target = world.scheduled.id
    body = quote_body()
    body["lines"][1]["unit_price"] = "55.001"  # finer than a cent
    body["lines"][2]["quantity"] = 2  # a JSON number
    r = await http.put(f"/staff/activities/{target}/quote", json=body, headers=STAFF)
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "lines", 2, "quantity"] in locs
    # The currency rule runs once the shapes are right.
    body["lines"][2]["quantity"] = "2"
    r = await http.put(f"/staff/activities/{target}/quote", json=body, headers=STAFF)
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "lines", 1, "unit_price"],
            "msg": "at most 2 decimals in a EUR amount",
            "type": "value_error",
        }
    ]
    r = await http.put(
        f"/staff/activities/{target}/quote",
        json=quote_body(valid_until="2026-11-01"),
        headers=STAFF,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "valid_until"]
    assert (await put_quote(http, 999_999)).status_code == 404
    r = await http.put(f"/staff/activities/{target}/quote", json=quote_body())
    assert r.status_code == 401  # staff only
    assert (await http.get(f"/staff/activities/{target}/quote", headers=STAFF)).status_code == 404


# --- the PDF ----------------------------------------------------------------------------


async def test_a_pdf_is_attached_downloaded_and_removed(http, world: World, db: Session) -> None:
    target = world.scheduled.id
    pdf = a_pdf()
    url = f"/staff/activities/{target}/quote/pdf"
    r = await http.put(url, content=pdf, headers=PDF_HEADERS)
    assert r.status_code == 404 and "PUT /staff/activities" in r.json()["detail"]  # quote first

    await put_quote(http, target)
    r = await http.put(url, content=pdf, headers=PDF_HEADERS)
    assert r.status_code == 200, r.text
    entry = {
        "url": f"/activities/{target}/quote.pdf",
        "media_type": "application/pdf",
        "size": len(pdf),
        "sha256": hashlib.sha256(pdf).hexdigest(),
    }
    assert r.json()["pdf"] == entry
    assert feed_body(db, target)["quote"]["pdf"] == entry  # size and address, never the bytes

    r = await http.get(entry["url"], headers=world.auth())
    assert r.status_code == 200 and r.content == pdf
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'inline; filename="devis-D2026-00042.pdf"'
    assert r.headers["cache-control"] == "private"
    assert r.headers["etag"] == f'"{entry["sha256"]}"'
    assert (await http.get(entry["url"])).status_code == 401
    staff_copy = await http.get(url, headers=STAFF)
    assert staff_copy.status_code == 200 and staff_copy.content == pdf

    assert (await http.delete(url, headers=STAFF)).status_code == 204
    assert feed_body(db, target)["quote"]["pdf"] is None
    assert (await http.get(entry["url"], headers=world.auth())).status_code == 404
    assert (await http.delete(url, headers=STAFF)).status_code == 404


async def test_another_clients_quote_pdf_is_not_found(http, world: World) -> None:
    for activity in (world.scheduled, world.bobs):
        await put_quote(http, activity.id)
        r = await http.put(
            f"/staff/activities/{activity.id}/quote/pdf", content=a_pdf(), headers=PDF_HEADERS
        )
        assert r.status_code == 200
    mine, bobs = f"/activities/{world.scheduled.id}/quote.pdf", f"/activities/{world.bobs.id}"
    assert (await http.get(mine, headers=world.auth())).status_code == 200
    for path, token in ((f"{bobs}/quote.pdf", None), (mine, world.bob_token)):
        r = await http.get(path, headers=world.auth(token))
        assert r.status_code == 404
        assert r.json() == {"detail": "No such item in your portal."}
    # A quote without a PDF, and an activity without a quote, are 404 too.
    await http.delete(f"/staff/activities/{world.scheduled.id}/quote/pdf", headers=STAFF)
    assert (await http.get(mine, headers=world.auth())).status_code == 404
    r = await http.get(f"/activities/{world.done.id}/quote.pdf", headers=world.auth())
    assert r.status_code == 404


async def test_uploads_that_are_not_pdfs_or_too_large(http, world: World) -> None:
    target = world.scheduled.id
    await put_quote(http, target)
    url = f"/staff/activities/{target}/quote/pdf"
    pdf = a_pdf()
    r = await http.put(url, content=pdf, headers={**STAFF, "Content-Type": "image/png"})
    assert r.status_code == 415
    r = await http.put(url, content=b"\x89PNG\r\n\x1a\n....", headers=PDF_HEADERS)
    assert r.status_code == 422 and "%PDF-" in r.json()["detail"][0]["msg"]
    assert (await http.put(url, content=b"", headers=PDF_HEADERS)).status_code == 422

    # Past the server's general 1 MiB body limit, under the PDF's 5 MB: accepted.
    padded = pdf + b"%" + b"x" * (2 * 1024 * 1024)
    r = await http.put(url, content=padded, headers=PDF_HEADERS)
    assert r.status_code == 200 and r.json()["pdf"]["size"] == len(padded)

    too_big = b"%PDF-1.4\n" + b"x" * PDF_MAX_BYTES
    r = await http.put(url, content=too_big, headers=PDF_HEADERS)  # announced length
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for start in range(0, len(too_big), 256 * 1024):
            yield too_big[start : start + 256 * 1024]

    r = await http.put(url, content=chunks(), headers=PDF_HEADERS)
    assert r.status_code == 413
    # The other routes keep the general limit.
    r = await http.put(
        f"/staff/activities/{target}/quote",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={**STAFF, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    # What was stored before stays.
    r = await http.get(url, headers=STAFF)
    assert r.content == padded


# --- signatures cover the quote -------------------------------------------------------------


async def test_a_signature_on_an_older_version_of_the_quote_is_refused(
    http, world: World, db: Session
) -> None:
    target = world.scheduled.id
    await put_quote(http, target)
    old = await sign_item(db, world)  # what the client read: the first version
    r = await put_quote(http, target, unit_price="60.00")  # staff revise it meanwhile
    assert r.status_code == 200

    [result] = await push(http, world, old)
    assert result["status"] == "refused" and result["code"] == "document_changed"

    [result] = await push(http, world, await sign_item(db, world))  # read again, signed
    assert result["status"] == "applied"
    assert result["activity"]["quote"]["lines"][1]["unit_price"] == "60.00"


async def test_an_accepted_quote_can_no_longer_change(http, world: World, db: Session) -> None:
    target = world.scheduled.id
    await put_quote(http, target)
    url = f"/staff/activities/{target}/quote/pdf"
    await http.put(url, content=a_pdf(), headers=PDF_HEADERS)
    [result] = await push(http, world, await sign_item(db, world))
    assert result["status"] == "applied"
    signed = feed_body(db, target)["quote"]

    attempts = [
        await put_quote(http, target, unit_price="1.00"),
        await http.delete(f"/staff/activities/{target}/quote", headers=STAFF),
        await http.put(url, content=a_pdf(quote_body("1.00")), headers=PDF_HEADERS),
        await http.delete(url, headers=STAFF),
    ]
    for r in attempts:
        assert r.status_code == 409, r.text
        assert "new quote on a new intervention" in r.json()["detail"]
    assert feed_body(db, target)["quote"] == signed


async def test_a_refused_quote_may_be_revised_and_signed(http, world: World, db: Session) -> None:
    target = world.scheduled.id
    await put_quote(http, target)
    refusal = await sign_item(db, world, "refused")
    [result] = await push(http, world, refusal)
    assert result["status"] == "applied"
    state = result["activity"]["submissions"]["sign_quote"]
    assert state["state"] == "refused"
    assert state["document_sha256"] == refusal["payload"]["document_sha256"]

    assert (await put_quote(http, target, unit_price="45.00")).status_code == 200
    revised = await sign_item(db, world)
    assert revised["payload"]["document_sha256"] != state["document_sha256"]
    [result] = await push(http, world, revised)
    assert result["status"] == "applied"
    assert result["activity"]["submissions"]["sign_quote"]["state"] == "signed"


async def test_deleting_an_activity_deletes_its_quote(http, world: World, fresh) -> None:
    target = world.scheduled.id
    await put_quote(http, target)
    assert (await http.delete(f"/staff/activities/{target}", headers=STAFF)).status_code == 204
    with fresh() as s:
        assert s.scalars(select(ActivityQuote)).all() == []
