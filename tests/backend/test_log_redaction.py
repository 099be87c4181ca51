"""No secret in a log line: the filter, and the access log of a real ``portal serve``."""

from __future__ import annotations

import io
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backend.core.logredact import RedactSecrets, redact, uvicorn_log_config

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    "line",
    [
        f'127.0.0.1:5000 - "GET /auth/link/{TOKEN} HTTP/1.1" 404',
        f'"POST /auth/link/{TOKEN}/confirm HTTP/1.1" 200',
        f"sign in with http://127.0.0.1:8000/login/link#{TOKEN} today",
        f"headers: {{'authorization': 'Bearer {TOKEN}'}}",
        f"X-Staff-Token: {TOKEN}",
        f"GET /sync?cursor=abc&token={TOKEN}",
    ],
)
def test_redact_masks_every_kind_of_secret(line: str) -> None:
    masked = redact(line)
    assert TOKEN not in masked
    assert "***" in masked


def test_redact_keeps_ordinary_lines() -> None:
    line = '127.0.0.1:5000 - "GET /activities/12?scope=upcoming HTTP/1.1" 200'
    assert redact(line) == line


def _emit(logger_name: str, message: str, *args: object, exc: bool = False) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc:
            try:
                raise ValueError(f"bad link /auth/link/{TOKEN}")
            except ValueError:
                logger.exception(message, *args)
        else:
            logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_the_filter_masks_message_arguments_and_tracebacks() -> None:
    out = _emit("portal.test", "unhandled error on %s %s", "GET", f"/auth/link/{TOKEN}", exc=True)
    assert TOKEN not in out
    assert "/auth/link/***" in out
    assert "ValueError" in out  # the traceback is still there, masked


def test_the_filter_keeps_numbers_for_the_access_log_format() -> None:
    out = _emit("uvicorn.access", '%s - "%s %s" %d', "1.2.3.4", "GET", f"/auth/link/{TOKEN}", 404)
    assert out.strip().endswith('"GET /auth/link/***" 404')


def test_the_development_outbox_still_prints_the_message() -> None:
    # Its purpose (PORTAL_LOG_MESSAGES, off in production): show the code to the developer.
    out = _emit("portal.messages", "[dev outbox] sms: %s", f"/login/link#{TOKEN}")
    assert TOKEN in out


def test_uvicorn_config_filters_each_handler() -> None:
    config = uvicorn_log_config()
    assert config["handlers"]
    for handler in config["handlers"].values():
        assert "redact_secrets" in handler["filters"]
    assert config["filters"]["redact_secrets"] == {"()": RedactSecrets}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_portal_serve_logs_no_link_token(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PORTAL_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
        assert httpx.get(f"{base}/auth/link/{TOKEN}", timeout=10).status_code == 404
        confirm = httpx.post(f"{base}/auth/link/{TOKEN}/confirm", timeout=10)
        assert confirm.status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=30)
    output = log_path.read_text()
    assert "GET /auth/link/*** HTTP/1.1" in output  # the access line was written...
    assert TOKEN not in output  # ...without the token
