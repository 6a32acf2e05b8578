"""The GoTrue stand-in (tests/gotrue.py) answers as Supabase Auth does, and the orchestrator
accepts the tokens it issues: what the console's sign-in test stands on."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.gotrue import GoTrue
from tests.inprocess import served
from tests.test_permissions import SECRET

ANON = "anon-key"


def grant(
    auth: GoTrue, grant_type: str, body: dict[str, str], apikey: str = ANON
) -> httpx.Response:
    return httpx.post(
        f"{auth.url}/auth/v1/token",
        params={"grant_type": grant_type},
        json=body,
        headers={"apikey": apikey},
        timeout=5,
    )


def test_password_and_refresh_grants_as_gotrue_answers_them() -> None:
    with GoTrue(SECRET, ANON, lifetime=60) as auth:
        user_id = str(uuid.uuid4())
        auth.add_user("ana@example.com", "pw-1", user_id)

        wrong = grant(auth, "password", {"email": "ana@example.com", "password": "nope"})
        unknown = grant(auth, "password", {"email": "who@example.com", "password": "pw-1"})
        for refused in (wrong, unknown):  # one answer for both: GoTrue does not say which
            assert refused.status_code == 400
            assert refused.json() == {"code": 400, "error_code": "invalid_credentials",
                                      "msg": "Invalid login credentials"}  # fmt: skip
        assert grant(auth, "password", {"email": "ana@example.com", "password": "pw-1"},
                     apikey="other").status_code == 401  # fmt: skip

        signed_in = grant(auth, "password", {"email": "ANA@example.com", "password": "pw-1"})
        assert signed_in.status_code == 200
        session = signed_in.json()
        assert set(session) == {"access_token", "token_type", "expires_in", "expires_at",
                                "refresh_token", "user"}  # fmt: skip
        assert (session["token_type"], session["expires_in"]) == ("bearer", 60)
        assert session["user"]["id"] == user_id and session["user"]["email"] == "ana@example.com"

        # The refresh token rotates: the new one works, the used one is refused.
        refreshed = grant(auth, "refresh_token", {"refresh_token": session["refresh_token"]})
        assert refreshed.status_code == 200
        assert refreshed.json()["refresh_token"] != session["refresh_token"]
        again = grant(auth, "refresh_token", {"refresh_token": session["refresh_token"]})
        assert again.status_code == 400
        assert again.json()["error_code"] == "refresh_token_not_found"

        # A browser on another origin may call it.
        preflight = httpx.options(f"{auth.url}/auth/v1/token", timeout=5)
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "apikey" in preflight.headers["access-control-allow-headers"]


@pytest.mark.anyio
async def test_the_orchestrator_accepts_its_tokens(tmp_path: Path) -> None:
    """Verified with the project's JWT secret (SUPABASE_JWT_SECRET), before and after a
    refresh."""
    with GoTrue(SECRET, ANON, lifetime=60) as auth:
        user_id = str(uuid.uuid4())
        auth.add_user("ana@example.com", "pw-1", user_id)
        async with httpx.AsyncClient(base_url=auth.url, headers={"apikey": ANON}) as gotrue:
            token = "/auth/v1/token"
            body = {"email": "ana@example.com", "password": "pw-1"}
            session = (
                await gotrue.post(token, params={"grant_type": "password"}, json=body)
            ).json()
            body = {"refresh_token": session["refresh_token"]}
            params = {"grant_type": "refresh_token"}
            refreshed = (await gotrue.post(token, params=params, json=body)).json()
        async with served(tmp_path, supabase_jwt_secret=SECRET) as s:
            profile = {"role": "agent", "displayName": "Ana"}
            (await s.http.put(f"/admin/profiles/{user_id}", json=profile)).raise_for_status()
            for access in (session["access_token"], refreshed["access_token"]):
                async with s.client(access) as ana:
                    me = (await ana.get("/me")).json()
                    assert (me["userId"], me["name"], me["role"]) == (user_id, "Ana", "agent")
