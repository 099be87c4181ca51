"""Local providers the delivery tests (and bench/bench_delivery.py) talk to for real.

- :class:`FakeSmsProvider`: an HTTP server in a thread that speaks the JSON
  API ``HttpSmsTransport`` posts to. Its behaviour is scripted per request
  (accept, reject 4xx, 429 with Retry-After, 5xx, hang until released) and it
  honours idempotency keys like a real provider: a key it has delivered is
  answered with the first id and not delivered again.
- :class:`RecordingSmtp`: an ``aiosmtpd`` server (Controller thread) that keeps
  every message it accepted, can refuse chosen recipients with a code, and
  optionally requires AUTH or offers STARTTLS.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter, deque
from email import message_from_bytes
from email.message import Message as EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """A TCP port nothing listens on right now (aiosmtpd's Controller needs a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeSmsProvider:
    """A scripted SMS API on 127.0.0.1 (see module doc).

    ``script`` holds the behaviours of the next requests, one each; when it is
    empty ``default`` applies. Behaviours: ``"accept"``, ``"reject"`` (400),
    ``"rate_limit"`` (429, ``Retry-After: 120``), ``"error"`` (503),
    ``"hang"`` (no answer until :meth:`release`), ``"accept_then_hang"``
    (delivered, then no answer: a worker killed now never learns it).
    """

    def __init__(self, token: str = "") -> None:
        self.token = token
        self.script: deque[str] = deque()
        self.default = "accept"
        self.requests: list[dict[str, Any]] = []
        self.delivered: Counter[str] = Counter()
        self.ids: dict[str, str] = {}
        self.received = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                provider._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeSmsProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        """Let hanging requests go (they then get no useful answer)."""
        self._release.set()

    def _answer(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        if status == 429:
            handler.send_header("Retry-After", "120")
        handler.end_headers()
        handler.wfile.write(data)

    def _deliver(self, key: str) -> str:
        with self._lock:
            if key not in self.ids:
                self.ids[key] = f"prov-{len(self.ids) + 1}"
                self.delivered[key] += 1
            return self.ids[key]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        payload = json.loads(handler.rfile.read(length) or b"{}")
        with self._lock:
            self.requests.append(
                {
                    **payload,
                    "header_key": handler.headers.get("Idempotency-Key"),
                    "authorization": handler.headers.get("Authorization"),
                }
            )
            behaviour = self.script.popleft() if self.script else self.default
        self.received.set()
        if self.token and handler.headers.get("Authorization") != f"Bearer {self.token}":
            self._answer(handler, 401, {"error": "bad token"})
            return
        key = payload.get("idempotency_key", "")
        if behaviour == "accept":
            self._answer(handler, 200, {"id": self._deliver(key)})
        elif behaviour == "reject":
            self._answer(handler, 400, {"error": "invalid number"})
        elif behaviour == "rate_limit":
            self._answer(handler, 429, {"error": "slow down"})
        elif behaviour == "error":
            self._answer(handler, 503, {"error": "maintenance"})
        elif behaviour in ("hang", "accept_then_hang"):
            if behaviour == "accept_then_hang":
                self._deliver(key)
            self._release.wait(60)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(behaviour)


class _Recorder:
    def __init__(self, owner: RecordingSmtp) -> None:
        self.owner = owner

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self.owner.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        with self.owner.lock:
            self.owner.messages.append(parsed)
            self.owner.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class RecordingSmtp:
    """An aiosmtpd server on 127.0.0.1 keeping what it accepted (see module doc)."""

    def __init__(
        self,
        *,
        username: str = "",
        password: str = "",
        tls_context: Any = None,
    ) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: dict[str, str] = {}
        self.lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if username:

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                ok = (
                    isinstance(data, LoginPassword)
                    and data.login.decode() == username
                    and data.password.decode() == password
                )
                return AuthResult(success=ok, handled=False)

            kwargs.update(authenticator=authenticator, auth_require_tls=tls_context is not None)
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        self.controller = Controller(
            _Recorder(self), hostname="127.0.0.1", port=free_port(), **kwargs
        )

    def start(self) -> RecordingSmtp:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def stop(self) -> None:
        self.controller.stop()

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]
