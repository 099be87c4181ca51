"""The sign-in flow's view-model: one-time code, pasted login link, opened link.

Views (``app.views.sign_in``) read ``form`` and call the async methods; a
refusal becomes a ``Message`` on the form, never an exception. Once the
server gives a session, ``AppState.begin_session`` takes over (token, cache,
screens).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from app.messages import Message, message_for
from app.sync.api import ApiError, RateLimited, SignedIn

if TYPE_CHECKING:
    from app.state import AppState

CODE_RE = re.compile(r"^\d{6}$")
# A refusal to send a code with a wait this short means one was sent a moment
# ago (the per-identifier gap, 60 s by default): show the code form and its
# countdown. A longer wait is the hourly limit: say so on the first form.
JUST_SENT_MAX_WAIT = 120


def link_token_from(text: str) -> str:
    """The token of a pasted login link: a full URL ending in ``#token``, or the token."""
    value = text.strip()
    if "#" in value:
        value = value.rsplit("#", 1)[1]
    elif "/" in value:
        value = value.rstrip("/").rsplit("/", 1)[1]
    return value.strip()


class SignInStep(StrEnum):
    """Which sign-in form is shown."""

    IDENTIFIER = "identifier"
    CODE = "code"
    LINK = "link"
    CONFIRM_LINK = "confirm_link"


@dataclass
class SignInState:
    """The sign-in flow: the form shown, what was typed, the last error."""

    step: SignInStep = SignInStep.IDENTIFIER
    identifier: str = ""
    busy: bool = False
    error: Message | None = None
    # time.monotonic() value after which "send a new code" is allowed.
    resend_at: float = 0.0
    # A link opened in the browser, waiting for the person to confirm it.
    opened_link: str | None = field(default=None, repr=False)
    link_business_unit: str = ""

    def resend_seconds_left(self, now: float) -> int:
        """Seconds until a new code may be requested (0: now)."""
        return max(0, math.ceil(self.resend_at - now))


class SignInModel:
    """One session's sign-in forms; emits ``"signin"`` after each change."""

    def __init__(self, state: AppState) -> None:
        """Start on the identifier form."""
        self._state = state
        self.form = SignInState()

    async def _changed(self) -> None:
        await self._state.emit("signin")

    async def request_code(self, identifier: str) -> bool:
        """Ask for a one-time code; True when the code form should be shown."""
        identifier = identifier.strip()
        if not identifier:
            self.form.error = Message("signin.error.empty_identifier")
            await self._changed()
            return False
        self.form.identifier = identifier
        self.form.busy = True
        self.form.error = None
        await self._changed()
        try:
            retry_after = await self._state.api.request_code(identifier)
        except RateLimited as exc:
            # One state at a time: either "we sent you a code" with its
            # countdown, or "too many attempts", never both.
            self.form.resend_at = self._state.monotonic() + exc.retry_after
            if exc.retry_after <= JUST_SENT_MAX_WAIT:
                self.form.step = SignInStep.CODE
            elif self.form.step != SignInStep.CODE:
                self.form.error = message_for(exc)
            # On the code form (a resend), the countdown tells the wait in minutes.
        except ApiError as exc:
            self.form.error = message_for(exc)
        else:
            self.form.step = SignInStep.CODE
            self.form.resend_at = self._state.monotonic() + retry_after
        finally:
            self.form.busy = False
        await self._changed()
        return self.form.step == SignInStep.CODE

    async def resend_code(self) -> bool:
        """Send a new code to the same identifier once the countdown is over."""
        if self.form.resend_seconds_left(self._state.monotonic()) > 0:
            return False
        return await self.request_code(self.form.identifier)

    async def verify_code(self, code: str) -> bool:
        """Exchange the typed code for a session; True when signed in."""
        code = re.sub(r"\s", "", code)
        if not CODE_RE.match(code):
            self.form.error = Message("signin.error.bad_code_format")
            await self._changed()
            return False
        return await self._sign_in_with(
            lambda: self._state.api.verify_code(self.form.identifier, code)
        )

    async def use_link(self, text: str) -> bool:
        """Sign in with a pasted permanent login link or its token; True when signed in."""
        token = link_token_from(text)
        if not token:
            self.form.error = Message("signin.error.empty_link")
            await self._changed()
            return False
        return await self._sign_in_with(lambda: self._state.api.confirm_link(token))

    async def open_link(self, token: str) -> bool:
        """A link opened in the browser: check it (never consumes) and ask to confirm.

        Mail and SMS scanners that run pages must not use a single-use link, so
        only the person's tap on "Sign in" (``confirm_opened_link``) does.
        """
        self.form = SignInState(step=SignInStep.LINK, busy=True)
        await self._changed()
        try:
            preview = await self._state.api.inspect_link(token)
        except ApiError as exc:
            self.form.error = message_for(exc)
            self.form.busy = False
            await self._changed()
            return False
        self.form = SignInState(
            step=SignInStep.CONFIRM_LINK,
            opened_link=token,
            link_business_unit=str(preview.get("business_unit") or ""),
        )
        await self._changed()
        return True

    async def confirm_opened_link(self) -> bool:
        """Use the link ``open_link`` checked; a refusal lands on the link form."""
        token = self.form.opened_link
        if not token:
            return await self.use_link("")
        if await self._sign_in_with(lambda: self._state.api.confirm_link(token)):
            return True
        self.form.step = SignInStep.LINK
        self.form.opened_link = None
        await self._changed()
        return False

    async def show_step(self, step: SignInStep) -> None:
        """Switch sign-in form (link entry, back to the identifier)."""
        self.form.step = step
        self.form.error = None
        self.form.opened_link = None
        await self._changed()

    async def _sign_in_with(self, call: Callable[[], Awaitable[SignedIn]]) -> bool:
        self.form.busy = True
        self.form.error = None
        await self._changed()
        try:
            signed = await call()
        except ApiError as exc:
            self.form.error = message_for(exc)
            self.form.busy = False
            if isinstance(exc, RateLimited) and self.form.step == SignInStep.CODE:
                # No code can be checked for a while: the code form would only
                # contradict the error ("we sent you a code").
                self.form.step = SignInStep.IDENTIFIER
            await self._changed()
            return False
        await self._state.begin_session(signed)
        return True
