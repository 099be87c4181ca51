"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from backend.api.errors import BodySizeLimit, install_error_handlers
from backend.api.routes import assets, auth, booking, portal, public, staff, sync
from backend.core.config import Settings, get_settings
from backend.core.db import make_engine, make_sessionmaker, upgrade
from backend.models import utcnow
from backend.services.booking import ScheduleCache
from backend.services.messaging import DevOutboxSender, MessageSender


def create_app(
    settings: Settings | None = None,
    *,
    sender: MessageSender | None = None,
    clock: Callable[[], datetime] = utcnow,
    migrate: bool = True,
) -> FastAPI:
    """Build the API on the configured database (upgraded to the newest schema)."""
    settings = settings or get_settings()
    url = settings.resolved_database_url()
    if migrate:
        upgrade(url)
    engine = make_engine(url)
    app = FastAPI(
        title="Field-service client portal",
        version="0.1.0",
        description="Client portal API: passwordless sign-in, activities, delta sync.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.clock = clock
    app.state.schedule_cache = ScheduleCache()
    app.state.sender = sender or DevOutboxSender(log_messages=settings.log_messages)
    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(portal.router)
    app.include_router(booking.router)
    app.include_router(sync.router)
    app.include_router(staff.router)
    app.include_router(assets.router)
    app.include_router(public.router)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
