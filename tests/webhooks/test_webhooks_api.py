"""Issue 18's routes in-process (the real app and runtime, no other process): the SSRF guard on
webhook URLs, bad input on every route (a clear 4xx JSON error, never a 500), the secret never
shown again, and admins only."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.inprocess import Served, served

pytestmark = pytest.mark.anyio

SECRET = "project-jwt-secret-for-tests-0123456789"
LOOPBACK = "http://127.0.0.1:9/hook"  # allowed by the allowlist; nothing listens (discard)
PUBLIC = "http://93.184.215.14/hook"  # a global address literal: no DNS needed


def user_token(user_id: str) -> str:
    payload = {"sub": user_id, "aud": "authenticated", "role": "authenticated",
               "exp": int(time.time()) + 3600}  # fmt: skip
    return jwt.encode(payload, SECRET, algorithm="HS256")


async def error_of(response: httpx.Response, status: int, *codes: str) -> str:
    """The error's message, once the answer is `status` with one of `codes`."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] in codes, error
    assert isinstance(error["message"], str) and error["message"], error
    message: str = error["message"]
    return message


async def create(s: Served, **body: Any) -> dict[str, Any]:
    response = await s.http.post("/webhooks", json={"url": LOOPBACK, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_webhook_urls_pass_the_ssrf_guard(tmp_path: Path) -> None:
    refused = [
        "http://127.0.0.1/hook", "http://127.0.0.1:8080/hook", "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://localhost/hook",
        "https://localhost:8443/hook", "http://192.168.1.10/hook", "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ]  # fmt: skip
    (tmp_path / "closed").mkdir()
    (tmp_path / "open").mkdir()
    async with served(tmp_path / "closed") as s:
        for url in refused:
            response = await s.http.post("/webhooks", json={"url": url})
            await error_of(response, 400, "webhook_url_forbidden")
        created = await s.http.post("/webhooks", json={"url": PUBLIC})
        assert created.status_code == 201, created.text
        # A PATCH re-checks the URL.
        patched = await s.http.patch(f"/webhooks/{created.json()['id']}",
                                     json={"url": "http://10.0.0.1/x"})  # fmt: skip
        await error_of(patched, 400, "webhook_url_forbidden")
        assert (await s.http.get("/webhooks")).json()["webhooks"][0]["url"] == PUBLIC
    async with served(tmp_path / "open", media_url_allowlist="127.0.0.1") as s:
        for url in ("http://127.0.0.1/hook", "http://127.0.0.1:8080/hook"):
            response = await s.http.post("/webhooks", json={"url": url})
            assert response.status_code == 201, response.text
        for url in refused[2:]:  # only the host named is allowed
            if "127.0.0.1" in url:
                continue
            response = await s.http.post("/webhooks", json={"url": url})
            await error_of(response, 400, "webhook_url_forbidden")


async def test_create_get_list_patch_delete_and_the_secret_shown_once(tmp_path: Path) -> None:
    async with served(tmp_path, media_url_allowlist="127.0.0.1") as s:
        first = await create(s, description="CRM", events=["new_message"], concurrency=2)
        second = await create(s, sessions=["default"], chatTypes=["group"], enabled=False)
        for hook in (first, second):
            assert hook["id"].startswith("wh_") and len(hook["id"]) == 19
            int(hook["id"][3:], 16)
            assert hook["secret"].startswith("whsec_")
        assert first["events"] == ["new_message"] and first["sessions"] is None
        assert first["chatTypes"] is None and first["description"] == "CRM"
        assert first["enabled"] is True and first["concurrency"] == 2
        assert first["disabledReason"] is None and first["disabledAt"] is None
        assert first["previousSecretExpiresAt"] is None
        assert second["enabled"] is False and second["concurrency"] == 4  # the default
        assert first["health"] == {"pending": 0, "retrying": 0, "deadLetters": 0,
                                   "delivered": 0, "failed": 0, "lastSuccessAt": None,
                                   "lastFailureAt": None, "lastError": None,
                                   "oldestPendingSeconds": None}  # fmt: skip
        listed = (await s.http.get("/webhooks")).json()["webhooks"]
        assert [w["id"] for w in listed] == [first["id"], second["id"]]  # oldest first
        shown = [(await s.http.get(f"/webhooks/{first['id']}")).text,
                 (await s.http.get("/webhooks")).text]  # fmt: skip
        patched = await s.http.patch(f"/webhooks/{first['id']}",
                                     json={"description": None, "events": None})  # fmt: skip
        assert patched.status_code == 200, patched.text
        assert patched.json()["description"] is None and patched.json()["events"] is None
        assert patched.json()["concurrency"] == 2  # untouched
        shown.append(patched.text)
        rotated = await s.http.post(f"/webhooks/{first['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
        assert set(rotated.json()) == {"secret", "previousSecretExpiresAt"}
        shown.append((await s.http.get(f"/webhooks/{first['id']}")).text)
        for text in shown:
            for secret in (first["secret"], second["secret"], rotated.json()["secret"]):
                assert secret not in text
            assert "whsec_" not in text and '"secret"' not in text
        deleted = await s.http.delete(f"/webhooks/{first['id']}")
        assert deleted.status_code == 204, deleted.text
        await error_of(await s.http.get(f"/webhooks/{first['id']}"), 404, "unknown_webhook")
        assert [w["id"] for w in (await s.http.get("/webhooks")).json()["webhooks"]] == [
            second["id"]
        ]


BAD_BODIES: list[tuple[Any, str]] = [
    # (body, the field the message must name)
    ({}, "url"),
    ({"url": None}, "url"),
    ({"url": 5}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "http://127.0.0.1:9/" + "x" * 2048}, "url"),
    ({"url": LOOPBACK, "events": []}, "events"),
    ({"url": LOOPBACK, "events": ["resync"]}, "events"),
    ({"url": LOOPBACK, "events": ["no_such_event"]}, "events"),
    ({"url": LOOPBACK, "events": "new_message"}, "events"),
    ({"url": LOOPBACK, "events": [5]}, "events"),
    ({"url": LOOPBACK, "sessions": []}, "sessions"),
    ({"url": LOOPBACK, "sessions": ["nobody"]}, "sessions"),
    ({"url": LOOPBACK, "sessions": [5]}, "sessions"),
    ({"url": LOOPBACK, "sessions": "default"}, "sessions"),
    ({"url": LOOPBACK, "chatTypes": []}, "chatTypes"),
    ({"url": LOOPBACK, "chatTypes": ["channel"]}, "chatTypes"),
    ({"url": LOOPBACK, "chatTypes": "group"}, "chatTypes"),
    ({"url": LOOPBACK, "chatTypes": [None]}, "chatTypes"),
    ({"url": LOOPBACK, "description": "x" * 501}, "description"),
    ({"url": LOOPBACK, "description": 5}, "description"),
    ({"url": LOOPBACK, "enabled": "yes"}, "enabled"),
    ({"url": LOOPBACK, "enabled": None}, "enabled"),
    ({"url": LOOPBACK, "concurrency": 0}, "concurrency"),
    ({"url": LOOPBACK, "concurrency": 65}, "concurrency"),
    ({"url": LOOPBACK, "concurrency": "4"}, "concurrency"),
    ({"url": LOOPBACK, "concurrency": 1.5}, "concurrency"),
    ({"url": LOOPBACK, "concurrency": True}, "concurrency"),
    ({"url": LOOPBACK, "concurrency": None}, "concurrency"),
]
NOT_JSON = [b"{", b"\xff\xfe", b"{'url': 1}", b"nul", b'{"url": "x"} trailing']
NOT_OBJECTS: list[Any] = [[], ["url"], "http://x", 5, None, True]


async def test_bad_input_on_every_route_is_a_clear_4xx_never_a_500(tmp_path: Path) -> None:
    async with served(tmp_path, media_url_allowlist="127.0.0.1") as s:
        hook = await create(s)
        base = f"/webhooks/{hook['id']}"
        for body, field in BAD_BODIES:
            for method, path in (("POST", "/webhooks"), ("PATCH", base)):
                if method == "PATCH" and body == {}:
                    continue  # any subset: nothing at all changes nothing
                # The routes' bad_<field>; a URL the guard refuses is webhook_url_forbidden.
                message = await error_of(
                    await s.http.request(method, path, json=body), 400,
                    f"bad_{field}", *(["webhook_url_forbidden"] if field == "url" else []),
                )  # fmt: skip
                assert field in message, (method, body, message)
        for url in ("ftp://127.0.0.1/hook", "file:///etc/passwd", "javascript:alert(1)",
                    "http://", "127.0.0.1:9/hook"):  # fmt: skip
            for method, path in (("POST", "/webhooks"), ("PATCH", base)):
                await error_of(await s.http.request(method, path, json={"url": url}), 400,
                               "webhook_url_forbidden")  # fmt: skip
        for raw in NOT_JSON:
            for method, path in (("POST", "/webhooks"), ("PATCH", base),
                                 ("POST", f"{base}/replay")):  # fmt: skip
                response = await s.http.request(
                    method, path, content=raw, headers={"content-type": "application/json"}
                )
                await error_of(response, 400, "invalid_json")
        for method, path in (("POST", "/webhooks"), ("PATCH", base), ("POST", f"{base}/replay")):
            response = await s.http.request(method, path)  # no body at all
            await error_of(response, 400, "invalid_json")
        for value in NOT_OBJECTS:
            for method, path in (("POST", "/webhooks"), ("PATCH", base),
                                 ("POST", f"{base}/replay")):  # fmt: skip
                response = await s.http.request(method, path, json=value)
                await error_of(response, 400, "invalid_json")
        # Nothing changed by all that.
        assert (await s.http.get(base)).json()["url"] == LOOPBACK
        assert len((await s.http.get("/webhooks")).json()["webhooks"]) == 1
        empty = await s.http.patch(base, json={})
        assert empty.status_code == 200, empty.text

        # Unknown ids, on every route that takes one.
        for unknown in ("wh_0000000000000000", "wh_zz", "x" * 300, "%C2%B2"):
            path = f"/webhooks/{unknown}"
            for method, route, body in (
                ("GET", path, None), ("PATCH", path, {"description": "x"}),
                ("DELETE", path, None), ("POST", f"{path}/rotate-secret", None),
                ("GET", f"{path}/deliveries", None),
                ("POST", f"{path}/replay", {"deadLetters": True}),
            ):  # fmt: skip
                response = await s.http.request(method, route, json=body)
                assert response.status_code in (404, 400), (method, route, response.text)
                assert response.status_code < 500
                if response.status_code == 404:
                    await error_of(response, 404, "unknown_webhook", "not_found")

        # Deliveries: status and limit.
        deliveries = f"{base}/deliveries"
        for status in ("pending", "retrying", "delivered", "dead"):
            response = await s.http.get(deliveries, params={"status": status})
            assert response.status_code == 200 and response.json() == {"deliveries": []}
        for status in ("", "PENDING", "failed", "x" * 1000, "dead,pending"):
            response = await s.http.get(deliveries, params={"status": status})
            await error_of(response, 400, "bad_status")
        for limit in ("1", "1000"):
            assert (await s.http.get(deliveries, params={"limit": limit})).status_code == 200
        for limit in ("0", "-1", "1001", "x", "", "1.5", "1e3", "²", "9" * 40):
            response = await s.http.get(deliveries, params={"limit": limit})
            await error_of(response, 400, "bad_limit")

        # Replay bodies.
        replay = f"{base}/replay"
        for body in ({}, {"since": 5}, {"since": None}, {"deadLetters": "yes"},
                     {"deadLetters": 1}, {"since": "a:1:0", "deadLetters": True},
                     {"since": ["a:1:0"]}):  # fmt: skip
            await error_of(await s.http.post(replay, json=body), 400, "bad_replay")
        for since in ("nope:1:0", "0mxbpqgzw-7f6be648:999999:0"):
            await error_of(await s.http.post(replay, json={"since": since}), 404,
                           "unknown_event")  # fmt: skip
        for since in ("garbage", "a" * 5000):
            response = await s.http.post(replay, json={"since": since})
            await error_of(response, response.status_code, "bad_replay", "unknown_event")
            assert response.status_code in (400, 404)
        # "" is the stream's "from the very first event": either that, or refused.
        response = await s.http.post(replay, json={"since": ""})
        assert response.status_code in (202, 400, 404), response.text
        ok = await s.http.post(replay, json={"deadLetters": True})
        assert ok.status_code == 202 and ok.json() == {"queued": 0}, ok.text
        await s.http.patch(base, json={"enabled": False})
        await error_of(await s.http.post(replay, json={"deadLetters": True}), 409,
                       "webhook_disabled")  # fmt: skip


async def test_only_admins_may_touch_webhooks(tmp_path: Path) -> None:
    async with served(tmp_path, supabase_jwt_secret=SECRET,
                      media_url_allowlist="127.0.0.1") as s:  # fmt: skip
        hook = await create(s)
        users = {role: str(uuid.uuid4()) for role in ("admin", "supervisor", "agent")}
        for role, user_id in users.items():
            profile = {"role": role, "displayName": role}
            (await s.http.put(f"/admin/profiles/{user_id}", json=profile)).raise_for_status()
        base = f"/webhooks/{hook['id']}"
        routes: list[tuple[str, str, Any]] = [
            ("GET", "/webhooks", None), ("POST", "/webhooks", {"url": LOOPBACK}),
            ("GET", base, None), ("PATCH", base, {"description": "x"}),
            ("POST", f"{base}/rotate-secret", None), ("GET", f"{base}/deliveries", None),
            ("POST", f"{base}/replay", {"deadLetters": True}), ("DELETE", base, None),
        ]  # fmt: skip
        for role in ("agent", "supervisor"):
            async with s.client(user_token(users[role])) as client:
                for method, path, body in routes:
                    response = await client.request(method, path, json=body)
                    await error_of(response, 403, "forbidden")
        async with s.client() as anonymous:
            for method, path, body in routes:
                response = await anonymous.request(method, path, json=body)
                assert response.status_code == 401, (method, path, response.text)
        async with s.client(user_token(users["admin"])) as admin:
            expected = [200, 201, 200, 200, 200, 200, 202, 204]
            for (method, path, body), status in zip(routes, expected, strict=True):
                response = await admin.request(method, path, json=body)
                assert response.status_code == status, (method, path, response.text)
