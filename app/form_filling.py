"""The form screen's view-model: fill a form, validate a document, answer a survey.

Everything works offline: the form definition and the activity come from the
local store (synced), each change is saved as a draft (``app.forms.drafts``),
and sending queues a mutation in the outbox in the same store transaction
that deletes the draft; the sync engine pushes it (now when online, later
otherwise) exactly once.

Rules kept here:

- Validation is ``backend.forms.check``, the server's own: errors are shown
  beside their fields in the client's language before anything is queued.
- A document is validated on what was shown: the SHA-256 of
  ``backend.forms.document_for`` (activity, form and quote) goes with the
  decision; the server refuses a signature made on another version.
- Accepting a document needs its answers (the signature among them);
  refusing needs a reason and nothing else.
- A refused item (the server said no: answers wrong, already signed…) opens
  with what was sent, the reason on top and each field's error beside it;
  sending it again replaces it in the outbox under a new id.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from app import booking_rules
from app.activities import ACTIVITIES, FORMS
from app.forms.drafts import Drafts
from app.forms.fields import (
    FieldSpec,
    error_messages,
    parse_fields,
    template_values,
    today_iso,
)
from app.forms.photo import MAX_INPUT_BYTES, PhotoError, prepare_photo
from app.i18n import parse_utc
from app.messages import Message
from app.quote_view import QuoteScreen, quote_screen
from app.refusals import refusal_text
from app.state import AppState
from app.sync.api import ApiError, Offline
from app.sync.outbox import REJECTED, SENT, Outbox
from backend.forms import (
    FORM_KEY,
    check,
    definition_sha256,
    document_for,
    sha256_of,
)

log = logging.getLogger(__name__)

# How long sending waits for the push before saying "waiting to be sent".
PUSH_WAIT_SECONDS = 4.0
# The server's limit on a refusal's reason (backend.services.submissions).
REASON_MAX_LENGTH = 1000
Phase = Literal["loading", "editing", "unavailable", "queued"]


@dataclass
class FormScreen:
    """What the form screen shows."""

    activity_id: str
    action_key: str
    kind: str = ""
    phase: Phase = "loading"
    title: str = ""
    activity_title: str = ""
    fields: list[FieldSpec] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    # Per field key (and ``reason``, ``_form``): the sentence shown beside it.
    errors: dict[str, Message] = field(default_factory=dict)
    # A sentence about the whole form (why it cannot be sent, what the server said).
    notice: Message | None = None
    template_values: dict[str, str] = field(default_factory=dict)
    signer_name: str = ""
    today: str = ""
    form_version: str = ""
    document_sha256: str | None = None
    # The refused outbox item being fixed (sent again under a new id).
    fixing: str | None = None
    draft_restored: bool = False
    # A quote to read before signing (``app.quote_view``), when the activity has one.
    quote: QuoteScreen | None = None

    @property
    def is_document(self) -> bool:
        """True when the client accepts or refuses a document."""
        return self.kind == "validate_document"


class FormModel:
    """One session's form screen."""

    def __init__(self, state: AppState) -> None:
        """Work through ``state`` (store, translator, clock, push)."""
        self.state = state
        self.screen: FormScreen | None = None
        self._definition: dict[str, Any] = {}
        self._activity: dict[str, Any] = {}
        self._save_lock = asyncio.Lock()
        self.queued_id: str | None = None

    @property
    def tr(self) -> Any:
        """The session's translator."""
        return self.state.tr

    # -- opening ---------------------------------------------------------------

    async def open(
        self, activity_id: str, action_key: str, *, fixing: str | None = None
    ) -> FormScreen:
        """Load the form of ``action_key`` on ``activity_id`` (a draft when there is one).

        ``fixing``: the id of a refused outbox item to correct and send again.
        """
        screen = FormScreen(activity_id=activity_id, action_key=action_key)
        self.screen = screen
        store = self.state.store
        doc = await asyncio.to_thread(store.get, ACTIVITIES, activity_id)
        if doc is None:
            screen.phase = "unavailable"
            screen.notice = Message("form.unavailable.gone")
            return screen
        self._activity = doc
        screen.activity_title = str(doc.get("title") or "")
        action = next(
            (
                a
                for a in booking_rules.configured_actions(doc)
                if a.get("key") == action_key and a.get("kind") in booking_rules.FORM_KINDS
            ),
            None,
        )
        if action is None:
            screen.phase = "unavailable"
            screen.notice = Message("form.unavailable.action")
            return screen
        screen.kind = str(action["kind"])
        screen.title = str(action.get("label") or "")
        rejected = await self._rejected(fixing) if fixing else None
        if rejected is None:
            revised = await asyncio.to_thread(self.state.activities.revised_documents, doc)
            blocked = self._blocked(doc, action_key, revised)
            if blocked is not None:
                screen.phase = "unavailable"
                screen.notice = blocked
                return screen
        form_doc = await asyncio.to_thread(store.get, FORMS, str(action.get("form_id")))
        if form_doc is None:
            screen.phase = "unavailable"
            screen.notice = Message("form.unavailable.not_downloaded")
            return screen
        self._definition = form_doc
        screen.fields = parse_fields(form_doc)
        screen.form_version = definition_sha256(form_doc)
        screen.signer_name = self.state.client_name
        screen.today = today_iso(self.state.clock(), self.tr)
        brand = self.state.company.branding
        screen.template_values = template_values(
            doc, self.state.client_name, brand.name if brand else "", self.tr
        )
        if screen.is_document:
            screen.document_sha256 = sha256_of(document_for(doc, form_doc))
            today = self.state.clock().astimezone(ZoneInfo(self.tr.timezone)).date()
            screen.quote = quote_screen(doc, self.tr.language, today)
        if rejected is not None:
            screen.fixing = rejected.mutation_id
            sent = rejected.payload.get("payload") or {}
            screen.answers = dict(sent.get("answers") or {})
            result = rejected.result if isinstance(rejected.result, dict) else {}
            screen.errors = error_messages(result.get("errors") or {})
            screen.notice = Message("form.fixing")
        else:
            draft = await asyncio.to_thread(Drafts(store).load, activity_id, action_key)
            if draft is not None:
                screen.answers = draft.answers
                screen.draft_restored = bool(draft.answers)
        screen.phase = "editing"
        return screen

    async def _rejected(self, mutation_id: str) -> Any:
        item = await asyncio.to_thread(Outbox(self.state.store).get, mutation_id)
        return item if item is not None and item.status == REJECTED else None

    def _blocked(
        self, doc: dict[str, Any], action_key: str, revised: frozenset[str]
    ) -> Message | None:
        """Why this action cannot be used now (None: it can)."""
        done = booking_rules.answered(doc, action_key)
        kind = next(
            (
                a.get("kind")
                for a in booking_rules.configured_actions(doc)
                if a["key"] == action_key
            ),
            None,
        )
        if done and kind in ("validate_document", "survey") and action_key not in revised:
            at = parse_utc(done.get("at"))
            when = self.tr.date(at) if at else ""
            key = {"signed": "form.done.signed", "refused": "form.done.refused"}.get(
                str(done.get("state")), "form.done.answered"
            )
            return Message(key, {"date": when})
        usable = {a["key"] for a in booking_rules.usable_actions(doc, self.state.clock(), revised)}
        if action_key not in usable:
            if doc.get("status") == "cancelled":
                return Message("form.unavailable.cancelled")
            return Message("form.unavailable.action")
        return None

    # -- editing ---------------------------------------------------------------

    async def set_answer(self, key: str, value: Any) -> None:
        """Keep one answer (saved as a draft at once) and clear that field's error."""
        screen = self.screen
        if screen is None or screen.phase != "editing":
            return
        if value is None or value == "" or value == []:
            screen.answers.pop(key, None)
        else:
            screen.answers[key] = value
        screen.errors.pop(key, None)
        await self._save_draft()

    async def _save_draft(self) -> None:
        screen = self.screen
        if screen is None:
            return
        answers = dict(screen.answers)
        # One write at a time, in order: the last change is the one kept.
        async with self._save_lock:
            try:
                await asyncio.to_thread(
                    Drafts(self.state.store).save,
                    screen.activity_id,
                    screen.action_key,
                    answers,
                    screen.form_version,
                    self.state.clock(),
                )
            except Exception:
                # The screen keeps the answers; say it, don't crash the form.
                log.exception("could not save the draft")
                screen.notice = Message("form.draft_not_saved")

    async def discard_draft(self) -> None:
        """Throw the draft away and start from a blank form."""
        screen = self.screen
        if screen is None:
            return
        await asyncio.to_thread(
            Drafts(self.state.store).discard, screen.activity_id, screen.action_key
        )
        screen.answers = {}
        screen.errors = {}
        screen.draft_restored = False

    # -- sending ---------------------------------------------------------------

    def validate(self) -> bool:
        """Check the answers with the server's rules; errors go beside their fields."""
        screen = self.screen
        if screen is None:
            return False
        errors, _clean = check(self._definition, screen.answers)
        screen.errors = error_messages(errors)
        if not errors:
            return True
        # A problem with the whole form (too large…) is the notice itself.
        screen.notice = screen.errors.pop(FORM_KEY, None) or Message(
            "form.error.summary", {"count": len(errors)}
        )
        return False

    async def submit(self) -> bool:
        """Send the form (or accept the document): queued at once, pushed when online."""
        screen = self.screen
        if screen is None or screen.phase != "editing" or not self.validate():
            return False
        _errors, clean = check(self._definition, screen.answers)
        payload: dict[str, Any] = {"answers": clean}
        if screen.is_document:
            payload = {
                "decision": "accepted",
                "document_sha256": screen.document_sha256,
                "answers": clean,
            }
        return await self._queue(payload)

    async def refuse(self, reason: str) -> bool:
        """Refuse the document with a reason (no signature needed)."""
        screen = self.screen
        if screen is None or screen.phase != "editing" or not screen.is_document:
            return False
        reason = reason.strip()
        if not reason:
            screen.errors["reason"] = Message("form.refuse.reason_required")
            return False
        if len(reason) > REASON_MAX_LENGTH:
            screen.errors["reason"] = Message("form.error.too_long", {"max": REASON_MAX_LENGTH})
            return False
        return await self._queue(
            {
                "decision": "refused",
                "document_sha256": screen.document_sha256,
                "reason": reason,
            }
        )

    async def _queue(self, payload: dict[str, Any]) -> bool:
        screen = self.screen
        assert screen is not None
        store = self.state.store
        body = {
            "activity_id": int(screen.activity_id),
            "action_key": screen.action_key,
            "payload": payload,
        }

        def write() -> str:
            outbox = Outbox(store)
            # Queued and draft gone in one transaction: after a crash there is
            # either the draft or the queued item, never both, never neither.
            with store.transaction():
                if screen.fixing:
                    queued = outbox.replace_rejected(screen.fixing, payload)
                else:
                    queued = outbox.enqueue(screen.kind, body)
                Drafts(store).discard(screen.activity_id, screen.action_key)
            return queued.mutation_id

        try:
            self.queued_id = await asyncio.to_thread(write)
        except Exception:
            log.exception("could not queue the form")
            screen.notice = Message("form.not_queued")
            return False
        screen.phase = "queued"
        screen.notice = Message("form.queued")
        # Online, it leaves now; offline, the next sync sends it. Wait a moment
        # so that a good connection shows "sent" at once; a slow one shows
        # "waiting" and the screen changes when the push ends (status events).
        task = await self.state.push_now()
        if task is not None:
            await asyncio.wait({task}, timeout=PUSH_WAIT_SECONDS)
        await self.refresh_sent()
        return True

    async def refresh_sent(self) -> None:
        """Say whether the queued answers left, wait, or were refused."""
        screen = self.screen
        if screen is None or screen.phase != "queued" or self.queued_id is None:
            return
        item = await asyncio.to_thread(Outbox(self.state.store).get, self.queued_id)
        if item is None or item.status == SENT:
            screen.notice = Message("form.sent.document" if screen.is_document else "form.sent")
        elif item.status == REJECTED:
            screen.notice = Message(
                "form.refused_by_server", {"reason": refusal_text(item, self.tr)}
            )
        else:
            screen.notice = Message("form.queued")

    # -- helpers for the screen ---------------------------------------------------

    async def quote_pdf(self) -> tuple[str, bytes] | Message:
        """The quote's PDF (file name, bytes) to save or open; a sentence when it failed.

        A download needs the server (PDFs are not kept on the device).
        """
        screen = self.screen
        if screen is None or screen.quote is None or screen.quote.pdf is None:
            return Message("form.quote.pdf_missing")
        try:
            data = await self.state.api.fetch_document(screen.quote.pdf.path)
        except Offline:
            return Message("form.quote.pdf_offline")
        except ApiError as exc:
            return Message(exc.message_key)
        return f"quote-{screen.activity_id}.pdf", data

    def today_text(self) -> str:
        """Today's date in the client's language (the "signed … on" line)."""
        return self.tr.date(self.state.clock())

    async def photo_answer(self, data: bytes | None, path: str | None) -> dict[str, Any] | str:
        """The answer for a picked image (bytes on the web, a path on desktop),
        or the sentence to show beside the field when the file cannot be used."""

        def prepare() -> dict[str, Any]:
            raw = data
            if raw is None and path:
                with open(path, "rb") as handle:
                    raw = handle.read(MAX_INPUT_BYTES + 1)
            if raw is None:
                raise PhotoError("form.photo.unreadable")
            return prepare_photo(raw)

        try:
            return await asyncio.to_thread(prepare)
        except PhotoError as exc:
            return self.tr.t(exc.key)
        except OSError:
            return self.tr.t("form.photo.unreadable")
