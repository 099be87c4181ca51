"""Secrets never reach a log line (DESIGN.md §5): a filter that masks them.

Sign-in link tokens travel in URL paths (``GET /auth/link/<token>``), which the
uvicorn access log writes; session tokens and the staff token travel in
headers that an error message might quote. :class:`RedactSecrets` masks all of
them in the message, its arguments and any traceback, whichever logger wrote
the record. ``portal serve`` installs it on every handler (its own and
uvicorn's, see :func:`uvicorn_log_config`).

The one exception is the development outbox (logger ``portal.messages``,
only with ``PORTAL_LOG_MESSAGES``): printing the message a client would
receive, code or link included, is its purpose; a real deployment sends
messages through a gateway and leaves it off.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

MASK = "***"
DEV_OUTBOX_LOGGER = "portal.messages"

_PATTERNS: list[re.Pattern[str]] = [
    # Sign-in links: the API path and the client-facing URL's fragment.
    re.compile(r"(/auth/link/)[^/?#\s\"']+"),
    re.compile(r"(/login/link#)[^\s\"'&]+"),
    # Session tokens and the staff token, as headers or as they are quoted.
    re.compile(r"(\bBearer\s+)[^\s\"',]+", re.IGNORECASE),
    re.compile(r"(\bX-Staff-Token[\"']?\s*[:=,]\s*[\"']?)[^\s\"',)]+", re.IGNORECASE),
    # Secrets someone put in a query string.
    re.compile(r"([?&](?:token|access_token|api_key|key|code|password|secret)=)[^&\s\"'#]+"),
]


def redact(text: str) -> str:
    """``text`` with every secret we know the shape of replaced by ``***``."""
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{MASK}", text)
    return text


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float | bool):
        return value  # keeps %d and %f formatting working (the access log's status)
    text = str(value)
    masked = redact(text)
    return value if masked == text else masked


class RedactSecrets(logging.Filter):
    """Mask secrets in a record's message, arguments and traceback; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == DEV_OUTBOX_LOGGER or record.name.startswith(DEV_OUTBOX_LOGGER + "."):
            return True
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_arg(arg) for key, arg in record.args.items()}
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set: render the traceback once, masked.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_on_root() -> None:
    """Put the filter on every handler of the root logger (idempotent).

    A handler filter sees the records of every logger that propagates to it,
    not only those logged on the root itself.
    """
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with the filter on each of its handlers.

    uvicorn replaces its loggers' handlers when it starts, so the filter must
    be part of the configuration it is given (``uvicorn.run(log_config=...)``).
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config.get("handlers", {}).values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    return config
