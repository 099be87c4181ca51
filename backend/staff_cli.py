"""``portal staff …``: staff accounts from the command line.

``portal staff create-admin EMAIL [--name N] [--language fr|en]
[--business-unit ID ...] [--db URL]`` creates the first admin of a fresh
installation (the console has no one to sign in with yet): an admin of the
business units given, of every business unit when none is given. It prints a
one-time set-password link (``{PORTAL_PUBLIC_BASE_URL}/console/set-password#token``,
valid ``PORTAL_STAFF_SET_PASSWORD_TTL_SECONDS``); the password itself is never
typed on a command line, where shell history and process lists would keep it.

Exit codes: 0 created; 1 refused (the email has an account, an unknown
business unit, no business unit at all, a database that cannot be used);
2 bad arguments (argparse's usage errors, an email that is not one).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.core.db import begin_write
from backend.models import BusinessUnit
from backend.services import audit, staff_auth
from backend.staff_models import StaffMembership, StaffUser

CLI_ACTOR = audit.Actor("cli", None, "command line (portal staff create-admin)")
"""How the audit log names changes made with this command (no one is signed in)."""

# The same shape the staff API accepts (backend/api/routes/staff_accounts.py).
EMAIL_RE = re.compile(r"^[^@\s]{1,100}@[^@\s]{1,100}\.[^@\s]{1,60}$")

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


class AdminRefused(Exception):
    """The admin cannot be created; the message says why and what to do instead."""


@dataclass(frozen=True)
class CreatedAdmin:
    """The new account and its one-time set-password link (shown once)."""

    staff_id: int
    email: str
    business_unit_ids: tuple[int, ...]
    set_password_url: str


def create_admin(
    db: Session,
    settings: Settings,
    email: str,
    now: datetime,
    *,
    name: str = "",
    language: str = "fr",
    business_unit_ids: Sequence[int] = (),
) -> CreatedAdmin:
    """Create an admin of ``business_unit_ids`` (all units when empty) and its link.

    Raises :class:`AdminRefused` for an email that already has an account
    (the command never changes an existing one: an admin does that in the
    console), an unknown business unit, or a database without any. Writes
    one audit entry per unit. The caller commits.
    """
    begin_write(db)  # before the first read: check and create in one transaction
    mail = staff_auth.normalize_email(email)
    if db.scalars(select(StaffUser.id).where(StaffUser.email == mail)).first() is not None:
        raise AdminRefused(
            f"An account with the email {mail} already exists; nothing was changed. "
            "To give it a new password, an admin uses 'Reset password' in the console."
        )
    known = list(db.scalars(select(BusinessUnit.id).order_by(BusinessUnit.id)))
    if not known:
        raise AdminRefused(
            "The database has no business unit yet; create one (or load the demo with "
            "'portal demo') before the first admin."
        )
    wanted = list(dict.fromkeys(business_unit_ids)) or known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        listed = ", ".join(str(i) for i in unknown)
        raise AdminRefused(
            f"No business unit with the id {listed}; the ids are: "
            + ", ".join(str(i) for i in known)
        )
    staff = StaffUser(email=mail, name=name, language=language, created_at=now)
    staff.memberships = [StaffMembership(business_unit_id=bu, role="admin") for bu in wanted]
    db.add(staff)
    db.flush()
    url = staff_auth.issue_set_password(db, settings, staff, now)
    for bu in wanted:
        audit.record(
            db,
            CLI_ACTOR,
            "staff.created",
            now,
            business_unit_id=bu,
            target_kind="staff",
            target_id=staff.id,
            target_label=mail,
            before=None,
            after={"email": mail, "name": name, "role": "admin"},
        )
    return CreatedAdmin(staff.id, mail, tuple(wanted), url)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal staff", description="Staff accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser(
        "create-admin",
        help="create an admin and print a one-time set-password link",
        description="Create an admin account (of every business unit unless --business-unit "
        "is given) and print a one-time link to choose its password. Settings come from "
        "PORTAL_* variables: PORTAL_DATABASE_URL, PORTAL_PUBLIC_BASE_URL (the link's "
        "address), PORTAL_SECRET_KEY.",
    )
    create.add_argument("email", help="the admin's email address (their sign-in name)")
    create.add_argument("--name", default="", help="the name shown in the console")
    create.add_argument(
        "--language", choices=("fr", "en"), default="fr", help="console language (default: fr)"
    )
    create.add_argument(
        "--business-unit",
        dest="business_units",
        type=int,
        action="append",
        default=[],
        metavar="ID",
        help="a business unit to administer (repeat for several; default: all of them)",
    )
    create.add_argument(
        "--db",
        help="database URL or SQLite file (default: PORTAL_DATABASE_URL, else "
        "$PORTAL_DATA_DIR/portal.db, else var/portal.db)",
    )
    return parser


def _database_url(settings: Settings, value: str | None) -> str:
    if not value:
        return settings.resolved_database_url()
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def main(argv: Sequence[str] | None = None) -> int:
    """``portal staff``: run one sub-command and return its exit code."""
    args = build_parser().parse_args(argv)
    if not EMAIL_RE.match(args.email.strip()):
        print(f"error: {args.email!r} is not an email address", file=sys.stderr)
        return EXIT_USAGE
    from backend.core.db import make_engine, make_sessionmaker, upgrade

    settings = Settings()
    url = _database_url(settings, args.db)
    try:
        upgrade(url)  # a fresh installation may not have its tables yet
        engine = make_engine(url, pool_size=1)
        try:
            with make_sessionmaker(engine)() as db:
                created = create_admin(
                    db,
                    settings,
                    args.email,
                    datetime.now(UTC),
                    name=args.name,
                    language=args.language,
                    business_unit_ids=args.business_units,
                )
                db.commit()
        finally:
            engine.dispose()
    except AdminRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        shown = make_url(url).render_as_string()  # the password masked
        print(f"error: cannot use the database {shown}: {reason}", file=sys.stderr)
        return EXIT_REFUSED
    units = ", ".join(str(i) for i in created.business_unit_ids)
    hours = settings.staff_set_password_ttl_seconds // 3600
    print(f"Created admin {created.email} (business units {units}).")
    print(f"Set the password within {hours} hours, once, at:")
    print(f"  {created.set_password_url}")
    return EXIT_OK
