"""One console session: who is signed in, which business unit, what the role allows.

No widgets here. Screens read ``ConsoleState`` and call its methods; the
sign-in steps (password, then a TOTP code when the server asks, a lockout
with its wait) and the set-password link live here too, since they are
small. Every call that reaches the server goes through ``run`` so that the
busy flag (buttons disabled) and the error sentence are handled once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.i18n import Translator, normalize_language
from app.messages import minutes_for
from app.staff.api import (
    ApiError,
    NeedsTotp,
    RateLimited,
    StaffApi,
    Unauthorized,
    error_text,
)

log = logging.getLogger(__name__)

# Roles in increasing power; a screen asks for the least role that may act.
ROLES: tuple[str, ...] = ("viewer", "planner", "admin")
PASSWORD_MIN_LENGTH = 12

T = TypeVar("T")


def role_allows(role: str | None, needed: str) -> bool:
    """True when ``role`` is at least ``needed`` (viewer < planner < admin)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass
class Membership:
    """The staff member's role in one business unit."""

    business_unit_id: int
    business_unit_name: str
    role: str


@dataclass
class SignInForm:
    """What the sign-in screen shows: its step, a message, whether a call runs."""

    step: str = "credentials"  # "credentials" | "totp"
    error: str | None = None
    busy: bool = False
    wait_seconds: int | None = None


@dataclass
class Staff:
    """The signed-in staff member."""

    id: int
    email: str
    name: str
    language: str
    memberships: list[Membership] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Staff:
        """Read ``GET /staff/me`` (or the login answer's ``staff``)."""
        return cls(
            id=int(data.get("id") or 0),
            email=str(data.get("email") or ""),
            name=str(data.get("name") or data.get("email") or ""),
            language=normalize_language(str(data.get("language") or "en")),
            memberships=[
                Membership(
                    int(m["business_unit_id"]),
                    str(m.get("business_unit_name") or m["business_unit_id"]),
                    str(m.get("role") or "viewer"),
                )
                for m in data.get("memberships") or []
            ],
        )


Listener = Callable[[str], Awaitable[None]]


class ConsoleState:
    """One browser session of the console."""

    def __init__(self, api: StaffApi, tr: Translator | None = None) -> None:
        """Signed out, in ``tr``'s language."""
        self.api = api
        self.tr = tr or Translator()
        self.staff: Staff | None = None
        self.bu_id: int | None = None
        self.form = SignInForm()
        self.language_chosen = False
        self._email = ""
        self._password = ""
        self._listeners: list[Listener] = []

    # -- events -------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """``listener(event)`` runs on ``session``, ``language`` and ``bu`` changes."""
        self._listeners.append(listener)

    async def emit(self, event: str) -> None:
        """Tell every listener."""
        for listener in list(self._listeners):
            await listener(event)

    # -- who may do what ------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        """True with a live staff session."""
        return self.staff is not None

    @property
    def role(self) -> str | None:
        """The role in the current business unit."""
        if self.staff is None:
            return None
        for m in self.staff.memberships:
            if m.business_unit_id == self.bu_id:
                return m.role
        return None

    def can(self, needed: str) -> bool:
        """True when the role in the current business unit is at least ``needed``."""
        return role_allows(self.role, needed)

    @property
    def is_admin_anywhere(self) -> bool:
        """Admin of at least one business unit (the Staff screen)."""
        return bool(self.staff and any(m.role == "admin" for m in self.staff.memberships))

    @property
    def bu_name(self) -> str:
        """The current business unit's name."""
        for m in self.staff.memberships if self.staff else []:
            if m.business_unit_id == self.bu_id:
                return m.business_unit_name
        return ""

    def rename_business_unit(self, bu_id: int, name: str) -> None:
        """Show ``name`` for a business unit an admin just renamed (titles, the unit menu)."""
        for m in self.staff.memberships if self.staff else []:
            if m.business_unit_id == bu_id and name:
                m.business_unit_name = name

    async def choose_business_unit(self, bu_id: int) -> None:
        """Work on another business unit (one the staff member belongs to)."""
        if self.staff and any(m.business_unit_id == bu_id for m in self.staff.memberships):
            self.bu_id = bu_id
            await self.emit("bu")

    # -- calls --------------------------------------------------------------------------

    def describe(self, exc: ApiError) -> str:
        """The sentence shown for a failed call."""
        if isinstance(exc, RateLimited):
            return self.tr.t("console.error.rate_limited", minutes=minutes_for(exc.retry_after))
        return error_text(exc, self.tr.t)

    async def session_lost(self) -> None:
        """A 401 on a signed-in call: back to the sign-in screen with a message."""
        self.staff = None
        self.api.token = None
        self.form = SignInForm(error=self.tr.t("console.signin.expired"))
        await self.emit("session")

    # -- sign-in -------------------------------------------------------------------------

    async def sign_in(self, email: str, password: str, totp_code: str | None = None) -> bool:
        """Password (and TOTP) sign-in; the form says what went wrong."""
        if totp_code is None:
            self._email, self._password = email.strip(), password
        if not self._email or not self._password:
            self.form = SignInForm(step=self.form.step, error=self.tr.t("console.signin.missing"))
            return False
        self.form.busy, self.form.error, self.form.wait_seconds = True, None, None
        try:
            signed = await self.api.login(self._email, self._password, totp_code)
        except NeedsTotp as exc:
            # The first answer only asks for the code; a later one says it was wrong.
            error = self.describe(exc) if totp_code else None
            self.form = SignInForm(step="totp", error=error)
            return False
        except RateLimited as exc:
            self.form = SignInForm(
                step=self.form.step, error=self.describe(exc), wait_seconds=exc.retry_after
            )
            return False
        except ApiError as exc:
            self.form = SignInForm(step=self.form.step, error=self.describe(exc))
            return False
        self._password = ""
        await self._start(signed.staff)
        return True

    async def _start(self, staff_json: dict[str, Any]) -> None:
        self.staff = Staff.from_json(staff_json)
        self.form = SignInForm()
        if not self.language_chosen:
            self.tr.set_language(self.staff.language)
        memberships = self.staff.memberships
        if self.bu_id not in {m.business_unit_id for m in memberships}:
            self.bu_id = memberships[0].business_unit_id if memberships else None
        await self.emit("session")

    def back_to_credentials(self) -> None:
        """Leave the TOTP step."""
        self.form = SignInForm()
        self._password = ""

    async def sign_out(self) -> None:
        """End the session on the server (best effort) and show the sign-in screen."""
        try:
            await self.api.logout()
        except ApiError as exc:
            log.info("staff logout: %s", type(exc).__name__)
        self.staff = None
        self.form = SignInForm()
        await self.emit("session")

    async def set_password(self, token: str, password: str, again: str) -> str | None:
        """Use a set-password link; None when done, else the sentence to show."""
        if password != again:
            return self.tr.t("console.password.mismatch")
        if len(password) < PASSWORD_MIN_LENGTH:
            return self.tr.t("console.password.short", count=PASSWORD_MIN_LENGTH)
        try:
            await self.api.set_password(token, password)
        except ApiError as exc:
            return self.describe(exc)
        return None

    async def set_language(self, language: str) -> None:
        """Switch the console's language (this session only)."""
        self.tr.set_language(language)
        self.language_chosen = True
        await self.emit("language")


class Action:
    """Runs one server call for a screen: busy while it runs, the error as a sentence.

    ``busy`` disables the screen's buttons; ``error`` is what to show (None
    when the last call worked). A 401 sends the session back to sign-in.
    """

    def __init__(self, state: ConsoleState) -> None:
        """Idle, no error."""
        self.state = state
        self.busy = False
        self.error: str | None = None

    async def run(self, call: Callable[[], Awaitable[T]]) -> T | None:
        """Await ``call()``; None (and ``error`` set) when it failed."""
        self.busy, self.error = True, None
        try:
            return await call()
        except Unauthorized:
            self.error = self.state.tr.t("console.signin.expired")
            await self.state.session_lost()
            return None
        except ApiError as exc:
            self.error = self.state.describe(exc)
            return None
        finally:
            self.busy = False
