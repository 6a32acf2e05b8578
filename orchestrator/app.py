"""The HTTP application: routes over the runtime, token auth, and JSON errors everywhere."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from orchestrator.api import ApiError, error_response, principal_of
from orchestrator.auth import presented_token
from orchestrator.eventlog import Entry
from orchestrator.helpdesk_api import helpdesk_routes
from orchestrator.openapi import openapi_document
from orchestrator.principal import Authenticator, Principal
from orchestrator.runtime import Runtime
from orchestrator.streams import EventStreamResponse, Filter

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_TRACKED_CLIENTS = 10_000


def cors(origins_setting: str) -> list[Middleware]:
    """Browsers on other origins may call the API only when ORCH_CORS_ORIGINS allows them."""
    origins = [o.strip() for o in origins_setting.split(",") if o.strip()]
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["authorization", "content-type", "last-event-id"],
            max_age=600,
        )
    ]


log = logging.getLogger("orchestrator.app")

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The operator console and its client script are public: the page itself asks for the token.
CONSOLE_PATHS = {"/", "/wa-client.js"} | {
    f"/static/{path.name}" for path in STATIC_DIR.iterdir() if path.is_file()
}
PUBLIC_PATHS = {"/health", "/openapi.json", *CONSOLE_PATHS}
# The console loads nothing from elsewhere and runs no inline script.
CONSOLE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def console_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=CONSOLE_HEADERS)


async def client_script(request: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "wa-client.js", media_type="text/javascript", headers=CONSOLE_HEADERS
    )


class Authentication:
    """Every route but the public ones needs a token: the API token, or a user's JWT. The
    principal it names is put in the request state for the routes to check."""

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, failures: FailureLimiter
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"] not in PUBLIC_PATHS:
            client = (scope.get("client") or ("?", 0))[0]
            if self.failures.blocked(client):
                why = "too many failed sign-ins from this address; wait a minute"
                await refuse(scope, receive, send, 429, "too_many_failures", why)
                return
            token = presented_token(HTTPConnection(scope))
            principal = await self.authenticator.authenticate(token)
            if principal is None:
                self.failures.failed(client)
                log.info("authentication failed from %s on %s", client, scope["path"])
                why = "a valid bearer token is required"
                await refuse(scope, receive, send, 401, "unauthorized", why)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def refuse(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4000 + status})
        return
    response = error_response(status, code, message)
    if status == 429:
        response.headers["retry-after"] = "60"
    await response(scope, receive, send)


class FailureLimiter:
    """Failed authentications per client address in a sliding minute; bounded memory."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def failed(self, client: str) -> None:
        times = self._failures.pop(client, None) or deque()
        times.append(self._clock())
        self._failures[client] = times
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)

    def blocked(self, client: str) -> bool:
        times = self._failures.get(client)
        if not times:
            return False
        horizon = self._clock() - 60
        while times and times[0] < horizon:
            times.popleft()
        return len(times) >= self.per_minute


def admin_only(handler: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        if not principal_of(request).is_admin:
            raise ApiError(403, "forbidden", "this route is for admins")
        return await handler(request)

    return guarded


def create_app(runtime: Runtime) -> Starlette:
    api, streams, admin, helpdesk = runtime.api, runtime.streams, runtime.admin, runtime.helpdesk

    def stream_filter(principal: Principal, chat_id: str | None = None) -> Filter:
        def keep(entry: Entry) -> bool:
            if chat_id is not None and entry.chat_id != chat_id:
                return False
            if entry.chat_id is None:
                return entry.type != "qr" or principal.is_staff
            return helpdesk.can_see(principal, entry.chat_id)

        return keep

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def status(request: Request) -> Response:
        body: dict[str, Any] = runtime.lifecycle.status()
        supervisor = runtime.supervisor
        body["bridge"] = {
            "alive": runtime.follower.alive,
            "epoch": runtime.follower.stats.bridge_epoch,
            "restarts": supervisor.restarts if supervisor else None,
            "nextStartAt": supervisor.next_start_at if supervisor else None,
        }
        return JSONResponse(body)

    async def events(request: Request) -> Response | EventStreamResponse:
        return streams.sse_response(request, stream_filter(principal_of(request)))

    async def poll(request: Request) -> Response:
        return await streams.poll(request, stream_filter(principal_of(request)))

    async def websocket_all(websocket: WebSocket) -> None:
        await streams.serve_websocket(websocket, stream_filter(principal_of(websocket)))

    async def websocket_chat(websocket: WebSocket) -> None:
        principal = principal_of(websocket)
        try:
            chat_id = api.chat(websocket.path_params["chat_id"], principal).id
        except ApiError as exc:
            code = {403: 4403, 404: 4404}.get(exc.status, 4400)
            await websocket.close(code=code, reason=exc.message)
            return
        await streams.serve_websocket(websocket, stream_filter(principal, chat_id))

    async def me(request: Request) -> Response:
        return JSONResponse(principal_of(request).as_json())

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "unexpected error; it has been logged")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: api_error,
        HTTPException: http_error,
        Exception: unexpected,
    }
    return Starlette(
        routes=[
            Route("/health", health),
            Route("/openapi.json", openapi_document),
            Route("/", console_page),
            Route("/wa-client.js", client_script),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            Route("/status", status),
            Route("/qr", api.qr),
            Route("/qr.svg", api.qr_image),
            Route("/qr.png", api.qr_image),
            Route("/chats", api.list_chats_cached),
            Route("/chats/{chat_id}", api.get_chat),
            Route("/chats/{chat_id}/messages", api.list_messages),
            Route("/messages/{chat_id}", api.list_messages),
            Route("/send", api.send, methods=["POST"]),
            Route("/chats/{chat_id}/read", api.mark_read, methods=["POST"]),
            Route("/contacts", api.list_contacts),
            Route("/contacts/{jid}/picture", api.contact_picture),
            Route("/media/{chat_id}/{message_id}", api.media),
            Route("/events", events),
            Route("/events/poll", poll),
            WebSocketRoute("/ws", websocket_all),
            WebSocketRoute("/ws/chat/{chat_id}", websocket_chat),
            Route("/me", me),
            *helpdesk_routes(runtime.helpdesk_api),
            Route("/admin/bridge", admin_only(admin.bridge)),
            Route("/admin/connect", admin_only(admin.connect), methods=["POST"]),
            Route("/admin/reconnect", admin_only(admin.reconnect), methods=["POST"]),
            Route("/admin/logout", admin_only(admin.logout), methods=["POST"]),
            Route("/admin/bridge/restart", admin_only(admin.restart_bridge), methods=["POST"]),
            Route("/admin/pairing-code", admin_only(admin.pairing_code), methods=["POST"]),
            Route(
                "/admin/profiles/{user_id}",
                admin_only(runtime.helpdesk_api.save_profile),
                methods=["PUT"],
            ),
            Route("/metrics", admin_only(admin.metrics)),
        ],
        middleware=[
            *cors(runtime.settings.cors_origins),
            Middleware(
                Authentication,
                authenticator=runtime.authenticator,
                failures=FailureLimiter(runtime.settings.auth_failures_per_minute),
            ),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
