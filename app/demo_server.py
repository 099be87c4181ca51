"""``portal`` (the demo) with the staff console beside the client app.

In web mode one server answers both: the client app at ``/`` (so login
links ``{url}/login/link#token`` open it) and the console at ``/console/``,
each a Flet session app talking to the same embedded backend. With a
desktop window the client app runs as usual and the console is served on a
second local port, in the same event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import webbrowser
from collections.abc import Callable
from typing import Any

CONSOLE_MOUNT = "/console"


def demo_web_asgi_app(runtime: Any, make_staff_api: Callable[[], Any] | None) -> Any:
    """The client app at ``/`` and (when ``make_staff_api``) the console at ``/console/``."""
    import flet_web.fastapi as flet_fastapi
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from app.main import web_asgi_app
    from app.staff.main import console_asgi_app

    async def to_console(request: Any) -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_MOUNT}/", status_code=307)

    routes: list[Any] = []
    if make_staff_api is not None:
        routes += [
            Route(CONSOLE_MOUNT, to_console),
            Mount(CONSOLE_MOUNT, console_asgi_app(make_staff_api)),
        ]
    routes.append(Mount("/", web_asgi_app(runtime)))
    # flet_web's FastAPI runs the Flet session manager in its lifespan.
    return flet_fastapi.FastAPI(routes=routes, docs_url=None, redoc_url=None, openapi_url=None)


def _should_open_browser() -> bool:
    # As ft.run does: not when asked to be a plain web server (tests, servers).
    if os.environ.get("FLET_FORCE_WEB_SERVER", "").lower() in ("1", "true", "yes"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or (
        os.name != "posix"
    )


def _server(app: Any, port: int, on_started: Callable[[], None] | None = None) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if on_started is not None:
                on_started()

    return Server(config)


def run_demo(
    runtime: Any,
    make_staff_api: Callable[[], Any] | None,
    *,
    web: bool,
    port: int,
    console_port: int = 0,
) -> None:
    """Run the client app (web on ``port``, else a window) and the console.

    Web: one server on ``port`` for both. Desktop: the window, and the
    console on ``console_port`` until the window closes.
    """
    if web:
        url = f"http://127.0.0.1:{port}"
        opener = (lambda: webbrowser.open(url)) if _should_open_browser() else None
        server = _server(demo_web_asgi_app(runtime, make_staff_api), port, opener)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        return
    from app.main import run_app

    if make_staff_api is None or not console_port:
        run_app(runtime, web=False)
        return
    asyncio.run(_desktop_with_console(runtime, make_staff_api, console_port))


async def _desktop_with_console(
    runtime: Any, make_staff_api: Callable[[], Any], console_port: int
) -> None:
    import flet as ft
    import flet_web.fastapi as flet_fastapi
    from starlette.routing import Mount

    from app.main import ASSETS_DIR, make_main
    from app.staff.main import console_asgi_app

    console = flet_fastapi.FastAPI(
        routes=[Mount(CONSOLE_MOUNT, console_asgi_app(make_staff_api))],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    server = _server(console, console_port)
    # The window's own signal handling ends the app; the console server follows.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    try:
        await ft.run_async(
            make_main(runtime),
            view=ft.AppView.FLET_APP,
            assets_dir=str(ASSETS_DIR),
            no_cdn=True,
        )
    finally:
        server.should_exit = True
        await serving
