"""An appointment as an iCalendar (.ics) file.

Pure (no web, database or screen; DESIGN.md §2 "the contract both sides
share"): it reads the synced activity and branding documents, so the server
(``GET /activities/{id}/calendar.ics``) and the offline app build the very same
file from the same data.

The event is the arrival window, in the business unit's time zone (``TZID``
plus its ``VTIMEZONE``), so a calendar on a phone set to another zone still
shows the right local hours, across a daylight-saving change too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from backend.localization import format_time, language

PRODID = "-//Field portal//Client portal//EN"

# The description's sentences; the server has no app translator, so this pure
# module keeps its two languages beside the code like ``booking.REASONS``.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "window": "Arrival between {start} and {end}.",
        "technician": "Technician: {name}.",
        "company": "{name}",
        "phone": "To change or cancel: {phone}",
        "reference": "Reference: {id}",
    },
    "fr": {
        "window": "Arrivée entre {start} et {end}.",
        "technician": "Technicien : {name}.",
        "company": "{name}",
        "phone": "Pour modifier ou annuler : {phone}",
        "reference": "Référence : {id}",
    },
}


class NotBooked(ValueError):
    """The activity has no arrival window yet: there is nothing to put in a calendar."""


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def file_name(activity: dict[str, Any]) -> str:
    """``appointment-123.ics``: plain ASCII, safe on every platform."""
    return f"appointment-{int(activity['id'])}.ics"


def visit_ics(
    activity: dict[str, Any], branding: dict[str, Any], lang: str, now: datetime
) -> bytes:
    """The .ics file of a booked visit; raises ``NotBooked`` without a window.

    ``activity`` and ``branding`` are the documents of ``backend.services.projection``
    (as synced to the app); ``lang`` the client's language; ``now`` the DTSTAMP.
    """
    start = _utc(activity.get("window_start")) or _utc(activity.get("scheduled_start"))
    end = _utc(activity.get("window_end")) or _utc(activity.get("scheduled_end"))
    if start is None or end is None or activity.get("status") not in ("scheduled", "in_progress"):
        raise NotBooked("this activity has no appointment")
    tz_name = str(branding.get("timezone") or "Europe/Paris")
    tz = ZoneInfo(tz_name)
    texts = TEXTS[language(lang)]
    company = str(branding.get("name") or "")
    phone = str(branding.get("phone") or "")
    lines = [
        texts["window"].format(
            start=format_time(start, lang, tz_name), end=format_time(end, lang, tz_name)
        )
    ]
    technician = activity.get("technician") or {}
    if isinstance(technician, dict) and technician.get("first_name"):
        lines.append(texts["technician"].format(name=technician["first_name"]))
    if company:
        lines.append(texts["company"].format(name=company))
    if phone:
        lines.append(texts["phone"].format(phone=phone))
    lines.append(texts["reference"].format(id=activity["id"]))

    site = activity.get("site") or {}
    city = " ".join(str(p) for p in (site.get("postal_code"), site.get("city")) if p)
    address = ", ".join(str(p) for p in (site.get("street"), city) if p)

    event = icalendar.Event()
    # Stable per activity and company: importing again updates the same event.
    event.add("uid", f"activity-{int(activity['id'])}-bu-{branding.get('id', 0)}@field-portal")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", start.astimezone(tz))
    event.add("dtend", end.astimezone(tz))
    event.add("summary", str(activity.get("title") or activity.get("type_name") or company))
    event.add("description", "\n".join(lines))
    if address:
        event.add("location", address)
    if company and branding.get("email"):
        event.add("organizer", f"mailto:{branding['email']}", parameters={"CN": company})

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    # VTIMEZONE rules for the visit's year around it: complete, and short.
    calendar.add_missing_timezones(
        first_date=date(start.year - 1, 1, 1), last_date=date(end.year + 2, 1, 1)
    )
    return calendar.to_ical()
