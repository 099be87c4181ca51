"""``portal serve`` also serves the staff console at /console/ (and its set-password page)."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.cli import build_serve_app
from backend.core.config import Settings
from backend.core.db import upgrade


async def test_the_console_is_served_beside_the_api_and_the_client_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    upgrade(url)
    outer = build_serve_app(Settings(database_url=url), data_dir=tmp_path / "web")
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        bare = await http.get("/console")
        assert bare.status_code == 307 and bare.headers["location"] == "/console/"
        page = await http.get("/console/")
        assert page.status_code == 200 and "flutter" in page.text.lower()
        # A set-password link (/console/set-password#token) hands its token to
        # the console through the browser's storage, never through the server.
        handoff = await http.get("/console/set-password", follow_redirects=True)
        assert handoff.status_code == 200
        assert "flutter.console.set_password" in handoff.text
        assert 'new URL("../password", location.href)' in handoff.text
        # The client app is still where it was.
        assert (await http.get("/app/")).status_code == 200
