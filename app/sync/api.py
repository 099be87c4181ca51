"""The app's only way to talk to the backend: an ``httpx.AsyncClient``.

The same client code serves both deployments (DESIGN.md §3): ``remote`` points
at a server URL, ``embedded`` runs the bundled FastAPI app in-process through
``httpx.ASGITransport`` (field demos, offline laptops).

Every failure becomes one ``ApiError`` subclass carrying a translation key
(``message_key``) the UI shows, plus the server's own sentence (``detail``)
when it sent one:

- ``Offline``: connect error, timeout, DNS -> ``error.offline``;
- ``Unauthorized``: 401 on a signed-in call (or no token) -> ``error.session_ended``;
- ``RateLimited``: 429, with ``retry_after`` seconds -> ``error.rate_limited``;
- ``Rejected``: any other 4xx -> ``error.code_rejected`` (wrong one-time code,
  with ``tries_left``), ``error.link_invalid`` (dead sign-in link),
  ``error.invalid_input`` (400/422, with ``field``), ``error.not_found`` (404),
  ``error.conflict`` (409), ``error.too_large`` (413), ``error.rejected`` (other);
  a 409 that carries fresh ``proposals`` (the chosen slot was just taken) is
  the subclass ``SlotTaken``; ``code`` holds the server's stable reason code;
- ``ServerError``: 5xx, or a success that is not the JSON we expect (a captive
  portal's HTML page) -> ``error.server``.

The session token is sent as ``Authorization: Bearer``; it never appears in an
exception message, a ``repr`` or a log line written here. Sign-in link tokens
travel in URL paths, which httpx logs at INFO: a filter on the ``httpx``
logger masks them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "ApiError",
    "Offline",
    "PortalApi",
    "RateLimited",
    "Rejected",
    "ServerError",
    "SignedIn",
    "SlotTaken",
    "Unauthorized",
]

# When a 429 carries no usable Retry-After, wait this long (the backend's
# minimum interval between two code requests).
DEFAULT_RETRY_AFTER = 60

_STATUS_KEYS = {
    400: "error.invalid_input",
    404: "error.not_found",
    409: "error.conflict",
    413: "error.too_large",
    422: "error.invalid_input",
}


_LINK_TOKEN_RE = re.compile(r"(/auth/link/)[^/?#\s]+")


class _MaskLinkTokens(logging.Filter):
    """Mask ``/auth/link/<token>`` in httpx's "HTTP Request: GET <url>" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LINK_TOKEN_RE.sub(r"\1***", str(arg)) if isinstance(arg, httpx.URL | str) else arg
                for arg in record.args
            )
        return True


# Installed once at import: every AsyncClient logs through this one logger.
logging.getLogger("httpx").addFilter(_MaskLinkTokens())


class ApiError(Exception):
    """Base of every error the API client raises.

    ``message_key`` is a translation key for the UI; ``status`` the HTTP status
    (None when no answer arrived); ``detail`` the server's human sentence.
    """

    default_key = "error.unknown"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        message_key: str | None = None,
    ) -> None:
        super().__init__(detail or message_key or self.default_key)
        self.message_key = message_key or self.default_key
        self.status = status
        self.detail = detail


class Offline(ApiError):
    """The server could not be reached (no network, DNS, refused, timeout)."""

    default_key = "error.offline"


class Unauthorized(ApiError):
    """The session is missing, expired or revoked: the user must sign in again."""

    default_key = "error.session_ended"


class RateLimited(ApiError):
    """Too many requests; try again after ``retry_after`` seconds."""

    default_key = "error.rate_limited"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class Rejected(ApiError):
    """The server refused the request for good (bad input, not found, conflict…).

    ``tries_left`` is set when a wrong one-time code was entered; ``field`` names
    the offending input of a 422 when the server said which one; ``code`` is
    the server's stable reason (``too_late``, ``slot_taken``…) when it sent one.
    """

    default_key = "error.rejected"

    def __init__(
        self,
        detail: str | None = None,
        *,
        tries_left: int | None = None,
        field: str | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detail, **kwargs)
        self.tries_left = tries_left
        self.field = field
        self.code = code


class SlotTaken(Rejected):
    """409: the chosen slot was taken meanwhile; ``proposals`` are fresh ones to pick from."""

    def __init__(
        self, detail: str | None = None, *, proposals: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        super().__init__(detail, **kwargs)
        self.proposals = proposals


class ServerError(ApiError):
    """The server failed (5xx) or answered something we cannot read."""

    default_key = "error.server"


@dataclass(frozen=True)
class SignedIn:
    """A fresh session. ``token`` is secret: keep it in ``TokenStore`` only."""

    # repr=False: a logged or printed SignedIn must not leak the token.
    token: str = field(repr=False)
    client_id: int
    expires_at: str


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # HTML error page from a proxy, empty body…
        return None


def _detail_of(data: Any) -> tuple[str | None, str | None]:
    """Return (human sentence, field name) from an error body."""
    if not isinstance(data, dict):
        return None, None
    detail = data.get("detail")
    if isinstance(detail, str):
        return detail, None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        # FastAPI validation errors: [{"loc": ["body", "identifier"], "msg": ...}]
        first = detail[0]
        message = str(first.get("msg", "")).removeprefix("Value error, ") or None
        loc = first.get("loc")
        name = str(loc[-1]) if isinstance(loc, list) and loc else None
        return message, name
    return None, None


def _retry_after(response: httpx.Response, data: Any) -> int:
    header = response.headers.get("Retry-After", "")
    if header.strip().isdigit():
        return int(header)
    if isinstance(data, dict) and isinstance(data.get("retry_after"), int):
        return max(0, data["retry_after"])
    return DEFAULT_RETRY_AFTER


def _error_for(response: httpx.Response, *, signed_in_call: bool, purpose: str | None) -> ApiError:
    """Map a non-2xx answer to the matching ``ApiError``."""
    status = response.status_code
    data = _json_or_none(response)
    detail, field_name = _detail_of(data)
    if status == 401 and signed_in_call:
        return Unauthorized(detail, status=status)
    if status == 429:
        return RateLimited(detail, status=status, retry_after=_retry_after(response, data))
    if status >= 500:
        return ServerError(detail, status=status)
    if 400 <= status < 500:
        tries_left = data.get("tries_left") if isinstance(data, dict) else None
        code = data.get("code") if isinstance(data, dict) else None
        code = code if isinstance(code, str) else None
        key = _STATUS_KEYS.get(status, Rejected.default_key)
        if purpose == "code" and status == 401:
            key = "error.code_rejected"
        elif purpose == "link" and status == 404:
            key = "error.link_invalid"
        proposals = data.get("proposals") if isinstance(data, dict) else None
        if status == 409 and isinstance(proposals, list):
            return SlotTaken(
                detail,
                status=status,
                message_key=key,
                code=code,
                proposals=[p for p in proposals if isinstance(p, dict)],
            )
        return Rejected(
            detail,
            status=status,
            message_key=key,
            tries_left=tries_left if isinstance(tries_left, int) else None,
            field=field_name,
            code=code,
        )
    # 1xx/3xx that httpx did not resolve: not something this API sends.
    return ServerError(f"unexpected HTTP status {status}", status=status)


def _signed_in(data: Any) -> SignedIn:
    try:
        return SignedIn(
            token=str(data["token"]),
            client_id=int(data["client_id"]),
            expires_at=str(data["expires_at"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ServerError("the sign-in answer is incomplete") from None


class PortalApi:
    """Typed calls to the portal API; see the module docstring for errors."""

    # Where the feed is read (a staff preview reads another route, same pages).
    sync_path = "/sync"

    def __init__(self, client: httpx.AsyncClient, token: str | None = None) -> None:
        """Wrap ``client`` (its ``base_url`` or transport decides where calls go)."""
        self._client = client
        self.token = token

    def __repr__(self) -> str:
        # Never show the token.
        signed = "signed in" if self.token else "signed out"
        return f"<PortalApi {self._client.base_url} {signed}>"

    @classmethod
    def remote(cls, base_url: str, *, timeout: float = 10.0) -> PortalApi:
        """A client for a server at ``base_url`` (``https://portal.example.com``)."""
        return cls(httpx.AsyncClient(base_url=base_url, timeout=timeout))

    @classmethod
    def embedded(cls, asgi_app: Any) -> PortalApi:
        """A client for the bundled backend app running in this process (no socket)."""
        # raise_app_exceptions=False: a crash inside the backend must reach us
        # as its 500 answer (ServerError), exactly as it would over a network.
        transport = httpx.ASGITransport(app=asgi_app, raise_app_exceptions=False)
        return cls(httpx.AsyncClient(transport=transport, base_url="http://embedded"))

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        await self._client.aclose()

    # -- plumbing ------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        signed_in: bool = False,
        purpose: str | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if signed_in:
            if not self.token:
                raise Unauthorized("not signed in")
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = await self._client.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            # The exception text may hold the URL (a link token): keep it out
            # of our message; the chained cause is there for debugging.
            raise Offline(type(exc).__name__) from exc
        if not response.is_success:
            raise _error_for(response, signed_in_call=signed_in, purpose=purpose)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, **kwargs)
        data = _json_or_none(response)
        if data is None:
            # A captive portal or a proxy answering 200 with HTML.
            raise ServerError("the server's answer is not JSON", status=response.status_code)
        return data

    # -- sign-in -------------------------------------------------------------

    async def request_code(self, identifier: str) -> int:
        """Ask for a one-time code; return seconds until another may be requested."""
        data = await self._json("POST", "/auth/code/request", json={"identifier": identifier})
        retry_after = data.get("retry_after") if isinstance(data, dict) else None
        return retry_after if isinstance(retry_after, int) else DEFAULT_RETRY_AFTER

    async def verify_code(self, identifier: str, code: str) -> SignedIn:
        """Exchange a code for a session; a wrong code raises ``Rejected`` with tries_left."""
        data = await self._json(
            "POST",
            "/auth/code/verify",
            json={"identifier": identifier, "code": code},
            purpose="code",
        )
        return _signed_in(data)

    async def public_branding(self) -> dict[str, Any]:
        """The company shown on the sign-in screen (no session needed; 404 if none)."""
        data = await self._json("GET", "/public/branding")
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ServerError("the branding answer is not a company")
        return data

    async def inspect_link(self, token: str) -> dict[str, Any]:
        """Check a sign-in link without using it (GET never consumes)."""
        data = await self._json("GET", f"/auth/link/{_segment(token)}", purpose="link")
        if not isinstance(data, dict):
            raise ServerError("the link answer is not an object")
        return data

    async def confirm_link(self, token: str) -> SignedIn:
        """Exchange a sign-in link for a session (consumes an SMS link)."""
        data = await self._json("POST", f"/auth/link/{_segment(token)}/confirm", purpose="link")
        return _signed_in(data)

    async def logout(self) -> None:
        """End the current session on the server (the caller forgets the token)."""
        await self._call("POST", "/auth/logout", signed_in=True)

    # -- data ----------------------------------------------------------------

    async def set_language(self, language: str) -> None:
        """Tell the server the client's language (titles and messages follow it)."""
        await self._call("PUT", "/me/language", json={"language": language}, signed_in=True)

    async def set_notifications(self, *, email: bool, sms: bool) -> dict[str, Any]:
        """Which automatic messages the client agrees to receive; the new profile."""
        data = await self._json(
            "PUT", "/me/notifications", json={"email": email, "sms": sms}, signed_in=True
        )
        if not isinstance(data, dict):
            raise ServerError("the profile answer is not an object")
        return data

    async def me(self) -> dict[str, Any]:
        """The signed-in client's profile and branding."""
        data = await self._json("GET", "/me", signed_in=True)
        if not isinstance(data, dict):
            raise ServerError("the profile answer is not an object")
        return data

    async def sync_page(self, cursor: str | None, limit: int | None = None) -> dict[str, Any]:
        """One page of the delta feed after ``cursor`` (None: from scratch)."""
        params: dict[str, Any] = {}
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = limit
        data = await self._json("GET", self.sync_path, params=params, signed_in=True)
        _check_page(data)
        return data

    # -- booking -------------------------------------------------------------

    async def slots(self, activity_id: str) -> dict[str, Any]:
        """The assistant's ranked slots: ``{"action": "book"|"reschedule", "proposals": [...]}``."""
        data = await self._json(
            "GET", f"/activities/{_id_segment(activity_id)}/slots", signed_in=True
        )
        if not isinstance(data, dict) or not isinstance(data.get("proposals"), list):
            raise ServerError("the slots answer is malformed")
        return data

    async def take_slot(
        self,
        activity_id: str,
        kind: str,
        *,
        mutation_id: str,
        technician_id: int,
        window_start: str,
    ) -> dict[str, Any]:
        """Book (``kind="book"``) or move (``"reschedule"``) into a proposed slot.

        Returns the updated activity document. ``mutation_id`` is the idempotency
        key: sending it again replays the first answer. A taken slot raises
        ``SlotTaken`` with fresh proposals.
        """
        if kind not in ("book", "reschedule"):
            raise ValueError(f"not a slot action: {kind}")
        return await self._activity(
            "POST",
            f"/activities/{_id_segment(activity_id)}/{kind}",
            json={
                "mutation_id": mutation_id,
                "technician_id": technician_id,
                "window_start": window_start,
            },
        )

    async def cancel(self, activity_id: str, *, mutation_id: str, reason: str) -> dict[str, Any]:
        """Cancel the appointment with the client's reason; returns the updated document."""
        return await self._activity(
            "POST",
            f"/activities/{_id_segment(activity_id)}/cancel",
            json={"mutation_id": mutation_id, "reason": reason},
        )

    async def _activity(self, method: str, path: str, *, json: Any) -> dict[str, Any]:
        data = await self._json(method, path, json=json, signed_in=True)
        if not isinstance(data, dict) or "id" not in data or "status" not in data:
            raise ServerError("the activity answer is malformed")
        return data

    # -- new requests ------------------------------------------------------------

    async def request_options(self) -> dict[str, Any]:
        """The client's sites and the types it may request: ``{"sites": [...], "types": [...]}``."""
        data = await self._json("GET", "/requests/options", signed_in=True)
        if not (
            isinstance(data, dict)
            and isinstance(data.get("sites"), list)
            and isinstance(data.get("types"), list)
        ):
            raise ServerError("the request options answer is malformed")
        return data

    async def create_request(
        self, *, mutation_id: str, site_id: int, type_id: int, description: str
    ) -> dict[str, Any]:
        """Request a new intervention: ``{"activity": {...}, "bookable": bool}``.

        ``mutation_id`` is the idempotency key: sending it again replays the
        first answer (no second request).
        """
        data = await self._json(
            "POST",
            "/requests",
            json={
                "mutation_id": mutation_id,
                "site_id": site_id,
                "type_id": type_id,
                "description": description,
            },
            signed_in=True,
        )
        activity = data.get("activity") if isinstance(data, dict) else None
        if not isinstance(activity, dict) or "id" not in activity:
            raise ServerError("the request answer is malformed")
        return data

    # -- push ------------------------------------------------------------------

    async def push_mutations(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send queued forms, validations and surveys (``POST /mutations``); one result each.

        ``items`` are wire items (``mutation_id``, ``kind``, ``activity_id``,
        ``action_key``, ``payload``, ``device_id``, ``channel``), at most 100,
        oldest first. Returns the per-item results in the same order (status
        ``applied``, ``already_applied``, ``refused`` or ``error``). Errors as
        for every call; a batch over the server's limits is ``Rejected`` with
        status 413.
        """
        data = await self._json("POST", "/mutations", json={"mutations": items}, signed_in=True)
        results = data.get("results") if isinstance(data, dict) else None
        if (
            not isinstance(results, list)
            or len(results) != len(items)
            or not all(isinstance(result, dict) for result in results)
        ):
            raise ServerError("the push answer is malformed")
        return results

    async def fetch_document(self, path: str) -> bytes:
        """Download one of the client's documents (a quote's PDF) with the session token.

        Like ``fetch_asset``, only paths on our own server.
        """
        if not path.startswith("/") or path.startswith("//"):
            raise Rejected("not a path on this server", message_key="error.invalid_input")
        response = await self._call("GET", path, signed_in=True)
        return response.content

    async def fetch_asset(self, path: str) -> bytes:
        """Download a server asset such as branding ``logo_url`` ("/assets/logo.png").

        Only paths on our own server are fetched (never a full URL someone put
        in the data), and without the session token: assets are public.
        """
        if not path.startswith("/") or path.startswith("//"):
            raise Rejected("not an asset path on this server", message_key="error.invalid_input")
        response = await self._call("GET", path)
        return response.content


def _segment(token: str) -> str:
    # A link token is one path segment; anything else would change the route.
    if not token or "/" in token or "?" in token or "#" in token:
        raise Rejected("this sign-in link is not valid", message_key="error.link_invalid")
    return token


def _id_segment(activity_id: str) -> str:
    # Ids are numbers: anything else would change the route.
    if not str(activity_id).isdigit():
        raise Rejected("not an activity id", message_key="error.not_found")
    return str(activity_id)


def _check_page(data: Any) -> None:
    """Refuse a sync page that lacks what the engine relies on."""
    ok = (
        isinstance(data, dict)
        and isinstance(data.get("reset"), bool)
        and isinstance(data.get("changes"), list)
        and isinstance(data.get("cursor"), str)
        and isinstance(data.get("has_more"), bool)
    )
    if not ok:
        raise ServerError("the sync answer is malformed")
