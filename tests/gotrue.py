"""A Supabase Auth (GoTrue) stand-in: a real HTTP server, for the console's email + password
sign-in. Only the edge the console touches, answered as GoTrue answers it:

- `POST /auth/v1/token?grant_type=password` `{"email","password"}` and
  `POST /auth/v1/token?grant_type=refresh_token` `{"refresh_token"}`, with the header `apikey`
  (the anon key): 200 `{"access_token","token_type":"bearer","expires_in","expires_at",
  "refresh_token","user"}`; a wrong email or password is 400
  `{"code":400,"error_code":"invalid_credentials","msg":"Invalid login credentials"}` (one
  answer for both: GoTrue does not say which), an unknown or used refresh token 400
  `refresh_token_not_found`, a missing or wrong apikey 401.
- CORS as Supabase serves it: any origin, the preflight answered.

Access tokens are HS256 JWTs signed with the project's JWT secret (what the orchestrator gets as
SUPABASE_JWT_SECRET), with GoTrue's claims; refresh tokens rotate on every use. `lifetime` is
the access token's (seconds): a short one makes the console refresh within a test.

    with GoTrue(secret, anon_key, lifetime=20) as auth:
        auth.add_user("carla@example.com", "s3cret", user_id)
        auth.url  # SUPABASE_URL
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt


@dataclass
class User:
    id: str
    email: str
    password: str
    created_at: str = field(default_factory=lambda: _iso(time.time()))


@dataclass
class Grant:
    """One token answer given: its grant type, when, and the access token's expiry."""

    grant_type: str
    at: float
    expires_at: int
    access_token: str


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


class GoTrue:
    def __init__(self, jwt_secret: str, anon_key: str, *, lifetime: int = 3600) -> None:
        self.jwt_secret = jwt_secret
        self.anon_key = anon_key
        self.lifetime = lifetime
        self.users: dict[str, User] = {}  # by email
        self._refresh: dict[str, tuple[User, str]] = {}  # refresh token -> (user, session id)
        self.grants: list[Grant] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_user(self, email: str, password: str, user_id: str | None = None) -> User:
        user = User(user_id or str(uuid.uuid4()), email, password)
        self.users[email.lower()] = user
        return user

    def __enter__(self) -> GoTrue:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- the grants ---------------------------------------------------------------------

    def token(self, grant_type: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if grant_type == "password":
            user = self.users.get(str(body.get("email") or "").lower())
            password = body.get("password")
            if user is None or not isinstance(password, str) or password != user.password:
                return 400, _error(400, "invalid_credentials", "Invalid login credentials")
            return 200, self._session(user, str(uuid.uuid4()), grant_type)
        if grant_type == "refresh_token":
            with self._lock:
                found = self._refresh.pop(str(body.get("refresh_token") or ""), None)
            if found is None:
                return 400, _error(
                    400,
                    "refresh_token_not_found",
                    "Invalid Refresh Token: Refresh Token Not Found",
                )
            user, session_id = found
            return 200, self._session(user, session_id, grant_type)
        return 400, _error(400, "validation_failed", f"unsupported_grant_type: {grant_type}")

    def _session(self, user: User, session_id: str, grant_type: str) -> dict[str, Any]:
        now = int(time.time())
        expires_at = now + self.lifetime
        claims = {
            "iss": f"{self.url}/auth/v1",
            "sub": user.id,
            "aud": "authenticated",
            "exp": expires_at,
            "iat": now,
            "email": user.email,
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": session_id,
            "is_anonymous": False,
        }
        access_token = jwt.encode(claims, self.jwt_secret, algorithm="HS256")
        refresh_token = secrets.token_urlsafe(9)  # GoTrue's are short random strings too
        with self._lock:
            self._refresh[refresh_token] = (user, session_id)
            self.grants.append(Grant(grant_type, time.time(), expires_at, access_token))
        signed_in = _iso(now)
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": self.lifetime,
            "expires_at": expires_at,
            "refresh_token": refresh_token,
            "user": {
                "id": user.id,
                "aud": "authenticated",
                "role": "authenticated",
                "email": user.email,
                "email_confirmed_at": user.created_at,
                "phone": "",
                "confirmed_at": user.created_at,
                "last_sign_in_at": signed_in,
                "app_metadata": {"provider": "email", "providers": ["email"]},
                "user_metadata": {},
                "identities": [],
                "created_at": user.created_at,
                "updated_at": signed_in,
                "is_anonymous": False,
            },
        }

    # ---- HTTP ---------------------------------------------------------------------------

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        auth = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, body: dict[str, Any] | None) -> None:
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
                self.send_header(
                    "Access-Control-Allow-Headers",
                    "apikey, authorization, content-type, x-client-info",
                )
                self.send_header("Access-Control-Max-Age", "86400")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if url.path != "/auth/v1/token":
                    self._answer(404, _error(404, "not_found", "Not Found"))
                    return
                if self.headers.get("apikey") != auth.anon_key:
                    self._answer(401, {"message": "Invalid API key"})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._answer(400, _error(400, "bad_json", "Could not parse request body"))
                    return
                grant_type = parse_qs(url.query).get("grant_type", [""])[0]
                self._answer(*auth.token(grant_type, body if isinstance(body, dict) else {}))

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _error(code: int, error_code: str, msg: str) -> dict[str, Any]:
    return {"code": code, "error_code": error_code, "msg": msg}
