"""The HTTP API: Starlette routes over the runtime. Errors are always JSON with a stable code."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.auth import presented_token, token_matches
from orchestrator.runtime import Runtime

PUBLIC_PATHS = {"/health"}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


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
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def status(request: Request) -> Response:
        body: dict[str, Any] = runtime.lifecycle.status()
        body["bridge"] = {
            "alive": runtime.follower.alive,
            "epoch": runtime.follower.stats.bridge_epoch,
        }
        return JSONResponse(body)

    async def admin_bridge(request: Request) -> Response:
        return JSONResponse(runtime.bridge_report())

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: http_error
    }
    return Starlette(
        routes=[
            Route("/health", health),
            Route("/status", status),
            Route("/admin/bridge", admin_bridge),
        ],
        middleware=[Middleware(TokenAuth, token=token)],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
