"""Uniform JSON errors: 413 for oversize bodies, 422 for bodies we cannot take, never a 500.

- :class:`BodySizeLimit` answers 413 when a body is over the limit, whether it
  says so up front (Content-Length) or only while it streams (chunked).
- :class:`JsonBodyGuard` refuses, with a 422 naming the field, JSON that
  Python's parser accepts but JSON does not allow (``NaN``, ``Infinity``,
  ``1e400``), or that no handler could use (nested too deeply, a 5,000-digit
  number, bytes that are not UTF-8).
- :func:`install_error_handlers` makes every validation answer encodable,
  lists every method a path allows on a 405, documents the error answers
  every operation can give (401, 404, 413, 422, and those its guards declare
  with :func:`declare_guard_errors`) in the OpenAPI schema, and turns anything
  unexpected into a logged, polite 500.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("portal")

# No request body of this API nests deeper than a few levels (a form's field
# options); far deeper input is an attack on the parsers and encoders after us.
MAX_JSON_DEPTH = 64


class _TooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` because FastAPI turns any other error raised while it
    reads a body into a 400; this one it lets through to its handler (413).
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _too_large_detail(max_bytes))


def _too_large_detail(max_bytes: int) -> str:
    return f"Request body too large (limit {max_bytes} bytes)."


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before any handler reads them.

    Checks Content-Length up front and counts streamed chunks for chunked bodies.
    ``larger`` lists (path pattern, limit) pairs for the few uploads allowed
    more (a quote's PDF); every other path keeps ``max_bytes``.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = tuple(larger)

    def limit_for(self, path: str) -> int:
        """The body limit of requests to ``path``."""
        for pattern, limit in self.larger:
            if pattern.fullmatch(path):
                return max(limit, self.max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > max_bytes:
                    await self._too_large(send, max_bytes)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _TooLarge(max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge:
            # Raised through an app that does not handle HTTPException itself
            # (or around FastAPI's handler): answer here unless it already did.
            if not started:
                await self._too_large(send, max_bytes)

    async def _too_large(self, send: Send, max_bytes: int) -> None:
        response = JSONResponse(status_code=413, content={"detail": _too_large_detail(max_bytes)})
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI will parse this request's body as JSON (its own content-type rule)."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return media == "application/json" or (
                media.startswith("application/") and media.endswith("+json")
            )
    return False


def _problem(loc: list[Any], kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": message}


def json_body_problem(body: bytes) -> dict[str, Any] | None:
    """The first reason this JSON body must be refused, as one FastAPI-style error, or None.

    Malformed JSON is left to FastAPI (its 422 gives the position).
    """
    non_finite = False

    def parse_float(text: str) -> float:
        nonlocal non_finite
        number = float(text)
        non_finite = non_finite or math.isinf(number)
        return number

    def parse_constant(_name: str) -> float:
        nonlocal non_finite
        non_finite = True
        return math.nan

    try:
        value = json.loads(body, parse_float=parse_float, parse_constant=parse_constant)
    except json.JSONDecodeError:
        return None
    except RecursionError:
        return _problem([], "json_invalid", f"JSON nested too deeply (at most {MAX_JSON_DEPTH}).")
    except UnicodeDecodeError:
        return _problem([], "json_invalid", "The body is not valid UTF-8 text.")
    except ValueError:  # an integer with more digits than Python converts
        return _problem([], "json_invalid", "A number in the body has too many digits.")
    if not non_finite and _depth_at_most(value, MAX_JSON_DEPTH):
        return None  # the common case: no walk that builds paths
    # Depth-first in document order, without recursion (the input may be deep).
    stack: list[tuple[list[Any], Any, int]] = [([], value, 0)]
    while stack:
        path, node, depth = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return _problem(
                path,
                "finite_number",
                "Input should be a finite number (NaN, Infinity and numbers "
                "beyond 1.8e308 are not valid JSON).",
            )
        if isinstance(node, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return _problem(
                    [], "json_invalid", f"JSON nested too deeply (at most {MAX_JSON_DEPTH})."
                )
            items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            stack.extend(([*path, key], child, depth + 1) for key, child in reversed(items))
    return None


def _depth_at_most(value: Any, limit: int) -> bool:
    """Whether containers nest at most ``limit`` deep (scalars are not visited)."""
    if not isinstance(value, dict | list):
        return True
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth >= limit:
            return False
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


class JsonBodyGuard:
    """Read JSON request bodies once, refuse the unusable ones with 422, replay the rest.

    Python's ``json`` (which FastAPI uses) reads ``NaN``, ``Infinity`` and
    ``1e400`` as floats that no JSON answer can carry back, so without this
    the 422 naming them, or a later read of what was saved, fails.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_body_problem(body) if body else None
        if problem is not None:
            response = JSONResponse(status_code=422, content={"detail": [problem]})
            await response(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: only a disconnect can come
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its name ("nan", "inf", "-inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@functools.lru_cache(maxsize=512)
def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def allowed_methods(schema: dict[str, Any], path: str) -> set[str]:
    """The methods the OpenAPI ``schema`` documents for ``path`` (empty if none).

    Starlette's 405 names only the methods of the first route whose path
    matched, although one path is often several routes (GET and PATCH).
    """
    for template, operations in schema.get("paths", {}).items():
        if _path_pattern(template).fullmatch(path):
            return {method.upper() for method in operations if method in _HTTP_METHODS}
    return set()


# The error answers the framework itself gives, by what an operation has.
_PROBLEM = {
    "type": "object",
    "properties": {"detail": {"title": "Detail", "description": "What went wrong, for people"}},
    "required": ["detail"],
}
PROBLEM_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_AUTOMATIC_ERRORS = {
    "security": (401, "No session, or it has ended"),
    "path": (404, "No such item (or not yours)"),
    "body_size": (413, "Request body too large"),
    "body_json": (422, "Invalid input; the answer names the field"),
}


def problem(description: str) -> dict[str, Any]:
    """One error answer of a route's ``responses=``: when it happens, with the Problem body."""
    return {"description": description, "content": PROBLEM_CONTENT}


GuardErrors = Callable[[Any], dict[int, str]]
"""A route -> the error answers (status -> when) a dependency gives on it."""

_GUARD_ERRORS: dict[Callable[..., Any], GuardErrors] = {}


def declare_guard_errors(dependency: Callable[..., Any], errors: GuardErrors) -> None:
    """Say which error answers ``dependency`` gives on each route it guards.

    The OpenAPI schema then lists them on every operation using it, directly
    or through other dependencies (a router's ``dependencies=``).
    """
    _GUARD_ERRORS[dependency] = errors


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def document_guard_errors(routes: Sequence[Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Add to the OpenAPI ``schema`` (in place) the error answers the routes' guards declare.

    Answers an operation documents itself are kept as they are.
    """
    paths = schema.get("paths", {})
    # Included routers are walked the way FastAPI builds the schema from them.
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        rules = {_GUARD_ERRORS[call] for call in _calls(route.dependant) if call in _GUARD_ERRORS}
        answers: dict[int, str] = {}
        for rule in rules:
            answers.update(rule(route))
        for method in route.methods:
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            for status, description in sorted(answers.items()):
                operation["responses"].setdefault(str(status), problem(description))
    return schema


def _body_properties(schemas: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """Top-level property names of an operation's JSON body."""
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    ref = body.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        body = schemas.get(ref.rsplit("/", 1)[-1], {})
    return list(body.get("properties", {}))


def _names_item(parameter: dict[str, Any]) -> bool:
    """Whether a parameter names an item: any path parameter, or a query one ``..._id``."""
    where = parameter.get("in")
    return where == "path" or (where == "query" and parameter.get("name", "").endswith("_id"))


def document_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers each operation can give to the OpenAPI ``schema`` (in place).

    401 where a session is required, 404 where the path, the query or the body
    names an item (``..._id``: another client's item is a 404, DESIGN.md §5), 413 and
    422 where there is a body. Answers an operation documents itself are kept
    as they are; a 4xx one declared without a body gets the Problem body
    (every error answer has one).
    """
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", _PROBLEM)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            kinds = []
            if operation.get("security"):
                kinds.append("security")
            if any(_names_item(p) for p in operation.get("parameters", [])) or any(
                name.endswith("_id") for name in _body_properties(schemas, operation)
            ):
                kinds.append("path")
            if "requestBody" in operation:
                kinds += ["body_size", "body_json"]
            for kind in kinds:
                status, description = _AUTOMATIC_ERRORS[kind]
                operation["responses"].setdefault(str(status), problem(description))
            for status, response in operation["responses"].items():
                if status.startswith("4") and "content" not in response:
                    response["content"] = PROBLEM_CONTENT
    return schema


def install_error_handlers(app: FastAPI) -> None:
    """Validation answers that always encode, full 405s, documented errors, a last-resort 500."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            built = build_openapi()  # FastAPI keeps what it built
            document_error_responses(document_guard_errors(app.routes, built))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
            methods = allowed_methods(app.openapi(), path)
            if methods:
                exc = StarletteHTTPException(
                    405,
                    exc.detail,
                    headers={**(exc.headers or {}), "Allow": ", ".join(sorted(methods))},
                )
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler fails (a 500) when the echoed input holds NaN.
        return JSONResponse(
            status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))}
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=500,
            content={"detail": "Something went wrong on our side. Please try again."},
        )

    # Inside BodySizeLimit (added later by create_app, so outermost): the body
    # it buffers is already limited.
    app.add_middleware(JsonBodyGuard)
