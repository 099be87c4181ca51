"""Sentences for the screens: a translation key and its parameters.

Errors never reach the UI as exceptions: each view-model turns a failure
into a ``Message`` that the screen shows in the user's language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.i18n import Translator
from app.sync.api import ApiError, RateLimited, Rejected


@dataclass(frozen=True)
class Message:
    """A sentence to show: a translation key and its parameters."""

    key: str
    params: dict[str, object] = field(default_factory=dict)

    def text(self, tr: Translator) -> str:
        """The sentence in ``tr``'s language."""
        return tr.t(self.key, **self.params)


def minutes_for(seconds: int | float) -> int:
    """Whole minutes to tell the user to wait (at least 1)."""
    return max(1, math.ceil(seconds / 60))


def message_for(exc: ApiError) -> Message:
    """Turn an API failure into a sentence for the sign-in and sync screens."""
    if isinstance(exc, RateLimited):
        return Message("signin.error.rate_limited", {"minutes": minutes_for(exc.retry_after)})
    if isinstance(exc, Rejected) and exc.message_key == "error.code_rejected":
        if exc.tries_left:
            return Message("signin.error.wrong_code", {"tries": exc.tries_left})
        if "expired" in (exc.detail or "").lower():
            return Message("signin.error.code_expired")
        return Message("signin.error.code_dead")
    return Message(exc.message_key)
