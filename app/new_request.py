"""The "New request" screen's view-model: pick a site and a type, describe, send.

The choices come from the server (``GET /requests/options``): sending a
request needs a connection anyway, and the server decides which types staff
allow. Rules kept here:

- Each field is checked before sending; a refusal naming a field (422) is
  shown under that field.
- The idempotency key is made once per request content: a retry after a lost
  connection sends the same key, so the server never creates it twice.
- The created activity is applied to the local store at once
  (``ActivitiesModel.apply_activity``): the list shows it, marked as requested.
- ``submit`` says whether the client goes on to choose a slot (the type is
  bookable) or is done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.messages import Message, message_for
from app.state import AppState
from app.sync.api import ApiError, Offline, Rejected, Unauthorized

FIELDS = ("site_id", "type_id", "description")
# The server's limit (backend.api.routes.requests.MAX_DESCRIPTION).
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class Choice:
    """One option of a dropdown: the id sent and the text shown."""

    id: int
    text: str


@dataclass(frozen=True)
class Created:
    """A request the server accepted."""

    activity_id: str
    bookable: bool


@dataclass
class RequestForm:
    """What the screen shows."""

    loading: bool = False
    sending: bool = False
    loaded: bool = False
    sites: list[Choice] = field(default_factory=list)
    types: list[Choice] = field(default_factory=list)
    bookable: dict[int, bool] = field(default_factory=dict)
    site_id: int | None = None
    type_id: int | None = None
    description: str = ""
    # A sentence about the whole form (offline, server error, nothing to request).
    notice: Message | None = None
    errors: dict[str, Message] = field(default_factory=dict)

    @property
    def offline(self) -> bool:
        """True when the last call could not reach the server (offer a retry)."""
        return self.notice is not None and self.notice.key == "request.error.offline"

    @property
    def goes_on_to_book(self) -> bool:
        """True when the chosen type lets the client choose a slot next."""
        return self.type_id is not None and self.bookable.get(self.type_id, False)


class NewRequestModel:
    """One session's "New request" flow."""

    def __init__(
        self, state: AppState, *, new_key: Callable[[], str] = lambda: str(uuid.uuid4())
    ) -> None:
        """Work through ``state`` (its API client, store and translator)."""
        self.state = state
        self._new_key = new_key
        self.form = RequestForm()
        self._attempt: tuple[tuple[Any, ...], str] | None = None

    def reset(self) -> None:
        """A blank form (each visit of ``/requests/new`` starts afresh)."""
        self.form = RequestForm()
        self._attempt = None

    async def load(self) -> bool:
        """Fetch the client's sites and the requestable types; False when it failed."""
        form = self.form
        form.loading = True
        form.notice = None
        try:
            options = await self.state.api.request_options()
        except ApiError as exc:
            form.loading = False
            await self._refused(exc)
            return False
        form.loading = False
        form.loaded = True
        form.sites = [
            Choice(int(s["id"]), _site_text(s)) for s in options["sites"] if isinstance(s, dict)
        ]
        form.types = [
            Choice(int(t["id"]), str(t.get("name") or t.get("label") or ""))
            for t in options["types"]
            if isinstance(t, dict)
        ]
        form.bookable = {
            int(t["id"]): bool(t.get("bookable")) for t in options["types"] if isinstance(t, dict)
        }
        # One choice only: nothing to pick.
        if len(form.sites) == 1:
            form.site_id = form.sites[0].id
        if len(form.types) == 1:
            form.type_id = form.types[0].id
        if not form.types:
            form.notice = Message("request.none")
        return True

    def choose_site(self, site_id: int | None) -> None:
        """The client picked a site."""
        self.form.site_id = site_id
        self.form.errors.pop("site_id", None)

    def choose_type(self, type_id: int | None) -> None:
        """The client picked a type of intervention."""
        self.form.type_id = type_id
        self.form.errors.pop("type_id", None)

    def describe(self, text: str) -> None:
        """The client typed the description."""
        self.form.description = text
        if text.strip():
            self.form.errors.pop("description", None)

    def _check(self) -> bool:
        form = self.form
        form.errors = {}
        if form.site_id is None or form.site_id not in {s.id for s in form.sites}:
            form.errors["site_id"] = Message("request.error.site")
        if form.type_id is None or form.type_id not in {t.id for t in form.types}:
            form.errors["type_id"] = Message("request.error.type")
        if not form.description.strip():
            form.errors["description"] = Message("request.error.description")
        elif len(form.description.strip()) > MAX_DESCRIPTION:
            form.errors["description"] = Message(
                "request.error.too_long", {"count": MAX_DESCRIPTION}
            )
        return not form.errors

    def _key_for(self, content: tuple[Any, ...]) -> str:
        """The same key for the same content (a retry), a new one otherwise."""
        if self._attempt is None or self._attempt[0] != content:
            self._attempt = (content, self._new_key())
        return self._attempt[1]

    async def submit(self) -> Created | None:
        """Send the request; the created activity, or None (errors on the form)."""
        form = self.form
        form.notice = None
        if not self._check() or form.sending:
            return None
        assert form.site_id is not None and form.type_id is not None  # checked above
        description = form.description.strip()
        content = (form.site_id, form.type_id, description)
        form.sending = True
        try:
            answer = await self.state.api.create_request(
                mutation_id=self._key_for(content),
                site_id=form.site_id,
                type_id=form.type_id,
                description=description,
            )
        except ApiError as exc:
            form.sending = False
            await self._refused(exc)
            return None
        form.sending = False
        doc = answer["activity"]
        await self.state.activities.apply_activity(doc)
        self._attempt = None
        return Created(activity_id=str(doc["id"]), bookable=bool(answer.get("bookable")))

    async def _refused(self, exc: ApiError) -> None:
        form = self.form
        if isinstance(exc, Unauthorized):
            await self.state.end_session()
            return
        if isinstance(exc, Offline):
            form.notice = Message("request.error.offline")
        elif isinstance(exc, Rejected) and exc.field in FIELDS:
            key = {"site_id": "request.error.site", "type_id": "request.error.type"}.get(
                exc.field, "request.error.description"
            )
            form.errors[exc.field] = Message(key)
        elif isinstance(exc, Rejected) and exc.status == 404:
            form.errors["site_id"] = Message("request.error.site")
        else:
            form.notice = message_for(exc)


def _site_text(site: dict[str, Any]) -> str:
    parts = [str(site.get(k) or "").strip() for k in ("label", "street", "city")]
    return ", ".join(p for p in parts if p)
