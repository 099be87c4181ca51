"""The company's identity: branding, logo and contact links, signed in or not.

Before sign-in the sign-in screen shows the portal's public branding
(``GET /public/branding``); signed in, the session's branding document (from
the sync feed) rules. The logo is cached in the store as base64 so the app
shows it offline.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from app.i18n import normalize_language
from app.sync.api import ApiError
from app.sync.engine import SyncResult

if TYPE_CHECKING:
    from app.state import AppState

log = logging.getLogger(__name__)

BRANDING = "branding"
# Downloaded images (the logo) as base64 documents, so the app shows them offline.
ASSET_CACHE = "asset_cache"


@dataclass(frozen=True)
class BrandingView:
    """The business unit's identity and contact links for the home screen."""

    name: str
    description: str | None
    phone: str | None
    email: str | None
    address: str | None
    primary_color: str | None
    tel_url: str | None
    mailto_url: str | None
    maps_url: str | None


def maps_url(address: str) -> str:
    """A maps search for ``address`` that opens on phones, desktops and browsers."""
    return "https://www.google.com/maps/search/?api=1&query=" + quote(address)


class CompanyModel:
    """One session's view of the company (``branding_doc`` comes from the store)."""

    def __init__(self, state: AppState) -> None:
        """Nothing known yet: the screens stay neutral."""
        self._state = state
        self.branding_doc: dict[str, Any] | None = None
        self.logo: bytes | None = None
        # Before sign-in: the company of this portal (GET /public/branding).
        self.public_branding: dict[str, Any] | None = None

    def clear(self) -> None:
        """Forget the session's branding and logo (sign-out)."""
        self.branding_doc = None
        self.logo = None

    @property
    def _company(self) -> dict[str, Any]:
        # Signed in, the session's branding; before, the portal's public one.
        return (self.branding_doc if self._state.signed_in else self.public_branding) or {}

    @property
    def name(self) -> str | None:
        """The company's name, signed in or not (None when not known)."""
        return self._company.get("name")

    @property
    def color(self) -> str | None:
        """The company's primary colour (theme seed), signed in or not."""
        return self._company.get("primary_color") or None

    async def load_public_branding(self) -> None:
        """Fetch the company's name and logo for the sign-in screen.

        Best effort: offline, or on a server hosting several companies, the
        screen simply stays neutral.
        """
        if self._state.signed_in:
            return
        try:
            brand = await self._state.api.public_branding()
            url = brand.get("logo_url")
            logo = await self._state.api.fetch_asset(url) if isinstance(url, str) else None
        except ApiError as exc:
            log.info("no public branding: %s", type(exc).__name__)
            return
        if self._state.signed_in:  # signed in meanwhile: the session's branding rules
            return
        self.public_branding = brand
        self.logo = logo
        if not self._state.language.chosen and brand.get("locale"):
            # Sign in in the company's language, which its clients' profiles
            # default to, so the screens before and after sign-in agree.
            self._state.tr.set_language(normalize_language(str(brand["locale"])))
        await self._state.emit("signin")

    async def cached_logo(self) -> bytes | None:
        url = (self.branding_doc or {}).get("logo_url")
        if not url:
            return None
        doc = await asyncio.to_thread(self._state.store.get, ASSET_CACHE, url)
        if not doc:
            return None
        return base64.b64decode(doc["data"])

    async def fetch_logo(self) -> None:
        url = (self.branding_doc or {}).get("logo_url")
        if not url:
            return
        try:
            data = await self._state.api.fetch_asset(url)
        except ApiError:
            return  # no logo is fine: the name is shown anyway
        self.logo = data
        doc = {"data": base64.b64encode(data).decode("ascii")}
        await asyncio.to_thread(self._state.store.put, ASSET_CACHE, url, doc)
        await self._state.emit("data", SyncResult(changed_ids={BRANDING: {"bu"}}))

    @property
    def branding(self) -> BrandingView | None:
        """The business unit's name, text and contact links."""
        doc = self.branding_doc
        if not doc:
            return None
        phone = doc.get("phone") or None
        email = doc.get("email") or None
        address = doc.get("address") or None
        return BrandingView(
            name=str(doc.get("name") or ""),
            description=doc.get("description") or None,
            phone=phone,
            email=email,
            address=address,
            primary_color=doc.get("primary_color") or None,
            tel_url="tel:" + re.sub(r"[^\d+]", "", phone) if phone else None,
            mailto_url=f"mailto:{email}" if email else None,
            maps_url=maps_url(address) if address else None,
        )
