"""The embedded backend of ``portal app``: what each start leaves in its database."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from app.embedded import start_embedded
from backend.models import LoginLink


async def test_three_starts_leave_one_live_demo_link(tmp_path: Path) -> None:
    tokens = []
    for _ in range(3):
        embedded = start_embedded(
            tmp_path, public_base_url="http://127.0.0.1:8550", log_messages=False
        )
        tokens.append(embedded.link_token)
        assert embedded.link_url == f"http://127.0.0.1:8550/login/link#{embedded.link_token}"
        client_id = embedded.summary.example_client_id
        with embedded.app.state.sessionmaker() as db:
            links = db.scalars(
                select(LoginLink).where(
                    LoginLink.client_id == client_id, LoginLink.kind == "permanent"
                )
            ).all()
        live = [link for link in links if link.revoked_at is None]
        assert len(live) == 1
        if len(tokens) < 3:
            embedded.close()

    # The link printed last works; the earlier ones are refused.
    transport = httpx.ASGITransport(app=embedded.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
        old = await http.post(f"/auth/link/{tokens[0]}/confirm")
        assert old.status_code in (401, 404, 410), old.text
        new = await http.post(f"/auth/link/{tokens[-1]}/confirm")
        assert new.status_code == 200, new.text
    embedded.close()
