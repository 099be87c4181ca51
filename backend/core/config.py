"""Backend settings, read from ``PORTAL_*`` environment variables.

Every knob an operator may turn lives here and is documented in README.md.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where the server keeps its SQLite file and generated secret by default."""
    return Path(os.environ.get("PORTAL_DATA_DIR", Path.cwd() / "var"))


class Settings(BaseSettings):
    """Server configuration. Durations are in seconds unless the name says otherwise."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    # HMAC key for one-time codes and token hashes. When unset a random key is
    # generated once and kept in ``data_dir/secret.key`` (mode 0600) so codes
    # survive a restart; production deployments should set it explicitly.
    secret_key: str = ""

    otp_ttl_seconds: int = 600
    otp_max_attempts: int = 3
    otp_send_min_interval_seconds: int = 60
    otp_send_max_per_hour: int = 5
    verify_failures_per_identifier_per_hour: int = 10
    verify_failures_per_ip_per_hour: int = 30
    send_requests_per_ip_per_hour: int = 30

    sms_link_ttl_seconds: int = 900
    # A single-use link staff send by email (when the business unit does not
    # allow permanent links): an email is read hours later, unlike an SMS.
    email_link_ttl_seconds: int = 72 * 3600
    # Where clients open the web app; login links sent by SMS point here
    # (``{public_base_url}/login/link#<token>``).
    public_base_url: str = "http://127.0.0.1:8000"
    sms_cost_centicredits: int = 20  # 0.2 credit per SMS

    # Email delivery (backend/services/transports.py). No host: the
    # development outbox (messages recorded and logged, never sent).
    smtp_host: str = ""
    # 0: the usual port of the security mode (25, 587 for STARTTLS, 465 for TLS).
    smtp_port: int = Field(default=0, ge=0, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_from: str = ""
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # SMS delivery through an HTTP provider (JSON POST {to, from, text,
    # idempotency_key}). No URL: the development outbox.
    sms_url: str = ""
    sms_username: str = ""
    sms_password: str = ""
    sms_token: str = ""
    sms_sender: str = ""
    sms_timeout_seconds: float = Field(default=10.0, gt=0)
    # The delivery worker (backend/services/delivery.py): runs inside
    # ``portal serve`` and ``portal`` unless turned off (then run
    # ``portal worker`` apart). A message is retried with exponential backoff
    # (base doubling per attempt, capped, with jitter) and goes dead after
    # ``delivery_max_attempts``; a message a worker claimed and never finished
    # (the worker died) is tried again once its lease is over.
    delivery_worker: bool = True
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_backoff_base_seconds: float = Field(default=30.0, gt=0)
    delivery_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    delivery_lease_seconds: float = Field(default=300.0, gt=0)
    delivery_poll_seconds: float = Field(default=2.0, gt=0)
    delivery_batch_size: int = Field(default=20, ge=1, le=1000)

    # A session dies after this long without use, and in any case after the
    # absolute lifetime, whichever comes first.
    session_idle_seconds: int = 14 * 24 * 3600
    session_absolute_seconds: int = 60 * 24 * 3600

    max_body_bytes: int = 1_048_576
    # Admission control (backend/api/overload.py): requests running at once
    # (this also sizes the worker threads and the database pool), requests
    # allowed to wait for a turn, and how long one may wait before a 503.
    max_concurrent_requests: int = Field(default=8, ge=1, le=1000)
    max_queued_requests: int = Field(default=2000, ge=0)
    queue_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a SQLite writer waits for the write lock before giving up
    # (writes are short; readers never wait for it).
    sqlite_busy_timeout_seconds: float = Field(default=15.0, gt=0)
    # A request that writes without begin_write() fails instead of being
    # logged (the tests turn this on).
    strict_writes: bool = False
    sync_page_size: int = 500
    sync_max_page_size: int = 2000
    # Changing the epoch invalidates every client cursor (forces a full resync),
    # e.g. after restoring a backup.
    sync_epoch: str = "1"

    log_messages: bool = True
    # Deprecated: staff sign in with personal accounts or API keys
    # (``Authorization: Bearer``). When set, an ``X-Staff-Token`` header with
    # this value still acts as an admin of every business unit (a warning is
    # logged once per process; the audit log names it "staff-token (deprecated)").
    staff_token: str = ""
    # Staff console sessions: idle and absolute lifetimes.
    staff_session_idle_seconds: int = 4 * 3600
    staff_session_absolute_seconds: int = 12 * 3600
    # Wrong passwords (or TOTP codes) in a row before an account is locked,
    # and for how long; failures allowed per IP address per hour.
    staff_lockout_failures: int = 5
    staff_lockout_seconds: int = 900
    staff_login_failures_per_ip_per_hour: int = 30
    # How long a set-password link (first admin, new account, reset) stays valid.
    staff_set_password_ttl_seconds: int = 72 * 3600
    # The company whose logo and name the sign-in screen shows before anyone
    # signs in. Unset: the only business unit with the portal on, if there is
    # exactly one (otherwise the screen stays neutral).
    public_business_unit_id: int | None = None

    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'portal.db'}"

    def resolved_secret_key(self) -> bytes:
        """The HMAC key; generated and persisted on first use when not configured."""
        if self.secret_key:
            return self.secret_key.encode()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings from the environment."""
    return Settings()
