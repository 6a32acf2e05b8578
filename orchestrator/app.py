"""The HTTP layer: the route table made into Starlette routes, and errors made into answers.

For each operation: admit the caller (the route's access), read and validate the body against
its shape, call the handler, encode what it returns. Errors become answers here and only here,
`{"error":{"code","message"}}` with the code's status: ApiError as raised; the store's, the
bridge's and the link's errors by the exception handlers below; anything else is a 500 that
is logged. A WebSocket route accepts first, then refuses by closing with 4000 + the status and
a JSON reason: a browser can read a close code, never a refused handshake.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from orchestrator.auth import Gate
from orchestrator.calls import Call
from orchestrator.commands import refusal
from orchestrator.errors import (
    ApiError,
    BadRequest,
    Code,
    CommandError,
    ConflictError,
    MediaStoreError,
    StoreError,
    TooLarge,
    TransportError,
)
from orchestrator.principal import Principal
from orchestrator.routes import FIELD_REFUSALS, OPERATIONS, Operation, body_field_code
from orchestrator.shapes import DEFAULT_SESSION

log = logging.getLogger("orchestrator.app")

JSON = "application/json"
MAX_CLOSE_REASON = 123  # bytes: what a WebSocket close frame has room for


def error_response(code: Code, message: str) -> Response:
    body = orjson.dumps({"error": {"code": code.value, "message": message}})
    headers = {"retry-after": "60"} if code is Code.TOO_MANY_FAILURES else None
    return Response(body, status_code=code.status, media_type=JSON, headers=headers)


def close_reason(code: Code, message: str) -> str:
    """`{"code","message"}` as JSON, the message shortened until it fits a close frame."""
    while True:
        reason = orjson.dumps({"code": code.value, "message": message}).decode()
        if len(reason.encode()) <= MAX_CLOSE_REASON or not message:
            return reason
        message = message[: len(message) - max(1, len(reason.encode()) - MAX_CLOSE_REASON)]


class Body:
    """Reads a request body: at most `limit` bytes of JSON, validated against a shape. A field
    that fails is refused with its code (`bad_<field>`, or its own: routes.FIELD_CODES)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._adapters: dict[Any, TypeAdapter[Any]] = {}

    async def read(self, request: Request, shape: Any) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise TooLarge(Code.BODY_TOO_LARGE, f"request body over {self.limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.limit:
                raise TooLarge(Code.BODY_TOO_LARGE, f"request body over {self.limit} bytes")
            chunks.append(chunk)
        try:
            data = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise BadRequest(Code.INVALID_JSON, "the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise BadRequest(Code.INVALID_JSON, "the body must be a JSON object")
        adapter = self._adapters.get(shape)
        if adapter is None:
            adapter = self._adapters[shape] = TypeAdapter(shape)
        try:
            return adapter.validate_python(data, strict=True)
        except ValidationError as exc:
            raise field_refusal(exc) from None


def field_refusal(exc: ValidationError) -> BadRequest:
    error = exc.errors(include_url=False)[0]
    location = [str(part) for part in error["loc"]]
    name = location[0]
    code = FIELD_REFUSALS.get((name, error["type"])) or body_field_code(name)
    return BadRequest(code, f"{'.'.join(location)}: {error['msg']}")


def encode(result: Any, status: int) -> Any:
    """A handler's answer as an ASGI app: a shape becomes JSON; a Response (or a stream) is
    already one."""
    if result is None:
        return Response(status_code=status)
    if isinstance(result, dict | list):
        return Response(orjson.dumps(result), status_code=status, media_type=JSON)
    return result


def bind(
    handler: Callable[..., Any], handlers: list[object]
) -> Callable[[Call[Any]], Awaitable[Any]]:
    """The table names unbound methods; this is the instance's."""
    for instance in handlers:
        if getattr(type(instance), handler.__name__, None) is handler:
            bound: Callable[[Call[Any]], Awaitable[Any]] = getattr(instance, handler.__name__)
            return bound
    raise LookupError(f"no handler instance for {handler.__qualname__}")


SessionHandlers = Callable[[str], list[object]]
"""A session's handler instances; raises NotFound (session_not_found) for an unknown id."""
Handler = Callable[[Call[Any]], Awaitable[Any]]
Resolve = Callable[[HTTPConnection, Principal | None], tuple[Handler, str]]


def resolver(op: Operation, handlers: list[object], sessions: SessionHandlers) -> Resolve:
    """How a request finds its handler: a per-number route asks the session its path names
    (or `default`), after checking the caller belongs to it; any other is bound once."""
    if not op.per_session:
        bound = bind(op.handler, [*handlers, *sessions(DEFAULT_SESSION)])

        def fixed(conn: HTTPConnection, principal: Principal | None) -> tuple[Handler, str]:
            return bound, DEFAULT_SESSION

        return fixed

    def per_session(conn: HTTPConnection, principal: Principal | None) -> tuple[Handler, str]:
        session_id: str = conn.path_params.get("sessionId", DEFAULT_SESSION)
        instances = sessions(session_id)
        if principal is not None:
            principal.require(session_id)
        return bind(op.handler, [*instances, *handlers]), session_id

    return per_session


def route(op: Operation, resolve: Resolve, gate: Gate, body: Body) -> BaseRoute:
    if op.websocket:

        async def serve(websocket: WebSocket) -> None:
            await websocket.accept()
            try:
                principal = await gate.admit(websocket, op.access)
                handler, session = resolve(websocket, principal)
                await handler(Call(websocket, principal, None, session))
            except ApiError as exc:
                with contextlib.suppress(Exception):
                    await websocket.close(
                        4000 + exc.code.status, close_reason(exc.code, exc.message)
                    )

        return WebSocketRoute(op.path, serve)

    async def endpoint(request: Request) -> Any:
        principal = await gate.admit(request, op.access)
        handler, session = resolve(request, principal)
        payload = None if op.body is None else await body.read(request, op.body)
        return encode(await handler(Call(request, principal, payload, session)), op.status)

    return Route(op.path, endpoint, methods=[op.method])


def cors(origins_setting: str) -> list[Middleware]:
    """Browsers on other origins may call the API only when ORCH_CORS_ORIGINS allows them."""
    origins = [o.strip() for o in origins_setting.split(",") if o.strip()]
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "last-event-id"],
            max_age=600,
        )
    ]


# ---- errors to answers ---------------------------------------------------------------------


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.code, exc.message)


async def command_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CommandError)
    code = refusal(exc)
    log.warning("%s %s: bridge command failed: %s", request.method, request.url.path, exc)
    return error_response(code, f"{exc.method} failed: {exc.code}: {exc.message}")


async def transport_error(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: bridge unreachable: %s", request.method, request.url.path, exc)
    return error_response(Code.BRIDGE_ERROR, f"the bridge is unreachable: {exc}")


async def conflict_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConflictError)
    return error_response(Code.named(exc.code), exc.message)


async def store_error(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: store failed: %s", request.method, request.url.path, exc)
    return error_response(Code.STORE_UNAVAILABLE, f"the store is unavailable: {exc}")


async def media_store_error(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: media store failed: %s", request.method, request.url.path, exc)
    return error_response(Code.MEDIA_STORE_UNAVAILABLE, f"the media store is unavailable: {exc}")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}
    return error_response(codes.get(exc.status_code, Code.BAD_REQUEST), str(exc.detail))


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(Code.INTERNAL, "unexpected error; it has been logged")


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ApiError: api_error,
    CommandError: command_error,
    TransportError: transport_error,
    ConflictError: conflict_error,
    StoreError: store_error,
    MediaStoreError: media_store_error,
    HTTPException: http_error,
    Exception: unexpected,
}


def create_app(
    handlers: list[object],
    gate: Gate,
    sessions: SessionHandlers,
    *,
    max_body: int,
    cors_origins: str = "",
    lifespan: Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    """The app over these handler instances (one of each class the route table names, the
    per-number ones from each session)."""
    body = Body(max_body)
    routes = [route(op, resolver(op, handlers, sessions), gate, body) for op in OPERATIONS]
    return Starlette(
        routes=routes,
        middleware=cors(cors_origins),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
