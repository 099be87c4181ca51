"""Small builders for test data on a real database session."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from backend.contacts import normalize_email, normalize_phone
from backend.domain import PortalAction
from backend.models import (
    Activity,
    ActivityType,
    BusinessUnit,
    Client,
    ClientContact,
    FormDefinition,
    Site,
    Technician,
)


def business_unit(db: Session, **overrides: Any) -> BusinessUnit:
    values: dict[str, Any] = {
        "name": "Test Heating",
        "phone": "+33 4 72 00 00 00",
        "email": "office@test-heating.example",
        "address": "1 rue de la République, 69002 Lyon",
        "description": "Heating and plumbing since 1998.",
        "timezone": "Europe/Paris",
        "locale": "fr",
        "sms_centicredits": 1000,
    }
    values.update(overrides)
    bu = BusinessUnit(**values)
    db.add(bu)
    db.flush()
    return bu


def client(
    db: Session,
    bu: BusinessUnit,
    name: str = "Alice Martin",
    email: str | None = "alice@example.com",
    phone: str | None = "06 12 34 56 78",
    **overrides: Any,
) -> Client:
    c = Client(business_unit_id=bu.id, name=name, **overrides)
    if email:
        c.contacts.append(ClientContact(kind="email", value=normalize_email(email)))
    if phone:
        c.contacts.append(ClientContact(kind="phone", value=normalize_phone(phone)))
    c.sites.append(
        Site(
            label="Home",
            street="10 rue Mercière",
            postal_code="69002",
            city="Lyon",
            latitude=45.7625,
            longitude=4.8320,
        )
    )
    db.add(c)
    db.flush()
    return c


def form(db: Session, bu: BusinessUnit, name: str = "Access details") -> FormDefinition:
    f = FormDefinition(
        business_unit_id=bu.id,
        name=name,
        fields=[
            {"key": "access", "type": "textarea", "label": "How do we get in?", "required": True},
            {"key": "pets", "type": "yes_no", "label": "Any pets?"},
            {"key": "signature", "type": "signature", "label": "Signature", "required": True},
        ],
    )
    db.add(f)
    db.flush()
    return f


def activity_type(db: Session, bu: BusinessUnit, **overrides: Any) -> ActivityType:
    values: dict[str, Any] = {
        "name": "Boiler service",
        "default_duration_min": 60,
        "required_skills": ["boiler"],
        "portal_shown": True,
        "title_template": "{type.name} – {site.city}",
        "portal_actions": [],
    }
    values.update(overrides)
    # Stored the way the staff API stores it, so digests compare like for like.
    values["portal_actions"] = [
        PortalAction.model_validate(a).model_dump() for a in values["portal_actions"]
    ]
    t = ActivityType(business_unit_id=bu.id, **values)
    db.add(t)
    db.flush()
    return t


def technician(db: Session, bu: BusinessUnit, first_name: str = "Karim") -> Technician:
    t = Technician(
        business_unit_id=bu.id,
        first_name=first_name,
        last_name="Benali",
        skills=["boiler", "plumbing"],
        home_latitude=45.75,
        home_longitude=4.85,
        working_hours={str(d): [[480, 1080]] for d in range(5)},
    )
    db.add(t)
    db.flush()
    return t


def activity(
    db: Session,
    c: Client,
    t: ActivityType,
    start: datetime | None,
    status: str = "scheduled",
    tech: Technician | None = None,
    **overrides: Any,
) -> Activity:
    a = Activity(
        business_unit_id=c.business_unit_id,
        client_id=c.id,
        site_id=c.sites[0].id,
        type_id=t.id,
        status=status,
        scheduled_start=start,
        scheduled_end=start + timedelta(minutes=t.default_duration_min) if start else None,
        window_start=start,
        window_end=start + timedelta(hours=2) if start else None,
        technician_id=tech.id if tech else None,
        **overrides,
    )
    db.add(a)
    db.flush()
    return a
