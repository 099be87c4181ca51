"""``portal serve``: the API and the web client in one ASGI app."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.cli import build_serve_app, serve_settings
from backend.core.config import Settings
from backend.core.db import upgrade
from backend.services.auth import link_url


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


async def test_app_without_a_slash_opens_the_web_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    upgrade(url)
    outer = build_serve_app(Settings(database_url=url), data_dir=tmp_path / "web")
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        for path in ("/", "/app"):
            answer = await http.get(path)
            assert answer.status_code == 307, path
            assert answer.headers["location"] == "/app/"
        kept = await http.get("/app?lang=fr")
        assert kept.headers["location"] == "/app/?lang=fr"
        page = await http.get("/app", follow_redirects=True)
        assert page.status_code == 200
        assert "flutter" in page.text.lower()


def test_login_links_point_at_the_port_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_PUBLIC_BASE_URL", raising=False)
    settings = serve_settings("127.0.0.1", 8765)
    assert link_url(settings, "tok") == "http://127.0.0.1:8765/login/link#tok"
    # Listening on every address: a browser on this machine uses loopback.
    assert serve_settings("0.0.0.0", 9000).public_base_url == "http://127.0.0.1:9000"
    assert serve_settings("::1", 9000).public_base_url == "http://[::1]:9000"
    # An operator's public address wins.
    monkeypatch.setenv("PORTAL_PUBLIC_BASE_URL", "https://portal.example.com")
    assert serve_settings("127.0.0.1", 8765).public_base_url == "https://portal.example.com"
