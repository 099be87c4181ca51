"""The console's HTTP client for ``/staff/*`` (the staff API contract).

Same rules as the client app's ``app.sync.api``: one ``httpx.AsyncClient``,
remote (``base_url``) or in-process (``httpx.ASGITransport``, what
``portal serve`` and the demo use). Failures become the client app's
``ApiError`` classes, each carrying the server's own sentence (``detail``)
so the console shows it as it is:

- ``Offline``: no answer; ``Unauthorized``: 401 (``code`` ``totp_required``
  when a second factor is wanted: ``NeedsTotp``); ``Forbidden``: 403 (the
  role lacks the right); ``RateLimited``: 429 with ``retry_after``;
  ``Rejected``: other 4xx with ``field`` (422) and ``code`` (``no_credit``);
  ``ServerError``: 5xx or an answer that is not JSON.

The session token or API key is sent as ``Authorization: Bearer`` and never
appears in an exception, a ``repr`` or a log line written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from app.sync.api import (
    ApiError,
    Offline,
    RateLimited,
    Rejected,
    ServerError,
    Unauthorized,
)

__all__ = [
    "ApiError",
    "Forbidden",
    "NeedsTotp",
    "Offline",
    "RateLimited",
    "Rejected",
    "ServerError",
    "StaffApi",
    "StaffSignedIn",
    "Unauthorized",
    "error_text",
]

DEFAULT_RETRY_AFTER = 60


class Forbidden(Rejected):
    """403: signed in, but the role does not allow this."""

    default_key = "console.error.forbidden"


class NeedsTotp(Unauthorized):
    """401 with ``code: totp_required``: the account wants its authenticator code."""

    default_key = "console.signin.totp_needed"


@dataclass(frozen=True)
class StaffSignedIn:
    """A fresh staff session; ``token`` is secret (never logged nor shown)."""

    token: str = field(repr=False)
    expires_at: str
    staff: dict[str, Any]


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(data: Any) -> tuple[str | None, str | None]:
    """(sentence, field) of an error body: a string detail or FastAPI's 422 list."""
    if not isinstance(data, dict):
        return None, None
    detail = data.get("detail")
    if isinstance(detail, str):
        return detail, None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        message = str(first.get("msg", "")).removeprefix("Value error, ") or None
        loc = first.get("loc")
        name = str(loc[-1]) if isinstance(loc, list) and loc else None
        if name and message and name not in ("body",):
            message = f"{name}: {message}"
        return message, name
    return None, None


def error_for(response: httpx.Response) -> ApiError:
    """The ``ApiError`` for a non-2xx answer."""
    status = response.status_code
    data = _json_or_none(response)
    detail, field_name = _detail(data)
    code = data.get("code") if isinstance(data, dict) else None
    code = code if isinstance(code, str) else None
    if status == 401:
        if code == "totp_required":
            return NeedsTotp(detail, status=status)
        return Unauthorized(detail, status=status)
    if status == 403:
        return Forbidden(detail, status=status, code=code)
    if status == 429:
        retry = data.get("retry_after") if isinstance(data, dict) else None
        header = response.headers.get("Retry-After", "")
        if isinstance(retry, int | float):
            seconds = int(retry)
        elif header.strip().isdigit():
            seconds = int(header)
        else:
            seconds = DEFAULT_RETRY_AFTER
        return RateLimited(detail, status=status, retry_after=max(0, seconds))
    if status >= 500:
        return ServerError(detail, status=status)
    keys = {404: "error.not_found", 409: "error.conflict", 413: "error.too_large"}
    return Rejected(
        detail,
        status=status,
        message_key=keys.get(status, "error.invalid_input" if status in (400, 422) else None),
        field=field_name,
        code=code,
    )


def error_text(exc: ApiError, t: Any) -> str:
    """What the console shows for ``exc``: the server's sentence, else a translated one.

    ``t`` is the session's ``Translator.t``.
    """
    if isinstance(exc, Offline | ServerError) or not exc.detail:
        return str(t(exc.message_key))
    return exc.detail


class StaffApi:
    """Typed calls to ``/staff/*``; see the module docstring for errors."""

    def __init__(self, client: httpx.AsyncClient, token: str | None = None) -> None:
        """Wrap ``client``; ``token`` is a staff session token or an API key."""
        self._client = client
        self.token = token

    def __repr__(self) -> str:
        signed = "signed in" if self.token else "signed out"
        return f"<StaffApi {self._client.base_url} {signed}>"

    @classmethod
    def remote(cls, base_url: str, *, timeout: float = 15.0) -> StaffApi:
        """A client for a server at ``base_url``."""
        return cls(httpx.AsyncClient(base_url=base_url, timeout=timeout))

    @classmethod
    def embedded(cls, asgi_app: Any) -> StaffApi:
        """A client for the backend app running in this process (no socket)."""
        transport = httpx.ASGITransport(app=asgi_app, raise_app_exceptions=False)
        return cls(httpx.AsyncClient(transport=transport, base_url="http://embedded", timeout=30))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    # -- plumbing --------------------------------------------------------------

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers: dict[str, str] = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise Offline(type(exc).__name__) from exc
        if not response.is_success:
            raise error_for(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, **kwargs)
        if response.status_code == 204:
            return None
        data = _json_or_none(response)
        if data is None:
            raise ServerError("the server's answer is not JSON", status=response.status_code)
        return data

    # -- session ---------------------------------------------------------------

    async def login(self, email: str, password: str, totp_code: str | None = None) -> StaffSignedIn:
        """Sign in; keeps the token for the next calls."""
        body: dict[str, Any] = {"email": email, "password": password}
        if totp_code:
            body["totp_code"] = totp_code
        data = await self._json("POST", "/staff/auth/login", json=body)
        try:
            signed = StaffSignedIn(
                token=str(data["token"]),
                expires_at=str(data.get("expires_at") or ""),
                staff=dict(data["staff"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ServerError("the sign-in answer is incomplete") from None
        self.token = signed.token
        return signed

    async def logout(self) -> None:
        """End the session on the server (best effort) and forget the token."""
        try:
            if self.token:
                await self._call("POST", "/staff/auth/logout")
        finally:
            self.token = None

    async def set_password(self, token: str, password: str) -> None:
        """Use a one-time set-password link's token."""
        await self._call(
            "POST", "/staff/auth/set-password", json={"token": token, "password": password}
        )

    async def me(self) -> dict[str, Any]:
        """The signed-in staff member with their memberships."""
        return dict(await self._json("GET", "/staff/me"))

    # -- business units --------------------------------------------------------

    async def business_units(self) -> list[dict[str, Any]]:
        """The business units the principal can see."""
        return list(await self._json("GET", "/staff/business-units"))

    async def business_unit(self, bu_id: int) -> dict[str, Any]:
        """A business unit's settings, branding and SMS credits."""
        return dict(await self._json("GET", f"/staff/business-units/{bu_id}"))

    async def patch_business_unit(self, bu_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """Change settings or branding (admin)."""
        return dict(await self._json("PATCH", f"/staff/business-units/{bu_id}", json=values))

    async def upload_logo(self, bu_id: int, data: bytes, filename: str) -> dict[str, Any]:
        """Upload a logo (the server checks, resizes and stores it)."""
        files = {"file": (filename or "logo.png", data, "application/octet-stream")}
        return dict(await self._json("PUT", f"/staff/business-units/{bu_id}/logo", files=files))

    async def bulk_portal_access(self, bu_id: int, *, enable: bool, dry_run: bool) -> int:
        """Clients whose access changes (or would, on a dry run)."""
        data = await self._json(
            "POST",
            f"/staff/business-units/{bu_id}/portal-access/bulk",
            json={"enable": enable, "dry_run": dry_run},
        )
        return int(data["affected"])

    # -- clients -----------------------------------------------------------------

    async def clients(
        self, bu_id: int, q: str = "", *, limit: int = 50, after: str | None = None
    ) -> dict[str, Any]:
        """One page of clients matching ``q``: ``{items, next}``."""
        params: dict[str, Any] = {"q": q, "limit": limit}
        if after:
            params["after"] = after
        return dict(
            await self._json("GET", f"/staff/business-units/{bu_id}/clients", params=params)
        )

    async def client(self, client_id: int) -> dict[str, Any]:
        """A client record (contacts, links, recent sign-ins)."""
        return dict(await self._json("GET", f"/staff/clients/{client_id}"))

    async def patch_client(self, client_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """Change a client (portal access, name, language)."""
        return dict(await self._json("PATCH", f"/staff/clients/{client_id}", json=values))

    async def create_link(self, client_id: int, label: str = "") -> dict[str, Any]:
        """A new permanent link: its ``url`` is in this answer only."""
        return dict(
            await self._json(
                "POST", f"/staff/clients/{client_id}/permanent-links", json={"label": label}
            )
        )

    async def revoke_link(self, link_id: int) -> None:
        """Revoke a permanent link."""
        await self._call("DELETE", f"/staff/permanent-links/{link_id}")

    async def send_portal_link(self, client_id: int, channel: str, contact_id: int) -> dict:
        """Send a sign-in link by ``email`` or ``sms``: ``{message_id, cost_centicredits}``."""
        return dict(
            await self._json(
                "POST",
                f"/staff/clients/{client_id}/send-portal-link",
                json={"channel": channel, "contact_id": contact_id},
            )
        )

    async def preview(self, client_id: int) -> dict[str, Any]:
        """The client's documents exactly as their feed holds them (read-only)."""
        return dict(await self._json("GET", f"/staff/clients/{client_id}/preview"))

    async def preview_session(self, client_id: int) -> dict[str, Any]:
        """A short-lived preview token for Client Portal Access (the opening is audited)."""
        return dict(await self._json("POST", f"/staff/clients/{client_id}/preview-session"))

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client (Client Portal Access reads the client's feed through it)."""
        return self._client

    # -- activity types and forms ------------------------------------------------

    async def activity_types(self, bu_id: int) -> list[dict[str, Any]]:
        """The business unit's activity types with their portal configuration."""
        return list(await self._json("GET", f"/staff/business-units/{bu_id}/activity-types"))

    async def put_activity_type_portal(self, type_id: int, body: dict[str, Any]) -> dict:
        """Save ``{portal_shown, title_template, portal_actions}``."""
        return dict(await self._json("PUT", f"/staff/activity-types/{type_id}/portal", json=body))

    async def title_preview(
        self, type_id: int, template: str, activity_id: int | None = None
    ) -> dict[str, Any]:
        """``{errors, fr, en, activity_id}`` for ``template`` on a real activity."""
        body: dict[str, Any] = {"template": template}
        if activity_id is not None:
            body["activity_id"] = activity_id
        return dict(
            await self._json("POST", f"/staff/activity-types/{type_id}/title-preview", json=body)
        )

    async def forms(self, bu_id: int) -> list[dict[str, Any]]:
        """The business unit's forms."""
        return list(await self._json("GET", f"/staff/business-units/{bu_id}/forms"))

    async def form(self, form_id: int) -> dict[str, Any]:
        """One form with its fields."""
        return dict(await self._json("GET", f"/staff/forms/{form_id}"))

    async def create_form(self, bu_id: int, name: str, fields: list[dict[str, Any]]) -> dict:
        """A new form."""
        return dict(
            await self._json(
                "POST",
                f"/staff/business-units/{bu_id}/forms",
                json={"name": name, "fields": fields},
            )
        )

    async def put_form(self, form_id: int, name: str, fields: list[dict[str, Any]]) -> dict:
        """Save a form (a new version when it already has answers)."""
        body = {"name": name, "fields": fields}
        return dict(await self._json("PUT", f"/staff/forms/{form_id}", json=body))

    # -- messages -----------------------------------------------------------------

    async def messages(self, bu_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """The business unit's outbox, newest first."""
        data = await self._json(
            "GET", f"/staff/business-units/{bu_id}/messages", params={"limit": limit}
        )
        items = data.get("items") if isinstance(data, dict) else data
        return list(items or [])

    # -- staff administration ---------------------------------------------------------

    async def accounts(self) -> list[dict[str, Any]]:
        """Staff accounts of the admin's business units."""
        data = await self._json("GET", "/staff/accounts")
        return list(data.get("items", []) if isinstance(data, dict) else data)

    async def create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{staff, set_password_url}`` (the link is shown once)."""
        return dict(await self._json("POST", "/staff/accounts", json=body))

    async def patch_account(self, staff_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """Change a staff account (name, memberships, disabled)."""
        return dict(await self._json("PATCH", f"/staff/accounts/{staff_id}", json=values))

    async def reset_password(self, staff_id: int) -> str:
        """A new one-time set-password link for an account."""
        data = await self._json("POST", f"/staff/accounts/{staff_id}/reset-password")
        return str(data["set_password_url"])

    async def api_keys(self) -> list[dict[str, Any]]:
        """API keys of the admin's business units (never the keys themselves)."""
        data = await self._json("GET", "/staff/api-keys")
        return list(data.get("items", []) if isinstance(data, dict) else data)

    async def create_api_key(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new key: ``key`` is in this answer only."""
        return dict(await self._json("POST", "/staff/api-keys", json=body))

    async def revoke_api_key(self, key_id: int) -> None:
        """Revoke an API key."""
        await self._call("DELETE", f"/staff/api-keys/{key_id}")

    async def audit(
        self, bu_id: int | None = None, *, limit: int = 50, before: str | None = None
    ) -> dict[str, Any]:
        """One page of the audit log, newest first: ``{items, next}``."""
        params: dict[str, Any] = {"limit": limit}
        if bu_id is not None:
            params["business_unit_id"] = bu_id
        if before:
            params["before"] = before
        return dict(await self._json("GET", "/staff/audit", params=params))
