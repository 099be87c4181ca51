"""A small two-client world shared by the portal and sync tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.models import Activity, ActivityType, BusinessUnit, Client, FormDefinition
from backend.services import feed
from backend.services.sessions import create_session
from tests import factories


@dataclass
class World:
    bu: BusinessUnit
    alice: Client
    bob: Client
    boiler: ActivityType
    hidden: ActivityType
    access_form: FormDefinition
    upcoming: Activity
    past: Activity
    cancelled: Activity
    internal: Activity
    bobs: Activity
    alice_token: str
    bob_token: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def build_world(db: Session, settings: Settings, now: datetime) -> World:
    bu = factories.business_unit(db)
    alice = factories.client(db, bu)
    bob = factories.client(db, bu, name="Bob Durand", email="bob@example.com", phone="0700000001")
    access_form = factories.form(db, bu)
    boiler = factories.activity_type(
        db,
        bu,
        portal_actions=[
            {
                "key": "reschedule",
                "kind": "reschedule",
                "label": "Change the date",
                "form_id": None,
                "notify_planning": True,
                "conditions": {
                    "statuses": ["scheduled"],
                    "timing": "before_visit",
                    "min_hours_before": 24,
                },
            },
            {
                "key": "access",
                "kind": "fill_form",
                "label": "Tell us how to get in",
                "form_id": access_form.id,
                "notify_planning": False,
                "conditions": {"statuses": [], "timing": "before_visit", "min_hours_before": 0},
            },
        ],
    )
    hidden = factories.activity_type(
        db, bu, name="Internal check", portal_shown=False, title_template="{type.name}"
    )
    tech = factories.technician(db, bu)
    upcoming = factories.activity(db, alice, boiler, now + timedelta(days=3), tech=tech)
    past = factories.activity(db, alice, boiler, now - timedelta(days=10), status="done", tech=tech)
    cancelled = factories.activity(db, alice, boiler, now + timedelta(days=5), status="cancelled")
    internal = factories.activity(db, alice, hidden, now + timedelta(days=1), tech=tech)
    bobs = factories.activity(db, bob, boiler, now + timedelta(days=2), tech=tech)
    db.flush()
    for c in (alice, bob):
        feed.refresh_client(db, c.id)
    alice_token = create_session(db, settings, alice.id, "code", now)
    bob_token = create_session(db, settings, bob.id, "code", now)
    db.commit()
    return World(
        bu=bu,
        alice=alice,
        bob=bob,
        boiler=boiler,
        hidden=hidden,
        access_form=access_form,
        upcoming=upcoming,
        past=past,
        cancelled=cancelled,
        internal=internal,
        bobs=bobs,
        alice_token=alice_token,
        bob_token=bob_token,
    )
