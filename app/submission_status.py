"""What became of the forms, signatures and surveys of one appointment.

No I/O and no Flet: from the synced activity document (what the server
recorded: ``submissions``) and the outbox items about it (what waits on this
device), one line per action for the detail screen:

- "Waiting to be sent" while an item is queued (offline, or not pushed yet);
- "Not accepted: <reason>" for an item the server refused, with the way out:
  fix and send again, or discard;
- "Sent on …", "Signed on …", "Refused on …" once the server has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from app import booking_rules
from app.i18n import Translator, parse_utc
from app.refusals import refusal_text
from app.sync.outbox import PENDING, REJECTED, SENT, Mutation

State = Literal["pending", "rejected", "sent", "signed", "refused"]


@dataclass(frozen=True)
class SubmissionLine:
    """One action's state, as the detail screen shows it."""

    action_key: str
    label: str
    state: State
    text: str
    # The refused outbox item (fix and resend, or discard).
    mutation_id: str | None = None


def submission_lines(
    doc: dict[str, Any], items: list[Mutation], tr: Translator
) -> list[SubmissionLine]:
    """The lines of one activity, in the order its actions are configured."""
    labels = {
        str(a["key"]): str(a["label"])
        for a in booking_rules.configured_actions(doc)
        if a.get("kind") in booking_rules.FORM_KINDS
    }
    lines: list[SubmissionLine] = []
    for key, label in labels.items():
        mine = [item for item in items if item.action_key == key]
        for item in mine:
            if item.status == PENDING:
                lines.append(SubmissionLine(key, label, "pending", tr.t("submission.pending")))
            elif item.status == REJECTED:
                lines.append(
                    SubmissionLine(
                        key,
                        label,
                        "rejected",
                        tr.t("submission.rejected", reason=refusal_text(item, tr)),
                        item.mutation_id,
                    )
                )
        server = booking_rules.answered(doc, key)
        if server is not None:
            at = parse_utc(server.get("at"))
            when = tr.date(at) if at else ""
            state = str(server.get("state"))
            if state == "signed":
                lines.append(
                    SubmissionLine(key, label, "signed", tr.t("submission.signed", date=when))
                )
            elif state == "refused":
                lines.append(
                    SubmissionLine(key, label, "refused", tr.t("submission.refused", date=when))
                )
            else:
                lines.append(SubmissionLine(key, label, "sent", tr.t("submission.sent", date=when)))
        elif any(item.status == SENT for item in mine):
            # Applied, and the pull has not brought the server's record yet.
            lines.append(SubmissionLine(key, label, "sent", tr.t("submission.sent_now")))
    return lines
