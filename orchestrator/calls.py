"""What a route handler gets: the connection, who is asking, and the validated body; and the
readers of the query parameters several routes share. Refusals are raised as ApiError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from orchestrator.errors import BadRequest, Code
from orchestrator.principal import Principal

B = TypeVar("B")

MAX_PAGE = 500
DEFAULT_PAGE = 50


@dataclass(frozen=True, slots=True)
class Call(Generic[B]):
    connection: HTTPConnection
    principal: Principal | None  # None only on public routes and on signed media links
    body: B
    session: str = "default"  # the WhatsApp number a session-scoped route names

    @property
    def user(self) -> Principal:
        """Who is asking, on a route that needs a credential."""
        assert self.principal is not None, "a route that needs no credential asked who it is"
        return self.principal

    @property
    def websocket(self) -> WebSocket:
        assert isinstance(self.connection, WebSocket)
        return self.connection

    def path(self, name: str) -> str:
        value: str = self.connection.path_params[name]
        return value

    def query(self, name: str) -> str | None:
        return self.connection.query_params.get(name)

    def limit(self, default: int = DEFAULT_PAGE, most: int = MAX_PAGE) -> int:
        """The `limit` query parameter: a page size from 1 to `most` (absent: `default`)."""
        raw = self.query("limit")
        if raw is None:
            return default
        # isdigit() alone accepts "²" and 5000-digit numbers, which int() then rejects.
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= most:
            raise BadRequest(Code.BAD_LIMIT, f"limit must be an integer from 1 to {most}")
        return int(raw)

    def int_path(self, name: str, code: Code) -> int:
        raw = self.path(name)
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):  # fits a 64-bit id
            raise BadRequest(code, f"{name} must be a positive integer")
        return int(raw)
