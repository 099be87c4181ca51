"""Business unit → Client portal: settings, branding, logo and bulk access (view-model).

The screen edits a draft of the business unit's settings; ``save`` sends
only what changed (admin only: planners and viewers read). Bulk access is
two steps: ``count_bulk`` asks the server how many clients would change
(dry run), ``confirm_bulk`` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.staff.state import Action, ConsoleState

# Settings that are switches, then the branding texts, as the server names them.
SWITCHES: tuple[str, ...] = (
    "portal_enabled",
    "portal_default_for_new_clients",
    "permanent_links_allowed",
    "sms_links_allowed",
)
TEXTS: tuple[str, ...] = ("name", "phone", "email", "address", "description")
# Price of one SMS login link, in credits, when the server does not say.
DEFAULT_SMS_PRICE = 0.2


@dataclass(frozen=True)
class BulkPlan:
    """A bulk change counted by a dry run, waiting for confirmation."""

    enable: bool
    affected: int


class PortalSettingsModel:
    """The business unit's portal page."""

    def __init__(self, state: ConsoleState) -> None:
        """Nothing loaded yet."""
        self.state = state
        self.action = Action(state)
        self.saved: dict[str, Any] = {}
        self.draft: dict[str, Any] = {}
        self.bulk: BulkPlan | None = None
        self.bulk_done: int | None = None
        self.logo: bytes | None = None

    @property
    def editable(self) -> bool:
        """Only admins change business unit settings."""
        return self.state.can("admin")

    async def load(self) -> bool:
        """Read the current business unit (and its logo for the preview)."""
        bu_id = self.state.bu_id
        if bu_id is None:
            return False
        data = await self.action.run(lambda: self.state.api.business_unit(bu_id))
        if data is None:
            return False
        self.saved = data
        self.draft = {k: data.get(k) for k in (*SWITCHES, *TEXTS)}
        for name in TEXTS:
            self.draft[name] = self.draft[name] or ""
        self.bulk = None
        self.bulk_done = None
        return True

    def set(self, name: str, value: Any) -> None:
        """Change one setting in the draft (nothing is sent until ``save``)."""
        if name not in SWITCHES and name not in TEXTS:
            raise KeyError(name)
        self.draft[name] = value

    @property
    def changes(self) -> dict[str, Any]:
        """What ``save`` would send: the draft's values that differ from the server's."""
        out = {}
        for name, value in self.draft.items():
            old = self.saved.get(name)
            if name in TEXTS:
                old = old or ""
            if value != old:
                out[name] = value
        return out

    @property
    def sms_credits(self) -> float:
        """The SMS credit balance."""
        return float(self.saved.get("sms_credits") or 0)

    @property
    def sms_price(self) -> float:
        """Credits one SMS link costs."""
        return float(self.saved.get("sms_price") or DEFAULT_SMS_PRICE)

    def preview_branding(self) -> dict[str, Any]:
        """The branding document the client home would show with the draft."""
        doc = {k: v for k, v in self.saved.items() if k in ("primary_color", "logo_url", "locale")}
        doc.update({name: self.draft.get(name) or None for name in TEXTS})
        doc["name"] = self.draft.get("name") or ""
        return doc

    async def save(self) -> bool:
        """Send the changed settings (admin)."""
        changes = self.changes
        bu_id = self.state.bu_id
        if not changes or bu_id is None:
            return True
        data = await self.action.run(lambda: self.state.api.patch_business_unit(bu_id, changes))
        if data is None:
            return False
        self.saved = {**self.saved, **data}
        if "name" in changes:
            # Titles and the unit menu read the name from the sign-in's memberships.
            self.state.rename_business_unit(bu_id, str(self.saved.get("name") or ""))
        return True

    async def upload_logo(self, content: bytes, filename: str) -> bool:
        """Upload a logo; the preview shows it when the server took it."""
        bu_id = self.state.bu_id
        if bu_id is None:
            return False
        data = await self.action.run(lambda: self.state.api.upload_logo(bu_id, content, filename))
        if data is None:
            return False
        self.saved["logo_url"] = data.get("logo_url")
        self.logo = content
        return True

    async def count_bulk(self, enable: bool) -> BulkPlan | None:
        """Dry run: how many clients would change."""
        bu_id = self.state.bu_id
        if bu_id is None:
            return None
        affected = await self.action.run(
            lambda: self.state.api.bulk_portal_access(bu_id, enable=enable, dry_run=True)
        )
        self.bulk_done = None
        self.bulk = None if affected is None else BulkPlan(enable, affected)
        return self.bulk

    async def confirm_bulk(self) -> int | None:
        """Apply the counted bulk change; the number of clients changed."""
        plan, bu_id = self.bulk, self.state.bu_id
        if plan is None or bu_id is None:
            return None
        affected = await self.action.run(
            lambda: self.state.api.bulk_portal_access(bu_id, enable=plan.enable, dry_run=False)
        )
        if affected is not None:
            self.bulk = None
            self.bulk_done = affected
        return affected

    def cancel_bulk(self) -> None:
        """Forget a counted bulk change."""
        self.bulk = None
