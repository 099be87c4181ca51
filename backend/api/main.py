"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from backend.api.errors import BodySizeLimit, install_error_handlers
from backend.api.overload import AdmissionLimit
from backend.api.routes import (
    assets,
    auth,
    booking,
    documents,
    mutations,
    portal,
    public,
    quotes,
    requests,
    staff,
    staff_accounts,
    staff_clients,
    staff_config,
    staff_documents,
    staff_preview,
    staff_submissions,
    staff_triggers,
    sync,
)
from backend.core.config import Settings, get_settings
from backend.core.db import (
    REQUEST_OPTION,
    guard_request_writes,
    hot_read_engine,
    make_engine,
    make_sessionmaker,
    request_write_engine,
    upgrade,
)
from backend.core.hot_readers import make_reader
from backend.models import utcnow
from backend.services.booking import ScheduleCache
from backend.services.delivery import QueueingSender
from backend.services.messaging import MessageSender
from backend.services.quotes import PDF_MAX_BYTES
from backend.services.triggers.firing import bind_settings


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
    # One connection for each request allowed to run, plus one for a
    # session-touch write; see backend/api/overload.py.
    engine = make_engine(
        url,
        pool_size=settings.max_concurrent_requests + 2,
        busy_timeout_s=settings.sqlite_busy_timeout_seconds,
    )
    app = FastAPI(
        title="Field-service client portal",
        version="0.1.0",
        description="Client portal API: passwordless sign-in, activities, delta sync.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    # Sessions of API requests: tagged so that a write nobody declared with
    # begin_write() is caught (an error in tests, a warning in production).
    app.state.request_sessionmaker = make_sessionmaker(
        engine.execution_options(**{REQUEST_OPTION: True})
    )
    # Automatic messages build links from these settings (triggers.firing.settings_of).
    for maker in (app.state.sessionmaker, app.state.request_sessionmaker):
        bind_settings(maker, settings)
    if url.startswith("sqlite"):
        guard_request_writes(engine, strict=settings.strict_writes)
    # Session lookups of readers run on the event loop on SQLite (see deps.get_auth).
    app.state.inline_reads = url.startswith("sqlite")
    # The hot read routes (/sync, /activities): one statement each, run
    # without a worker thread (backend/core/hot_readers.py), the session's
    # last use written apart (deps.hot_read).
    app.state.hot_read_engine = hot_read_engine(engine)
    app.state.hot_reader = make_reader(app.state.hot_read_engine, settings.max_concurrent_requests)
    app.state.touch_engine = request_write_engine(engine)
    app.state.secret_key = settings.resolved_secret_key()
    app.state.clock = clock
    app.state.schedule_cache = ScheduleCache()
    # Messages are queued in the request's transaction; the delivery worker
    # (backend/services/delivery.py) sends them, or, for a channel with no
    # provider configured, they are recorded sent at once (development outbox).
    app.state.sender = sender or QueueingSender(settings)
    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(portal.router)
    app.include_router(booking.router)
    app.include_router(requests.router)
    app.include_router(sync.router)
    app.include_router(mutations.router)
    app.include_router(staff_accounts.open_router)
    app.include_router(staff_accounts.router)
    app.include_router(staff_clients.router)
    app.include_router(staff_config.router)
    app.include_router(staff.router)
    app.include_router(staff_submissions.router)
    app.include_router(staff_documents.router)
    app.include_router(staff_preview.router)
    app.include_router(staff_preview.public_router)
    app.include_router(quotes.router)
    app.include_router(quotes.staff_router)
    app.include_router(documents.router)
    app.include_router(staff_triggers.router)
    app.include_router(assets.router)
    app.include_router(public.router)

    @app.get("/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        larger=[
            (quotes.PDF_UPLOAD_PATH, PDF_MAX_BYTES),
            (staff_documents.CLOSURE_PATH, staff_documents.CLOSURE_MAX_BYTES),
            (staff_config.LOGO_PATH, staff_config.LOGO_MAX_BYTES + 64 * 1024),
        ],
    )
    # Added last, so outermost: a request over the limit costs nothing else.
    app.add_middleware(
        AdmissionLimit,
        max_concurrent=settings.max_concurrent_requests,
        max_queued=settings.max_queued_requests,
        queue_timeout=settings.queue_timeout_seconds,
    )
    return app
