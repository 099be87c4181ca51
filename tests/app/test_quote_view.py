"""The quote section's view-model (app/quote_view.py): from a synced activity document."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from app.quote_view import has_quote, quote_screen
from backend import forms
from backend.core.config import Settings
from backend.quotes import parse_quote, quote_document
from tests.backend.test_mutations import build_world
from tests.conftest import Clock

NBSP = "\u00a0"
STAFF = {"X-Staff-Token": "test-staff-token"}
QUOTE = {
    "number": "D2026-00042",
    "issued_on": "2026-11-20",
    "valid_until": "2026-12-20",
    "currency": "EUR",
    "note": "Acompte de 30 % à la signature.",
    "lines": [
        {
            "label": "Main d'œuvre",
            "quantity": "1.5",
            "unit": "h",
            "unit_price": "1234.50",
            "tax_rate": "10",
        },
        {"label": "Détartrant", "quantity": "2", "unit_price": "9.90", "tax_rate": "20"},
    ],
}


def activity_with(quote: Any) -> dict[str, Any]:
    return {"id": 7, "reference": "7", "type_name": "Dépannage", "quote": quote}


def document(**pdf: Any) -> dict[str, Any]:
    doc = quote_document(parse_quote(QUOTE))
    doc["pdf"] = pdf or None
    return doc


async def test_a_synced_quote_in_both_languages(
    http: httpx.AsyncClient, db: Session, settings: Settings, clock: Clock
) -> None:
    """The document exactly as the app pulls it from /sync, PDF included."""
    world = build_world(db, settings, clock.now)
    target = world.scheduled.id
    assert (
        await http.put(f"/staff/activities/{target}/quote", json=QUOTE, headers=STAFF)
    ).is_success
    pdf = b"%PDF-1.4\n" + b"%" * 3000
    r = await http.put(
        f"/staff/activities/{target}/quote/pdf",
        content=pdf,
        headers={**STAFF, "Content-Type": "application/pdf"},
    )
    assert r.status_code == 200
    page = (await http.get("/sync", headers=world.auth())).json()
    synced = next(
        c["body"] for c in page["changes"] if c["kind"] == "activity" and c["key"] == str(target)
    )
    assert has_quote(synced)

    fr = quote_screen(synced, "fr", today=date(2026, 11, 23))
    assert fr is not None and fr.readable and fr.problem is None
    assert fr.title == "Devis n° D2026-00042"
    assert fr.issued == "Émis le 20 nov. 2026"
    assert fr.valid_until == "Valable jusqu’au 20 déc. 2026" and not fr.expired
    assert fr.columns.unit_price == "Prix unitaire HT"
    first = fr.lines[0]
    assert (first.label, first.quantity, first.unit_price, first.tax_rate, first.total) == (
        "Main d'œuvre",
        f"1,5{NBSP}h",
        f"1{NBSP}234,50{NBSP}€",
        f"10{NBSP}%",
        f"1{NBSP}851,75{NBSP}€",
    )
    assert fr.lines[1].quantity == "2"  # no unit
    assert fr.subtotal == f"1{NBSP}871,55{NBSP}€"
    assert [(t.label, t.amount) for t in fr.taxes] == [
        (f"TVA 10{NBSP}% sur 1{NBSP}851,75{NBSP}€", f"185,18{NBSP}€"),
        (f"TVA 20{NBSP}% sur 19,80{NBSP}€", f"3,96{NBSP}€"),
    ]
    assert (fr.total_label, fr.total) == ("Total TTC", f"2{NBSP}060,69{NBSP}€")
    assert fr.note == "Acompte de 30 % à la signature."
    assert fr.pdf is not None
    assert fr.pdf.path == f"/activities/{target}/quote.pdf"
    assert fr.pdf.label == "Ouvrir le devis (PDF, 3 ko)"

    en = quote_screen(synced, "en", today=date(2026, 11, 23))
    assert en is not None
    assert en.title == "Quote D2026-00042" and en.issued == "Issued on Nov 20, 2026"
    assert en.lines[0].unit_price == "€1,234.50" and en.total == "€2,060.69"
    assert en.taxes[0].label == "VAT 10% on €1,851.75"
    assert en.pdf is not None and en.pdf.label == "Open the quote (PDF, 3 kB)"

    # The path the view gives is the one the API serves to this client.
    r = await http.get(fr.pdf.path, headers=world.auth())
    assert r.status_code == 200 and r.content == pdf
    # The figures shown are those the signature covers.
    signed = forms.document_for(synced, {"id": 1, "name": "Quote", "fields": []})
    assert signed["quote"]["total"] == "2060.69"


def test_no_quote_is_no_section() -> None:
    assert quote_screen({"id": 7}, "fr") is None
    assert quote_screen(activity_with(None), "fr") is None
    assert not has_quote({"id": 7})


def test_an_expired_quote_says_so() -> None:
    screen = quote_screen(activity_with(document()), "fr", today=date(2026, 12, 21))
    assert screen is not None and screen.expired and screen.readable
    assert screen.valid_until == "Ce devis a expiré le 20 déc. 2026."
    last_day = quote_screen(activity_with(document()), "en", today=date(2026, 12, 20))
    assert last_day is not None and not last_day.expired


@pytest.mark.parametrize(
    ("size", "french", "english"),
    [(200, "1 ko", "1 kB"), (3 * 1024, "3 ko", "3 kB"), (2_621_440, "2,5 Mo", "2.5 MB")],
)
def test_pdf_sizes(size: int, french: str, english: str) -> None:
    doc = document(url="/activities/7/quote.pdf", size=size, sha256="ab")
    fr = quote_screen(activity_with(doc), "fr", today=date(2026, 11, 23))
    en = quote_screen(activity_with(doc), "en", today=date(2026, 11, 23))
    assert fr is not None and fr.pdf is not None and fr.pdf.size == french
    assert en is not None and en.pdf is not None and en.pdf.size == english


@pytest.mark.parametrize(
    "pdf",
    [{"url": "https://elsewhere.example/x.pdf", "size": 10}, {"url": "/a.pdf", "size": "10"}],
)
def test_a_pdf_entry_the_app_cannot_use_is_left_out(pdf: dict[str, Any]) -> None:
    screen = quote_screen(activity_with(document(**pdf)), "en", today=date(2026, 11, 23))
    assert screen is not None and screen.readable and screen.pdf is None


@pytest.mark.parametrize(
    "broken",
    ["a quote", {"number": "X"}, {**quote_document(parse_quote(QUOTE)), "total": 12.5}],
)
def test_an_unreadable_quote_shows_a_sentence_not_figures(broken: Any) -> None:
    screen = quote_screen(activity_with(broken), "fr")
    assert screen is not None and not screen.readable
    assert screen.lines == () and screen.total == "" and screen.pdf is None
    assert screen.problem is not None and "mettez l’application à jour" in screen.problem.lower()
