"""Staff (admins): accounts, API keys and the audit log (view-model).

Secrets the server shows once (a set-password link, an API key) are kept in
``shown_secret`` only until the screen is left or something else happens.
"""

from __future__ import annotations

import json
from typing import Any

from app.staff.state import ROLES, Action, ConsoleState

AUDIT_PAGE = 50


class AdminModel:
    """Accounts, keys and audit entries of the admin's business units."""

    def __init__(self, state: ConsoleState) -> None:
        """Empty until ``load``."""
        self.state = state
        self.action = Action(state)
        self.accounts: list[dict[str, Any]] = []
        self.keys: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.audit_next: str | None = None
        self.shown_secret: str | None = None
        self.shown_label: str | None = None

    @property
    def editable(self) -> bool:
        """Admins of the current business unit manage staff there."""
        return self.state.can("admin")

    async def load(self) -> bool:
        """Accounts, keys and the first page of the audit log."""
        accounts = await self.action.run(self.state.api.accounts)
        if accounts is None:
            return False
        keys = await self.action.run(self.state.api.api_keys)
        if keys is None:
            return False
        self.accounts, self.keys = accounts, keys
        return await self.load_audit()

    async def load_audit(self, more: bool = False) -> bool:
        """The newest audit entries of the current business unit (``more``: older ones)."""
        before = self.audit_next if more else None
        if more and not before:
            return False
        page = await self.action.run(
            lambda: self.state.api.audit(self.state.bu_id, limit=AUDIT_PAGE, before=before)
        )
        if page is None:
            return False
        items = list(page.get("items") or [])
        self.audit = [*self.audit, *items] if more else items
        self.audit_next = page.get("next")
        return True

    def forget_secret(self) -> None:
        """Stop showing a link or key shown once."""
        self.shown_secret = None
        self.shown_label = None

    async def create_account(self, email: str, name: str, language: str, role: str) -> bool:
        """A new account in the current business unit; its set-password link is shown once."""
        bu_id = self.state.bu_id
        if role not in ROLES or bu_id is None:
            return False
        body = {
            "email": email.strip(),
            "name": name.strip() or email.strip(),
            "language": language,
            "memberships": [{"business_unit_id": bu_id, "role": role}],
        }
        data = await self.action.run(lambda: self.state.api.create_account(body))
        if data is None:
            return False
        self.shown_secret = str(data.get("set_password_url") or "")
        self.shown_label = self.state.tr.t("console.staff.link_once", email=email.strip())
        await self.load()
        return True

    def role_in_bu(self, account: dict[str, Any]) -> str | None:
        """An account's role in the current business unit."""
        for m in account.get("memberships") or []:
            if m.get("business_unit_id") == self.state.bu_id:
                return str(m.get("role"))
        return None

    async def set_role(self, account: dict[str, Any], role: str | None) -> bool:
        """Change (or remove, with None) an account's role in the current business unit."""
        bu_id = self.state.bu_id
        memberships = [
            {"business_unit_id": m["business_unit_id"], "role": m["role"]}
            for m in account.get("memberships") or []
            if m.get("business_unit_id") != bu_id
        ]
        if role is not None:
            memberships.append({"business_unit_id": bu_id, "role": role})
        staff_id = int(account["id"])
        data = await self.action.run(
            lambda: self.state.api.patch_account(staff_id, {"memberships": memberships})
        )
        if data is None:
            return False
        await self.load()
        return True

    async def set_disabled(self, account: dict[str, Any], disabled: bool) -> bool:
        """Disable (or enable again) an account."""
        staff_id = int(account["id"])
        data = await self.action.run(
            lambda: self.state.api.patch_account(staff_id, {"disabled": disabled})
        )
        if data is None:
            return False
        await self.load()
        return True

    async def reset_password(self, account: dict[str, Any]) -> bool:
        """A new set-password link, shown once."""
        staff_id = int(account["id"])
        url = await self.action.run(lambda: self.state.api.reset_password(staff_id))
        if url is None:
            return False
        self.shown_secret = url
        self.shown_label = self.state.tr.t("console.staff.link_once", email=account.get("email"))
        return True

    async def create_key(self, name: str, role: str) -> bool:
        """A new API key for the current business unit, shown once."""
        bu_id = self.state.bu_id
        if bu_id is None or role not in ROLES:
            return False
        body = {"name": name.strip(), "business_unit_ids": [bu_id], "role": role}
        data = await self.action.run(lambda: self.state.api.create_api_key(body))
        if data is None:
            return False
        self.shown_secret = str(data.get("key") or "")
        self.shown_label = self.state.tr.t("console.staff.key_once", name=name.strip())
        await self.load()
        return True

    async def revoke_key(self, key_id: int) -> bool:
        """Revoke an API key."""
        await self.action.run(lambda: self.state.api.revoke_api_key(key_id))
        if self.action.error:
            return False
        await self.load()
        return True


def change_text(entry: dict[str, Any]) -> str:
    """``field: before → after`` lines of an audit entry."""
    before = entry.get("before") or {}
    after = entry.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{_short(before)} → {_short(after)}"
    lines = []
    for name in sorted(set(before) | set(after)):
        lines.append(f"{name}: {_short(before.get(name))} → {_short(after.get(name))}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"
