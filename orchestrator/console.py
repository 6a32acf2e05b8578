"""The public routes: liveness, the OpenAPI document, the operator console's static files (the
page itself asks for the token, or signs in through Supabase Auth) and its configuration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.responses import FileResponse, Response

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.errors import Code, NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The console loads nothing from elsewhere and runs no inline script.
CONSOLE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class Console:
    def __init__(
        self, openapi_document: Callable[[], bytes], config: s.ConsoleConfig | None = None
    ) -> None:
        # Built when first asked for: 0.2 s of pydantic schema work a start need not wait for.
        self._document = openapi_document
        self._config: s.ConsoleConfig = config or {"supabase": None}
        # Served by name, never by a path built from the request.
        self._files = {path.name: path for path in STATIC_DIR.iterdir() if path.is_file()}
        self._headers = dict(CONSOLE_HEADERS)
        supabase = self._config["supabase"]
        if supabase is not None:
            # The sign-in page talks to Supabase Auth itself: that origin, and no other.
            self._headers["Content-Security-Policy"] = CONSOLE_HEADERS[
                "Content-Security-Policy"
            ].replace("connect-src 'self'", f"connect-src 'self' {origin(supabase['url'])}")

    async def health(self, call: Call[None]) -> s.Health:
        return {"status": "ok"}

    async def openapi(self, call: Call[None]) -> Response:
        return Response(self._document(), media_type="application/json")

    async def page(self, call: Call[None]) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=self._headers)

    async def config(self, call: Call[None]) -> s.ConsoleConfig:
        return self._config

    async def client_script(self, call: Call[None]) -> Response:
        return self._file("wa-client.js")

    async def static_file(self, call: Call[None]) -> Response:
        return self._file(call.path("file"))

    def _file(self, name: str) -> Response:
        path = self._files.get(name)
        if path is None:
            raise NotFound(Code.NOT_FOUND, f"no file {name[:80]!r} in the console")
        media_type = "text/javascript" if path.suffix == ".js" else None
        return FileResponse(path, media_type=media_type, headers=self._headers)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: what a CSP source names."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
