"""Operator routes (`/admin/...`, `/metrics`): connection control, pairing by code, the bridge."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrator.api import ApiError
from orchestrator.errors import CommandError, TransportError

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

PHONE_DIGITS = re.compile(r"[0-9]{8,15}")


class Admin:
    def __init__(self, runtime: Runtime, registry: CollectorRegistry) -> None:
        self.runtime = runtime
        self.registry = registry

    async def bridge(self, request: Request) -> Response:
        return JSONResponse(self.runtime.bridge_report())

    async def connect(self, request: Request) -> Response:
        self.runtime.lifecycle.request_connect()
        return JSONResponse(self.runtime.lifecycle.status(), status_code=202)

    async def reconnect(self, request: Request) -> Response:
        self.runtime.lifecycle.request_reconnect("asked by an operator")
        return JSONResponse(self.runtime.lifecycle.status(), status_code=202)

    async def logout(self, request: Request) -> Response:
        try:
            await self.runtime.lifecycle.logout()
        except (CommandError, TransportError) as exc:
            raise ApiError(502, "bridge_error", f"logout failed: {exc}") from None
        return JSONResponse(self.runtime.lifecycle.status())

    async def restart_bridge(self, request: Request) -> Response:
        supervisor = self.runtime.supervisor
        if supervisor is None:
            raise ApiError(
                409, "not_spawned", "the bridge runs elsewhere (ORCH_SPAWN_BRIDGE=false)"
            )
        if not supervisor.restart("asked by an operator"):
            raise ApiError(409, "bridge_not_running", "the bridge is not running right now")
        return JSONResponse({"restarting": True}, status_code=202)

    async def pairing_code(self, request: Request) -> Response:
        body = await self.runtime.api.json_body(request)
        phone = re.sub(r"[\s()+.-]", "", str(body.get("phone", "")))
        if not PHONE_DIGITS.fullmatch(phone):
            raise ApiError(400, "invalid_phone", "phone: the number in international format")
        try:
            code = await self.runtime.commands.call("requestPairingCode", [phone])
        except CommandError as exc:
            if exc.code in ("not_connected", "replay_mode"):
                raise ApiError(409, "not_connected", exc.message) from None
            raise ApiError(502, "bridge_error", exc.message) from None
        return JSONResponse({"code": code})

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
