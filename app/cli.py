"""The ``portal`` command.

- ``portal`` / ``portal app [--web] [--port N] [--server URL] [--data-dir DIR]``:
  the client app. Without ``--server`` it runs on the embedded backend with
  the demo data, serves the staff console too (``{url}/console/`` in web
  mode, a second local port beside a window) and prints how to sign in as
  the demo client and as the demo staff (``backend.demo_staff``).
- ``portal serve [--host H] [--port N] [--demo]``: the backend with uvicorn,
  and the web client in the same process and port: the API at ``/``, the web
  app at ``/app/`` (``/login/link#token`` redirects there), the staff console
  at ``/console/``.
- ``portal worker [--once]``: the delivery worker alone (emails, SMS,
  reminders), for a deployment that runs it apart from ``portal serve``.
- ``portal demo ...``: ``backend.demo.main`` (seed the demo dataset).
- ``portal scheduling propose FILE``: ``backend.scheduling.instance.main``.
- ``portal staff create-admin EMAIL``: ``backend.staff_cli.main`` (the first
  admin and its one-time set-password link).

Heavy imports are lazy so ``portal demo`` does not load Flet.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

WEB_MOUNT = "/app"
CONSOLE_MOUNT = "/console"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def desktop_available() -> bool:
    """True when a desktop window can open (Flet desktop client and a display)."""
    if importlib.util.find_spec("flet_desktop") is None:
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _show_messages_in_console() -> None:
    # The development outbox logs each one-time code on "portal.messages".
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def app_data_dir(option: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """Where ``portal app`` keeps its data: ``--data-dir``, else ``PORTAL_DATA_DIR``.

    None means the platform's per-user data folder (``app.sync.paths``). The
    directory is created when given.
    """
    env = os.environ if env is None else env
    chosen = option or env.get("PORTAL_DATA_DIR")
    if not chosen:
        return None
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cmd_app(args: argparse.Namespace) -> int:
    """Run the client app (embedded demo backend unless --server)."""
    from app.config import AppConfig
    from app.main import Runtime, run_app
    from app.sync.api import PortalApi

    config = AppConfig(server_url=args.server)
    staff_api: Any = None  # the console's API factory (embedded demo only)
    chosen_dir = app_data_dir(args.data_dir)
    if chosen_dir is not None:
        config.data_dir = chosen_dir
    if args.sync_interval:
        config.sync_interval = args.sync_interval
    web = args.web or not desktop_available()
    port = args.port or (_free_port() if web else 0)
    url = f"http://127.0.0.1:{port}"
    # The console: beside the web app, or on its own port next to a window.
    console_port = 0 if web else _free_port()
    console_url = (
        f"{url}{CONSOLE_MOUNT}/" if web else f"http://127.0.0.1:{console_port}{CONSOLE_MOUNT}/"
    )
    _show_messages_in_console()

    if args.server:
        server = args.server.rstrip("/")

        def make_api() -> PortalApi:
            return PortalApi.remote(server)

        print(f"Client app on server {server}")
    else:
        from app.embedded import start_embedded

        print("Starting the embedded backend with the demo data…", flush=True)
        embedded = start_embedded(config.embedded_dir, public_base_url=url)
        backend = embedded.app

        def make_api() -> PortalApi:
            return PortalApi.embedded(backend)

        def make_staff_api() -> Any:
            from app.staff.api import StaffApi

            return StaffApi.embedded(backend)

        staff_api = make_staff_api
        _print_demo_hints(embedded)
        if embedded.staff is not None:
            from backend.demo_staff import demo_staff_hints

            print("\n".join(demo_staff_hints(embedded.staff, console_url)))
    print(f"Local data: {config.data_dir} (set PORTAL_DATA_DIR or --data-dir to move it)")
    if web:
        print(f"Web app: {url}  (Ctrl+C to stop)", flush=True)
    else:
        print("Opening the desktop window…", flush=True)
    runtime = Runtime(make_api=make_api, config=config)
    if staff_api is None:
        run_app(runtime, web=web, port=port, host="127.0.0.1")
    else:
        from app.demo_server import run_demo

        run_demo(runtime, staff_api, web=web, port=port, console_port=console_port)
    return 0


def _print_demo_hints(embedded: Any) -> None:
    s = embedded.summary
    print(f"Demo business unit: {s.business_unit_name}")
    print("Sign in as the demo client:")
    print(f"  - one-time code: enter {s.example_client_email} (or {s.example_client_phone});")
    print("    the code is printed in this console (portal.messages) and stored in the")
    print(f"    outgoing_messages table of {embedded.database_path}")
    if embedded.link_token:
        print("  - or tap 'I have a login link' and paste this permanent link token")
        print(f"    {embedded.link_token}")
        print(f"    or the whole link: {embedded.link_url}")
        print("    (opening that link in the browser signs in too, after one tap)")


def build_serve_app(settings: Any, *, data_dir: Path) -> Any:
    """The API at ``/``, the web client at ``/app/`` and the console at ``/console/``."""
    import flet_web.fastapi as flet_fastapi
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from app.config import AppConfig
    from app.main import Runtime, web_asgi_app
    from app.staff.api import StaffApi
    from app.staff.main import console_asgi_app
    from app.sync.api import PortalApi
    from backend.api.main import create_app

    backend = create_app(settings)

    def make_api() -> PortalApi:
        # Web sessions run in this process: reach the API without a socket.
        return PortalApi.embedded(backend)

    runtime = Runtime(make_api=make_api, config=AppConfig(data_dir=data_dir), shared=True)
    startup: list[Any] = []
    shutdown: list[Any] = []
    if settings.delivery_worker:
        # Sends queued emails/SMS while the server runs (PORTAL_DELIVERY_WORKER=false
        # when `portal worker` runs apart); stopped with the server.
        from backend.services.delivery import DeliveryWorker

        worker = DeliveryWorker(backend.state.sessionmaker, settings, clock=backend.state.clock)
        startup.append(worker.start)
        shutdown.append(worker.stop)

    def make_staff_api() -> StaffApi:
        # Console sessions run in this process too.
        return StaffApi.embedded(backend)

    async def login_link(request: Any) -> RedirectResponse:
        # Links sent to clients are {public_base_url}/login/link#token; the
        # browser keeps the #token across this redirect.
        return RedirectResponse(f"{WEB_MOUNT}/login/link", status_code=307)

    async def to_console(request: Any) -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_MOUNT}/", status_code=307)

    async def to_web_app(request: Any) -> RedirectResponse:
        # "/" and "/app" (no slash: a Mount only matches "/app/...") open the app.
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{WEB_MOUNT}/{query}", status_code=307)

    # flet_web's FastAPI runs the Flet session manager in its lifespan.
    outer = flet_fastapi.FastAPI(
        routes=[
            Route("/", to_web_app),
            Route(WEB_MOUNT, to_web_app),
            Route("/login/link", login_link),
            Route(CONSOLE_MOUNT, to_console),
            Mount(WEB_MOUNT, web_asgi_app(runtime)),
            Mount(CONSOLE_MOUNT, console_asgi_app(make_staff_api)),
            Mount("/", backend),
        ],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        on_startup=startup,
        on_shutdown=shutdown,
    )
    outer.state.backend = backend
    return outer


def served_base_url(host: str, port: int) -> str:
    """The address ``portal serve`` answers on, as a browser on this machine reaches it.

    A wildcard host (``0.0.0.0``, ``::``) listens everywhere, so loopback works.
    """
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    return f"http://{host}:{port}"


def serve_settings(host: str, port: int) -> Any:
    """Settings from the environment; login links point at the served address by default.

    ``PORTAL_PUBLIC_BASE_URL`` wins when set (a proxy, a public name).
    """
    from backend.core.config import Settings

    settings = Settings()
    if "public_base_url" not in settings.model_fields_set:
        settings.public_base_url = served_base_url(host, port)
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the backend and the web client with uvicorn."""
    import uvicorn

    from backend.core.logredact import install_on_root, uvicorn_log_config

    settings = serve_settings(args.host, args.port)
    if args.demo:
        from datetime import UTC, datetime

        from backend.demo import seed_database
        from backend.demo_staff import demo_staff_hints, reset_demo_staff_at

        summary = seed_database(settings.resolved_database_url())
        print(
            f"Demo data: {summary.business_unit_name}; demo client {summary.example_client_email}"
        )
        staff = reset_demo_staff_at(settings.resolved_database_url(), datetime.now(UTC))
        if staff is not None:
            console_url = f"{served_base_url(args.host, args.port)}{CONSOLE_MOUNT}/"
            print("\n".join(demo_staff_hints(staff, console_url)))
    _show_messages_in_console()
    install_on_root()  # no secret in a log line: ours (here) and uvicorn's (log_config)
    if args.workers > 1:
        target: Any = _prepare_workers(settings, args.workers)
    else:
        target = build_serve_app(settings, data_dir=settings.data_dir / "web-client")
    print(f"API:     http://{args.host}:{args.port}/  (docs at /docs)")
    print(f"Web app: http://{args.host}:{args.port}{WEB_MOUNT}/")
    print(f"Console: http://{args.host}:{args.port}{CONSOLE_MOUNT}/  (staff)")
    print(f"Login links point to {settings.public_base_url} (PORTAL_PUBLIC_BASE_URL)", flush=True)
    uvicorn.run(
        target,
        factory=args.workers > 1,
        workers=args.workers if args.workers > 1 else None,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        log_config=uvicorn_log_config(),
        # Longer than uvicorn's 5 s: a client's pooled connection must not be
        # closed under it between two requests of a busy moment.
        timeout_keep_alive=30,
    )
    return 0


def _prepare_workers(settings: Any, workers: int) -> str:
    """Get ready for ``workers`` processes; returns the factory they each call.

    The parent settles what the workers must share: the schema (upgraded once
    here, not raced by N processes), the secret key (generated once), and the
    public base URL (passed through the environment they inherit). Each
    worker keeps its own caches; they follow the database (schedule_version).
    """
    from backend.core.db import upgrade

    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        print(
            "Note: several workers on SQLite share one write lock; "
            "use PostgreSQL (PORTAL_DATABASE_URL) for real multi-process serving.",
            file=sys.stderr,
        )
    upgrade(url)
    os.environ["PORTAL_SECRET_KEY"] = settings.resolved_secret_key().decode()
    os.environ["PORTAL_PUBLIC_BASE_URL"] = settings.public_base_url
    os.environ["PORTAL_DATA_DIR"] = str(settings.data_dir)
    print(f"Workers: {workers} processes", flush=True)
    return "app.cli:serve_worker_app"


def serve_worker_app() -> Any:
    """The ASGI app of one ``portal serve --workers N`` process (a uvicorn factory)."""
    from backend.core.config import Settings
    from backend.core.logredact import install_on_root

    _show_messages_in_console()
    install_on_root()
    settings = Settings()
    return build_serve_app(settings, data_dir=settings.data_dir / "web-client")


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the delivery worker alone until SIGTERM / Ctrl+C (or one cycle with --once)."""
    import signal

    from backend.core.config import Settings
    from backend.core.db import make_engine, make_sessionmaker, upgrade
    from backend.core.logredact import install_on_root
    from backend.services.delivery import DeliveryWorker

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    install_on_root()
    settings = Settings()
    url = settings.resolved_database_url()
    upgrade(url)
    engine = make_engine(url, pool_size=2, busy_timeout_s=settings.sqlite_busy_timeout_seconds)
    worker = DeliveryWorker(make_sessionmaker(engine), settings)
    try:
        if args.once:
            report = worker.run_once()
            print(
                f"claimed {report.claimed}, sent {report.sent}, retried {report.retried}, "
                f"dead {report.dead}, reminders {report.reminders}",
                flush=True,
            )
            return 0

        def _stop(_signum: int, _frame: Any) -> None:
            worker.request_stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        print("Delivery worker running (Ctrl+C to stop)", flush=True)
        worker.run_forever()
    finally:
        worker.stop()
        engine.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``portal`` argument parser."""
    parser = argparse.ArgumentParser(prog="portal", description="Field-service client portal")
    sub = parser.add_subparsers(dest="command")
    app_cmd = sub.add_parser("app", help="run the client app (default)")
    app_cmd.add_argument(
        "--web",
        action="store_true",
        help="serve the web app on localhost (default without a display)",
    )
    app_cmd.add_argument("--port", type=int, default=0, help="web port (default: a free one)")
    app_cmd.add_argument("--server", help="backend URL (default: embedded demo backend)")
    app_cmd.add_argument(
        "--data-dir",
        help="where the app keeps its cache and the embedded database "
        "(default: $PORTAL_DATA_DIR, else the per-user data folder)",
    )
    app_cmd.add_argument(
        "--sync-interval",
        type=float,
        default=0.0,
        help="seconds between background syncs (default: 60)",
    )
    serve = sub.add_parser(
        "serve",
        help="run the backend and the web client",
        description="Run the API (at /) and the web client (at /app/) in one process "
        "with uvicorn. Settings come from PORTAL_* variables (see README).",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; 0.0.0.0 for all)",
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo dataset when the database is empty (default: off)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes (default: %(default)s); several need PostgreSQL "
        "(PORTAL_DATABASE_URL) to scale writes",
    )
    worker = sub.add_parser(
        "worker",
        help="run the delivery worker (emails, SMS, reminders) alone",
        description="Send queued emails and SMS and queue due reminders, until stopped. "
        "Settings come from PORTAL_* variables (PORTAL_SMTP_*, PORTAL_SMS_*, "
        "PORTAL_DELIVERY_*; see README). Several workers may share a PostgreSQL database.",
    )
    worker.add_argument(
        "--once", action="store_true", help="run one delivery cycle and exit (default: run on)"
    )
    sub.add_parser("demo", help="load the demo dataset (see portal demo --help)", add_help=False)
    sub.add_parser("scheduling", help="scheduling assistant tools", add_help=False)
    sub.add_parser(
        "staff",
        help="staff accounts: portal staff create-admin EMAIL (see portal staff --help)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portal`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":
        from backend.demo import main as demo_main

        return demo_main(argv[1:])
    if argv and argv[0] == "scheduling":
        from backend.scheduling.instance import main as scheduling_main

        return scheduling_main(argv[1:])
    if argv and argv[0] == "staff":
        from backend.staff_cli import main as staff_main

        return staff_main(argv[1:])
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["app", *argv]
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    if args.command == "worker":
        return cmd_worker(args)
    return cmd_app(args)


if __name__ == "__main__":
    raise SystemExit(main())
