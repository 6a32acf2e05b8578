"""Stream tokens (`orchestrator/streamtoken.py`): minting and verification as units (expiry,
another key, another audience, tampering), beside the credentials that must keep working (a
Supabase JWT, the API token); and `POST /auth/stream-token` in-process: who may mint, what the
answer says, every refusal of a bad body, and what the document declares. The real-HTTP and
stream side is in test_stream_tokens_e2e.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest

from orchestrator.errors import Forbidden, Unauthorized
from orchestrator.openapi import document
from orchestrator.principal import OPERATOR, Authenticator, Principal
from orchestrator.routes import OPERATIONS, all_errors
from orchestrator.streamtoken import AUDIENCE, ISSUER, StreamTokens
from tests.harness import TOKEN
from tests.inprocess import served

SECRET = "project-jwt-secret-for-tests-0123456789"
pytestmark = pytest.mark.anyio


def derived_key(api_token: str) -> bytes:
    """The documented derivation, written from the contract: HMAC-SHA256(api token, label)."""
    return hmac.new(api_token.encode(), b"wa-helpdesk stream token v1", hashlib.sha256).digest()


def supabase_token(user_id: str, ttl: int = 60) -> str:
    claims = {"sub": user_id, "aud": "authenticated", "exp": int(time.time()) + ttl}
    return jwt.encode(claims, SECRET, algorithm="HS256")


PROFILES: dict[str, dict[str, Any]] = {
    "ana": {"id": "ana", "role": "agent", "display_name": "Ana", "sessions": ["default", "sales"]},
    "root": {"id": "root", "role": "admin", "display_name": "Root", "sessions": []},
}


def authenticator(profiles: dict[str, dict[str, Any]] | None = None) -> Authenticator:
    table = PROFILES if profiles is None else profiles
    return Authenticator(TOKEN, jwt_secret=SECRET, jwks_url=None, profile=table.get)


# ---- minting and verifying -------------------------------------------------------------------


def test_a_minted_token_says_who_which_sessions_and_until_when() -> None:
    tokens = StreamTokens(TOKEN, clock=lambda: 1_000_000.0)
    token, expires_at = tokens.mint("ana", ["sales"], 900)
    assert expires_at == 1_000_900
    claims = jwt.decode(
        token, derived_key(TOKEN), algorithms=["HS256"], audience=AUDIENCE,
        options={"verify_exp": False},
    )  # fmt: skip
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert {k: claims[k] for k in ("iss", "aud", "sub", "scope", "sessions", "iat", "exp")} == {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "scope": "read", "sessions": ["sales"],
        "iat": 1_000_000, "exp": 1_000_900,
    }  # fmt: skip
    assert (
        claims["jti"]
        != jwt.decode(tokens.mint("ana", ["sales"], 900)[0], options={"verify_signature": False})[
            "jti"
        ]
    )
    fresh = StreamTokens(TOKEN)  # another replica sharing the API token: the same key
    mine, _ = fresh.mint("ana", None, 60)
    verified = StreamTokens(TOKEN).verify(mine)
    assert verified is not None
    assert (verified.user_id, verified.sessions) == ("ana", None)
    operator, _ = fresh.mint(None, ["default"], 60)
    verified = fresh.verify(operator)
    assert verified is not None
    assert (verified.user_id, verified.sessions) == (None, frozenset({"default"}))


def test_an_expired_token_is_refused_as_expired_not_as_forged() -> None:
    minted_earlier = StreamTokens(TOKEN, clock=lambda: time.time() - 1000)
    token, _ = minted_earlier.mint("ana", None, 900)
    with pytest.raises(Unauthorized) as refused:
        StreamTokens(TOKEN).verify(token)
    assert refused.value.code == "unauthorized" and "expired" in refused.value.message
    # One second left: still good.
    token, _ = StreamTokens(TOKEN, clock=lambda: time.time() - 899).mint("ana", None, 900)
    assert StreamTokens(TOKEN).verify(token) is not None


def forged(claims: dict[str, Any], key: bytes | str | None = None, alg: str = "HS256") -> str:
    """A token as an attacker would make it; by default with the right key (the baseline)."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "scope": "read", "sessions": None,
               "iat": now, "exp": now + 60, "jti": "x", **claims}  # fmt: skip
    if alg == "none":
        return jwt.encode(payload, "", algorithm="none")
    return jwt.encode(payload, derived_key(TOKEN) if key is None else key, algorithm=alg)


def tampered(token: str) -> str:
    """The same signature over a payload that names another user."""
    header, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "root"
    body = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def test_forged_and_foreign_tokens_are_refused() -> None:
    tokens = StreamTokens(TOKEN)
    assert tokens.verify(forged({})) is not None  # the baseline is a good token
    refused = {
        "another API token's key": StreamTokens("another-api-token").mint("ana", None, 60)[0],
        "the Supabase secret": forged({}, key=SECRET),
        "another audience": forged({"aud": "authenticated"}),
        "another issuer": forged({"iss": "someone"}),
        "a write scope": forged({"scope": "write"}),
        "no expiry": forged({"exp": None}),
        "sessions not a list": forged({"sessions": "default"}),
        "tampered": tampered(tokens.mint("ana", None, 60)[0]),
        "alg none": forged({}, alg="none"),
        "no signature": forged({}).rsplit(".", 1)[0] + ".",
        "garbage": "a.b.c",
    }
    for why, token in refused.items():
        assert tokens.verify(token) is None, why


async def test_the_authenticator_takes_every_kind_of_token() -> None:
    auth = authenticator()
    assert await auth.authenticate(TOKEN) is OPERATOR  # the API token still works
    ana = await auth.authenticate(supabase_token("ana"))  # a Supabase JWT still works
    assert ana == Principal("ana", "agent", "Ana", frozenset({"default", "sales"}))
    assert not ana.read_only
    stream = await auth.authenticate(auth.stream_tokens.mint("ana", ["sales"], 60)[0])
    assert stream is not None and stream.read_only
    assert (stream.user_id, stream.role) == ("ana", "agent")
    assert stream.session_limit == frozenset({"sales"})
    assert stream.may_use("sales") and not stream.may_use("default")
    view = await auth.authenticate(auth.stream_tokens.mint(None, None, 60)[0])
    assert view is not None and view.read_only and view.is_admin and view.user_id is None
    assert view.session_limit is None and view.may_use("anything")
    # A stream token is not a Supabase JWT, and a Supabase JWT is no stream token.
    assert await auth.authenticate(forged({}, key=SECRET)) is None
    supabase_shaped = jwt.encode(
        {"sub": "ana", "aud": AUDIENCE, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"
    )
    assert await auth.authenticate(supabase_shaped) is None


async def test_stream_tokens_work_without_supabase_and_follow_the_profile() -> None:
    profiles = {name: dict(row) for name, row in PROFILES.items()}
    auth = Authenticator(TOKEN, jwt_secret=None, jwks_url=None, profile=profiles.get)
    token, _ = auth.stream_tokens.mint("ana", None, 60)
    ana = await auth.authenticate(token)
    assert ana is not None and ana.session_limit == frozenset({"default", "sales"})
    profiles["ana"]["sessions"] = ["sales"]  # an admin's change counts at the next use
    ana = await auth.authenticate(token)
    assert ana is not None and ana.session_limit == frozenset({"sales"})
    profiles["ana"]["role"] = "supervisor"
    ana = await auth.authenticate(token)
    assert ana is not None and ana.is_staff and ana.read_only
    del profiles["ana"]  # a removed profile stops the token
    with pytest.raises(Forbidden) as refused:
        await auth.authenticate(token)
    assert refused.value.code == "no_profile"
    expired, _ = StreamTokens(TOKEN, clock=lambda: time.time() - 120).mint("root", None, 60)
    with pytest.raises(Unauthorized):
        await auth.authenticate(expired)


# ---- POST /auth/stream-token in-process --------------------------------------------------------


async def test_admins_mint_and_nobody_else(tmp_path: Path) -> None:
    async with served(tmp_path, supabase_jwt_secret=SECRET) as s:
        for user, role in (("root", "admin"), ("sup", "supervisor"), ("ana", "agent")):
            profile = {"role": role, "sessions": ["default", "sales"]}
            (await s.http.put(f"/admin/profiles/{user}", json=profile)).raise_for_status()
        operator = await s.http.post("/auth/stream-token", json={})
        assert operator.status_code == 201, operator.text
        body = operator.json()
        assert set(body) == {"token", "expiresAt", "userId", "sessions"}
        assert (body["userId"], body["sessions"]) == (None, None)
        assert abs(body["expiresAt"] - (time.time() + 900)) < 5
        for_ana = await s.http.post(
            "/auth/stream-token",
            json={"userId": "ana", "sessions": ["sales", "sales"], "ttlSeconds": 30},
        )
        assert for_ana.status_code == 201, for_ana.text
        assert (for_ana.json()["userId"], for_ana.json()["sessions"]) == ("ana", ["sales"])
        assert abs(for_ana.json()["expiresAt"] - (time.time() + 30)) < 5
        async with s.client(supabase_token("root")) as root:
            mine = await root.post("/auth/stream-token", json={"userId": None})
            assert mine.status_code == 201 and mine.json()["userId"] == "root"
            anas = await root.post("/auth/stream-token", json={"userId": "ana"})
            assert anas.status_code == 201 and anas.json()["userId"] == "ana"
        for who in ("sup", "ana"):
            async with s.client(supabase_token(who)) as client:
                refused = await client.post("/auth/stream-token", json={})
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        async with s.client(body["token"]) as stream:  # no token from a token
            refused = await stream.post("/auth/stream-token", json={})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "read_only_token")
        async with s.client() as anonymous:
            assert (await anonymous.post("/auth/stream-token", json={})).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"ttlSeconds": 29}, 400, "bad_ttl"),
        ({"ttlSeconds": 86_401}, 400, "bad_ttl"),
        ({"ttlSeconds": "900"}, 400, "bad_ttl"),
        ({"ttlSeconds": 90.5}, 400, "bad_ttl"),
        ({"ttlSeconds": True}, 400, "bad_ttl"),
        ({"ttlSeconds": None}, 400, "bad_ttl"),
        ({"userId": ""}, 400, "bad_user_id"),
        ({"userId": "x" * 101}, 400, "bad_user_id"),
        ({"userId": 7}, 400, "bad_user_id"),
        ({"userId": "nobody"}, 404, "unknown_user"),
        ({"sessions": []}, 400, "bad_sessions"),
        ({"sessions": ["Sales"]}, 400, "bad_sessions"),
        ({"sessions": "default"}, 400, "bad_sessions"),
        ({"sessions": [f"s{n}" for n in range(101)]}, 400, "bad_sessions"),
        ({"userId": "ana", "sessions": ["support"]}, 400, "bad_sessions"),  # not her session
        ({"userId": "ana", "sessions": ["sales", "support"]}, 400, "bad_sessions"),
    ],
)  # fmt: skip
async def test_bad_bodies_are_refused_with_their_code(
    tmp_path: Path, body: dict[str, Any], status: int, code: str
) -> None:
    async with served(tmp_path) as s:
        profile = {"role": "agent", "sessions": ["default", "sales"]}
        (await s.http.put("/admin/profiles/ana", json=profile)).raise_for_status()
        response = await s.http.post("/auth/stream-token", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error


async def test_a_body_that_is_not_a_json_object_is_refused(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        for content in (b"", b"[]", b"{", b"null"):
            response = await s.http.post("/auth/stream-token", content=content)
            assert response.status_code == 400, content
            assert response.json()["error"]["code"] == "invalid_json"


async def test_staff_may_narrow_to_any_session(tmp_path: Path) -> None:
    """Staff work on every session, so any well-formed list narrows their token."""
    async with served(tmp_path) as s:
        profile = {"role": "supervisor", "sessions": []}
        (await s.http.put("/admin/profiles/sup", json=profile)).raise_for_status()
        body = {"userId": "sup", "sessions": ["later"]}
        response = await s.http.post("/auth/stream-token", json=body)
        assert response.status_code == 201, response.text
        async with s.client(response.json()["token"]) as sup:
            me = (await sup.get("/me")).json()
            assert (me["sessions"], me["allSessions"]) == (["later"], False)
            assert me["role"] == "supervisor"
            refused = await sup.get("/chats")  # the default session is outside the token
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")


def test_the_document_declares_the_route_and_the_read_only_refusals() -> None:
    paths = document()["paths"]
    mint = paths["/auth/stream-token"]["post"]
    assert mint["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StreamTokenBody"
    }
    assert mint["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StreamToken"
    }
    codes = {status: set(r["description"].split(", ")) for status, r in mint["responses"].items()}
    assert {"bad_ttl", "bad_user_id", "bad_sessions", "invalid_json"} <= codes["400"]
    assert codes["404"] == {"unknown_user"}
    assert {"forbidden", "read_only_token", "no_profile"} <= codes["403"]
    for op in OPERATIONS:
        writes = op.method != "GET" or op.access.name == "ADMIN"
        if op.access.name != "PUBLIC":
            assert ("read_only_token" in all_errors(op)) == writes, op.name
