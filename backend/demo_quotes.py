"""The demo's quotes: French lines in EUR (10 % and 20 % VAT) on every activity whose type
lets the client sign a quote, and a one-page PDF on some of those still to come.

Deterministic: its own random generator, seeded from the demo's seed, so adding
quotes changes none of the demo's other rows.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend.models import Activity, ActivityQuote
from backend.quote_pdf import render_quote_pdf
from backend.quotes import parse_quote, quote_document

# One in this many quotes of activities not yet done gets a PDF.
PDF_SHARE = 0.3
VALID_DAYS = 30

# (label, quantity, unit, unit price excl. tax, VAT %).
Line = tuple[str, str, str, str, str]

REPAIR_TRAVEL: Line = ("Déplacement et diagnostic", "1", "forfait", "49.00", "10")
REPAIR_EXTRAS: tuple[Line, ...] = (
    ("Joint et raccords laiton", "1", "lot", "12.80", "10"),
    ("Mitigeur thermostatique de douche", "1", "u", "89.90", "10"),
    ("Flexible inox 50 cm", "2", "u", "8.40", "10"),
    ("Groupe de sécurité pour chauffe-eau", "1", "u", "34.50", "10"),
    ("Produit détartrant 1 L (fourni, non posé)", "1", "u", "9.90", "20"),
)
HEAT_PUMP_PRICES = {"6": "7450.00", "8": "8290.00", "11": "9680.00"}
HEAT_PUMP_WORK: tuple[Line, ...] = (
    ("Pose et raccordement hydraulique et électrique", "1", "forfait", "1850.00", "10"),
    ("Mise en service et réglage de la loi d'eau", "1", "forfait", "290.00", "10"),
)
HEAT_PUMP_EXTRAS: tuple[Line, ...] = (
    ("Dépose et évacuation de l'ancienne chaudière", "1", "forfait", "420.00", "10"),
    ("Thermostat d'ambiance connecté (fourni, non posé)", "1", "u", "149.00", "20"),
)
NOTES = {
    "Dépannage": "Devis valable 30 jours. Règlement à la fin de l'intervention.",
    "Installation pompe à chaleur": (
        "Acompte de 30 % à la signature, solde à la mise en service. "
        "Éligible aux aides à la rénovation énergétique sous conditions."
    ),
}


def quote_lines(type_name: str, description: str, rng: random.Random) -> list[Line]:
    """2 to 5 lines fitting the intervention (a repair, a heat pump installation)."""
    if type_name == "Installation pompe à chaleur":
        power = re.search(r"(\d+) kW", description)
        kw = power.group(1) if power else "8"
        label = description.removeprefix("Installation d'une ")
        label = label[:1].upper() + label[1:]
        unit: Line = (label, "1", "u", HEAT_PUMP_PRICES.get(kw, "8290.00"), "10")
        extras = rng.sample(HEAT_PUMP_EXTRAS, rng.randint(0, len(HEAT_PUMP_EXTRAS)))
        return [unit, *HEAT_PUMP_WORK, *extras]
    hours = rng.choice(("1", "1.5", "2", "2.5"))
    labour: Line = ("Main d'œuvre plombier", hours, "h", "58.00", "10")
    extras = rng.sample(REPAIR_EXTRAS, rng.randint(0, 3))
    return [REPAIR_TRAVEL, labour, *extras]


def insert_quotes(
    db: Session,
    type_ids: dict[str, int],
    company: str,
    seed: int,
    timezone: str,
    chunk: int = 10_000,
) -> int:
    """Give every activity of the types ``type_ids`` (name -> id) a quote; returns how many.

    Issued on the day the activity was created, valid 30 days; the PDF (in
    French, under ``company``'s name) only on some activities not yet done.
    """
    if not type_ids:
        return 0
    names = {type_id: name for name, type_id in type_ids.items()}
    rng = random.Random(f"quotes:{seed}")
    zone = ZoneInfo(timezone)
    activities = db.execute(
        select(
            Activity.id,
            Activity.type_id,
            Activity.status,
            Activity.description,
            Activity.created_at,
        )
        .where(Activity.type_id.in_(list(names)))
        .order_by(Activity.id)
    ).all()
    next_id = (db.scalar(select(ActivityQuote.id).order_by(ActivityQuote.id.desc())) or 0) + 1
    rows: list[dict[str, Any]] = []
    for activity in activities:
        name = names[activity.type_id]
        issued = activity.created_at.astimezone(zone).date()
        lines = quote_lines(name, activity.description, rng)
        quote = parse_quote(
            {
                "number": f"D{issued.year}-{activity.id:05d}",
                "issued_on": issued.isoformat(),
                "valid_until": (issued + timedelta(days=VALID_DAYS)).isoformat(),
                "currency": "EUR",
                "note": NOTES.get(name),
                "lines": [
                    {"label": a, "quantity": b, "unit": c, "unit_price": d, "tax_rate": e}
                    for a, b, c, d, e in lines
                ],
            }
        )
        document = quote_document(quote)
        pdf = None
        if activity.status in ("to_schedule", "scheduled") and rng.random() < PDF_SHARE:
            pdf = render_quote_pdf(document, company, "fr")
        rows.append(_row(next_id, activity.id, document, pdf, activity.created_at))
        next_id += 1
    for start in range(0, len(rows), chunk):
        db.execute(insert(ActivityQuote.__table__), rows[start : start + chunk])
    return len(rows)


def _row(
    row_id: int, activity_id: int, document: dict[str, Any], pdf: bytes | None, at: datetime
) -> dict[str, Any]:
    return {
        "id": row_id,
        "activity_id": activity_id,
        "document": document,
        "pdf": pdf,
        "pdf_size": len(pdf) if pdf is not None else None,
        "pdf_sha256": hashlib.sha256(pdf).hexdigest() if pdf is not None else None,
        "created_at": at,
        "updated_at": at,
    }


def quote_type_names(types: Sequence[dict[str, Any]]) -> list[str]:
    """Names of the activity types with a ``validate_document`` action (a quote to sign)."""
    return [
        spec["name"]
        for spec in types
        if any(action.get("kind") == "validate_document" for action in spec["actions"])
    ]
