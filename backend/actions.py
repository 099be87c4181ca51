"""Which portal actions an activity offers at a given moment.

Pure so that the server, the staff preview and the offline app can all apply
the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any


def is_available(
    conditions: Mapping[str, Any], status: str, scheduled_start: datetime | None, now: datetime
) -> bool:
    """True when an action with these conditions may be used now."""
    statuses = conditions.get("statuses") or []
    if statuses and status not in statuses:
        return False
    timing = conditions.get("timing", "any")
    if timing == "before_visit":
        if scheduled_start is None:
            # Nothing scheduled yet: "before the visit" holds (booking, access info).
            return True
        margin = timedelta(hours=float(conditions.get("min_hours_before", 0) or 0))
        return now + margin <= scheduled_start
    if timing == "after_visit":
        return scheduled_start is not None and scheduled_start <= now
    return True


def available_actions(
    actions: Iterable[Mapping[str, Any]],
    status: str,
    scheduled_start: datetime | None,
    now: datetime,
) -> list[str]:
    """Keys of the actions usable now, in configuration order."""
    return [
        a["key"]
        for a in actions
        if is_available(a.get("conditions") or {}, status, scheduled_start, now)
    ]
