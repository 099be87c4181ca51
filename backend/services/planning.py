"""The notice a business unit's planning team gets when a client acts in the portal.

Callers name what happened with a code and its values; the sentence is
written here in the unit's language (the planning team reads the unit's
language, whatever the client's).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from backend.localization import format_datetime, language
from backend.models import Activity, BusinessUnit, Client
from backend.services import triggers
from backend.services.messaging import MessageSender

# What the client did, per language: {values} come from the caller;
# {when} is formatted here in the unit's time zone.
SUMMARIES: Mapping[str, Mapping[str, str]] = {
    "new_request": {"en": "new request", "fr": "nouvelle demande"},
    "booked": {"en": "visit booked for {when}", "fr": "rendez-vous pris pour le {when}"},
    "rescheduled": {"en": "visit moved to {when}", "fr": "rendez-vous déplacé au {when}"},
    "cancelled": {"en": "visit cancelled ({reason})", "fr": "rendez-vous annulé ({reason})"},
    "form_sent": {"en": "{label}: sent", "fr": "{label} : envoyé"},
    "document_signed": {"en": "{label}: signed", "fr": "{label} : signé"},
    "document_refused": {"en": "{label}: refused ({reason})", "fr": "{label} : refusé ({reason})"},
}


def summary_text(
    bu: BusinessUnit, event: str, values: Mapping[str, object], when: datetime | None = None
) -> str:
    """The notice's one-line summary of ``event`` in the unit's language."""
    lang = language(bu.locale)
    phrases = SUMMARIES[event]
    filled = {k: str(v) for k, v in values.items()}
    if when is not None:
        filled["when"] = format_datetime(when, lang, bu.timezone)
    return phrases.get(lang, phrases["en"]).format(**filled)


def notify_planning(
    db: Session,
    sender: MessageSender | None,
    bu: BusinessUnit,
    client: Client,
    activity: Activity,
    event: str,
    now: datetime,
    detail: str | None = None,
    *,
    values: Mapping[str, object] | None = None,
    when: datetime | None = None,
) -> None:
    """Queue the planning notice (``backend.services.triggers.planning_notice``).

    ``event`` is a key of :data:`SUMMARIES` (its sentence is the subject);
    the body names the activity and gives ``detail`` (the summary again when
    there is none).
    """
    if sender is None:
        return
    summary = summary_text(bu, event, values or {}, when)
    triggers.planning_notice(db, bu, client, activity, summary, now, detail)
