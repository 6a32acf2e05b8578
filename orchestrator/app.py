"""The HTTP application: routes over the runtime, token auth, and JSON errors everywhere."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from orchestrator.api import ApiError, error_response
from orchestrator.auth import presented_token, token_matches
from orchestrator.runtime import Runtime
from orchestrator.streams import EventStreamResponse, everything, for_chat

log = logging.getLogger("orchestrator.app")

PUBLIC_PATHS = {"/health"}


class TokenAuth:
    """Every route but the public ones needs the API token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and scope["path"] not in PUBLIC_PATHS
            and not token_matches(presented_token(HTTPConnection(scope)), self.token)
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401})
                return
            response = error_response(401, "unauthorized", "a valid bearer token is required")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(runtime: Runtime, token: str) -> Starlette:
    api, streams, admin = runtime.api, runtime.streams, runtime.admin

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
        return streams.sse_response(request, everything)

    async def poll(request: Request) -> Response:
        return await streams.poll(request, everything)

    async def websocket_all(websocket: WebSocket) -> None:
        await streams.serve_websocket(websocket, everything)

    async def websocket_chat(websocket: WebSocket) -> None:
        try:
            chat_id = api.chat(websocket.path_params["chat_id"]).id
        except ApiError as exc:
            await websocket.close(code=4404 if exc.status == 404 else 4400, reason=exc.message)
            return
        await streams.serve_websocket(websocket, for_chat(chat_id))

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
            Route("/status", status),
            Route("/qr", api.qr),
            Route("/qr.svg", api.qr_image),
            Route("/qr.png", api.qr_image),
            Route("/chats", api.list_chats),
            Route("/chats/{chat_id}", api.get_chat),
            Route("/chats/{chat_id}/messages", api.list_messages),
            Route("/messages/{chat_id}", api.list_messages),
            Route("/send", api.send, methods=["POST"]),
            Route("/contacts", api.list_contacts),
            Route("/contacts/{jid}/picture", api.contact_picture),
            Route("/media/{chat_id}/{message_id}", api.media),
            Route("/events", events),
            Route("/events/poll", poll),
            WebSocketRoute("/ws", websocket_all),
            WebSocketRoute("/ws/chat/{chat_id}", websocket_chat),
            Route("/admin/bridge", admin.bridge),
            Route("/admin/connect", admin.connect, methods=["POST"]),
            Route("/admin/reconnect", admin.reconnect, methods=["POST"]),
            Route("/admin/logout", admin.logout, methods=["POST"]),
            Route("/admin/bridge/restart", admin.restart_bridge, methods=["POST"]),
            Route("/admin/pairing-code", admin.pairing_code, methods=["POST"]),
            Route("/metrics", admin.metrics),
        ],
        middleware=[Middleware(TokenAuth, token=token)],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
