"""Why the server refused a queued form, signature or survey, in the client's language.

No I/O: pure functions over an outbox ``Mutation``. The push
(``app.sync.push``) keeps the server's refusal in ``Mutation.result``:
``{"code", "detail", "params", "errors"}``. Codes come from
``backend/services/submissions.py`` (and ``invalid_mutation`` from the
route, ``mutation_id_reused`` from ``backend/services/mutations.py``);
``too_large`` and ``unreadable`` are the push's own, for an item the server
would not take even alone. An unknown code (a newer server) shows the
server's English ``detail``: better a sentence in English than none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.i18n import Translator, parse_utc
from app.sync.outbox import REJECTED, Mutation

# Code -> translation key. Keep one entry per code the server can send; a
# test reads the backend's codes and checks each one is here.
REFUSAL_KEYS: Mapping[str, str] = {
    "not_found": "push.refused.not_found",
    "activity_cancelled": "push.refused.activity_cancelled",
    "action_unknown": "push.refused.action_unknown",
    "action_unavailable": "push.refused.action_unavailable",
    "form_missing": "push.refused.form_missing",
    "invalid_answers": "push.refused.invalid_answers",
    "invalid_payload": "push.refused.invalid_payload",
    "invalid_mutation": "push.refused.unreadable",
    "document_changed": "push.refused.document_changed",
    "already_signed": "push.refused.already_signed",
    "already_refused": "push.refused.already_refused",
    "already_answered": "push.refused.already_answered",
    "mutation_id_reused": "push.refused.mutation_id_reused",
    "too_large": "push.refused.too_large",
    "unreadable": "push.refused.unreadable",
}
# Codes whose sentence names the day of the earlier answer (``params.at``).
DATED = {"already_signed", "already_refused", "already_answered"}
# Extra keys chosen by the refusal's details (not one per code).
FORM_MISSING_PHONE = "push.refused.form_missing_phone"
INVALID_REASON = "push.refused.invalid_reason"
UNKNOWN = "push.refused.unknown"


def _refusal(mutation: Mutation) -> Mapping[str, Any]:
    result = mutation.result
    return result if isinstance(result, dict) else {}


def refusal_code(mutation: Mutation) -> str | None:
    """The server's reason code of a rejected item (None when it is not rejected)."""
    if mutation.status != REJECTED:
        return None
    code = _refusal(mutation).get("code")
    return code if isinstance(code, str) else None


def refusal_errors(mutation: Mutation) -> dict[str, list[dict[str, Any]]]:
    """Per-field errors of a refused item: ``{field: [{"code", "params", "message"}]}``.

    The form screen shows them on the fields when the person fixes the
    answers (the codes are those of ``backend/forms.py``).
    """
    if mutation.status != REJECTED:
        return {}
    errors = _refusal(mutation).get("errors")
    if not isinstance(errors, dict):
        return {}
    return {str(name): list(found) for name, found in errors.items() if isinstance(found, list)}


def refusal_text(mutation: Mutation, tr: Translator, *, phone: str = "") -> str:
    """One sentence saying why the server refused ``mutation``, in ``tr``'s language.

    "" for an item that was not refused. ``phone`` is the company's number
    (branding), for the refusals that say "call us".
    """
    if mutation.status != REJECTED:
        return ""
    refusal = _refusal(mutation)
    code = refusal.get("code")
    detail = str(refusal.get("detail") or mutation.reason or "")
    params = refusal.get("params")
    params = params if isinstance(params, dict) else {}
    key = REFUSAL_KEYS.get(code) if isinstance(code, str) else None
    if key is None:
        return detail or tr.t(UNKNOWN)
    if code in DATED:
        at = parse_utc(params.get("at") if isinstance(params.get("at"), str) else None)
        if at is None:
            return detail or tr.t(UNKNOWN)
        return tr.t(key, date=tr.date(at))
    if code == "form_missing" and phone:
        return tr.t(FORM_MISSING_PHONE, phone=phone)
    if code == "invalid_payload" and "reason" in refusal_errors(mutation):
        return tr.t(INVALID_REASON)
    return tr.t(key)
