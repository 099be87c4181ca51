"""Staff accounts of the demo: one admin, one planner and one viewer of the demo business unit.

``portal`` (the embedded demo) and ``portal serve --demo`` call
:func:`reset_demo_staff` at each start and print the result, so that the
staff console can be tried at once. The password is new at each start (as
the demo client's permanent link is): it is never written anywhere but the
argon2 hash, and a password printed by an earlier run stops working.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import begin_write
from backend.models import BusinessUnit, Client
from backend.services.staff_auth import hash_password, revoke_sessions
from backend.staff_models import (
    ClientSearchWord,
    StaffMembership,
    StaffUser,
    index_client_names,
)

DEMO_STAFF: tuple[tuple[str, str, str], ...] = (
    ("admin", "admin@demo.portal.example", "Demo admin"),
    ("planner", "planner@demo.portal.example", "Demo planner"),
    ("viewer", "viewer@demo.portal.example", "Demo viewer"),
)
"""(role, email, name) of each demo account."""


@dataclass(frozen=True)
class DemoStaff:
    """How to sign in to the console as the demo staff."""

    accounts: tuple[tuple[str, str], ...]  # (role, email)
    password: str = field(repr=False)

    def email(self, role: str) -> str:
        """The email of the demo account with ``role``."""
        return next(email for r, email in self.accounts if r == role)


# Lower case letters and digits without look-alikes (l, 1, o, 0): easy to read
# off a terminal and to type, no Shift needed; 16 of them are about 79 bits.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def new_demo_password() -> str:
    """A random password that passes the staff password rules (16 characters)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(16))


def reset_demo_staff(db: Session, now: datetime, password: str | None = None) -> DemoStaff | None:
    """Create the demo accounts if missing and give them all a new ``password``.

    None when the database has no business unit (nothing to be staff of).
    Sessions opened with the previous password end. The caller commits.
    """
    begin_write(db)  # before the first read: decide and write in one transaction
    bu_id = db.scalars(select(BusinessUnit.id).order_by(BusinessUnit.id)).first()
    if bu_id is None:
        return None
    password = password or new_demo_password()
    digest = hash_password(password)
    for role, email, name in DEMO_STAFF:
        user = db.scalars(select(StaffUser).where(StaffUser.email == email)).first()
        if user is None:
            user = StaffUser(email=email, name=name, language="en")
            user.memberships.append(StaffMembership(business_unit_id=bu_id, role=role))
            db.add(user)
        else:
            revoke_sessions(db, user.id, now)
        user.password_hash = digest
        user.disabled = False
        user.failed_logins = 0
        user.locked_until = None
    db.flush()
    index_unindexed_clients(db)
    return DemoStaff(tuple((role, email) for role, email, _ in DEMO_STAFF), password)


def index_unindexed_clients(db: Session) -> int:
    """Add the name words of clients missing from the console's search index.

    The demo dataset inserts its clients in bulk (Core inserts run no mapper
    event), so without this the console's search by name finds none of them.
    Clients already indexed are left alone; returns how many were added.
    """
    indexed = select(ClientSearchWord.client_id).where(ClientSearchWord.client_id == Client.id)
    rows = db.execute(
        select(Client.id, Client.business_unit_id, Client.name).where(~indexed.exists())
    ).all()
    index_client_names(db.connection(), [(int(i), int(b), str(n)) for i, b, n in rows])
    return len(rows)


def demo_staff_hints(staff: DemoStaff, console_url: str) -> list[str]:
    """The lines ``portal`` and ``portal serve --demo`` print about the console."""
    return [
        f"Staff console: {console_url}",
        f"  sign in as {staff.email('admin')} (admin), {staff.email('planner')} (planner)",
        f"  or {staff.email('viewer')} (viewer), password: {staff.password}",
        "  (a new password at each start)",
    ]


def reset_demo_staff_at(url: str, now: datetime) -> DemoStaff | None:
    """:func:`reset_demo_staff` on the database at ``url`` (schema already upgraded)."""
    from backend.core.db import make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            staff = reset_demo_staff(db, now)
            db.commit()
            return staff
    finally:
        engine.dispose()
