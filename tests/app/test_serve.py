"""``portal serve``: the API and the web client in one ASGI app."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.cli import build_serve_app
from backend.core.config import Settings
from backend.core.db import upgrade


async def test_a_sign_in_link_reaches_the_hand_off_page_then_the_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    upgrade(url)
    outer = build_serve_app(Settings(database_url=url), data_dir=tmp_path / "web")
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        # The browser keeps #token across these redirects; the server never sees it.
        link = await http.get("/login/link", follow_redirects=True)
        assert link.status_code == 200
        assert link.url.path == "/app/login/link/"
        assert "flutter.portal.pending_link" in link.text
        assert 'new URL("../../", location.href)' in link.text  # back to /app/

        client = await http.get("/app/")
        assert client.status_code == 200
        assert "flutter" in client.text.lower()

        # The API is served beside it, with its own errors.
        missing = await http.get("/assets/no-such-logo.png")
        assert missing.status_code == 404
