"""Messages: the business unit's outbox of codes, links and notifications (view-model)."""

from __future__ import annotations

from typing import Any

from app.staff.state import Action, ConsoleState

# Filter choices; "" shows every message.
STATUS_FILTERS: tuple[str, ...] = ("", "queued", "sent", "failed", "not_sent")


class OutboxModel:
    """The outbox list and its status filter."""

    def __init__(self, state: ConsoleState) -> None:
        """Empty until ``load``."""
        self.state = state
        self.action = Action(state)
        self.all: list[dict[str, Any]] = []
        self.status = ""

    async def load(self) -> bool:
        """Read the newest messages of the current business unit."""
        bu_id = self.state.bu_id
        if bu_id is None:
            return False
        items = await self.action.run(lambda: self.state.api.messages(bu_id))
        if items is None:
            return False
        self.all = items
        return True

    @property
    def statuses(self) -> list[str]:
        """The filter choices: the known ones and any other status present."""
        seen = [s for s in STATUS_FILTERS]
        for item in self.all:
            status = str(item.get("status") or "")
            if status and status not in seen:
                seen.append(status)
        return seen

    @property
    def items(self) -> list[dict[str, Any]]:
        """The messages the filter keeps."""
        if not self.status:
            return list(self.all)
        return [m for m in self.all if m.get("status") == self.status]

    def cost_text(self, item: dict[str, Any]) -> str:
        """A message's cost in credits ("" when free)."""
        cents = item.get("cost_centicredits")
        if cents is None and item.get("cost") is not None:
            return f"{float(item['cost']):g}"
        if not cents:
            return ""
        return f"{cents / 100:g}"

    def error_text(self, item: dict[str, Any]) -> str:
        """Why a message was not sent ("" when it was)."""
        return str(item.get("error") or item.get("reason") or "")
