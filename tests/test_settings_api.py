"""Issue 16's settings and automatic rules through the API, in-process (tests/inprocess.py):
GET/PUT /settings (who may, what is refused, what is kept), and what a customer's message sets
off: the greeting, the away message, round-robin assignment among the agents online, each once
per conversation. The in-memory bridge records the commands it gets; who is online is a real
class behind the runtime's `online_agents`."""

from __future__ import annotations

import contextlib
import copy
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from orchestrator.desksettings import defaults
from tests.inprocess import Served, served

pytestmark = pytest.mark.anyio
SECRET = "project-jwt-secret-for-tests-0123456789"
CUSTOMERS = [f"55119000001{n:02d}@s.whatsapp.net" for n in range(1, 9)]
GROUP = "120363000000000009@g.us"
GREETING = "Olá! Somos a Loja Exemplo: já vamos te atender. 😊"
AWAY = "Estamos fora do horário (seg-sex, 9h-18h). Respondemos assim que voltarmos."


def user_token(user_id: str) -> str:
    claims = {"sub": user_id, "aud": "authenticated", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


class OnlineAgents:
    """Who holds a stream connection, per session: what AgentPresence.online answers."""

    def __init__(self) -> None:
        self.users: list[str] = []

    def online(self, session: str) -> list[str]:
        return list(self.users)


def document(**parts: Any) -> dict[str, Any]:
    result: dict[str, Any] = copy.deepcopy(dict(defaults()))
    result.update(parts)
    return result


def closed_all_week() -> dict[str, Any]:
    week = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return {"enabled": True, "timezone": "America/Sao_Paulo", "week": week}


def incoming(chat: str, message_id: str, text: str, age: float = 0) -> dict[str, Any]:
    return {"key": {"remoteJid": chat, "id": message_id, "fromMe": False},
            "messageTimestamp": int(time.time() - age), "pushName": "Cliente",
            "message": {"conversation": text}}  # fmt: skip


@contextlib.asynccontextmanager
async def desk(
    tmp_path: Path, online: OnlineAgents | None = None, epoch: str = "memory"
) -> AsyncIterator[tuple[Served, list[tuple[str, Any]]]]:
    """WhatsApp open, users with tokens allowed; the commands the bridge gets, in order."""
    commands: list[tuple[str, Any]] = []

    def bridge(method: str, params: Any) -> Any:
        commands.append((method, params))
        return None

    async with served(
        tmp_path, handler=bridge, epoch=epoch, supabase_jwt_secret=SECRET,
        online_agents=None if online is None else online.online,
    ) as s:  # fmt: skip
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        yield s, commands


async def customer_writes(s: Served, *messages: dict[str, Any], kind: str = "notify") -> None:
    s.bridge.publish("messages.upsert", {"type": kind, "messages": list(messages)})
    await s.applied()
    await s.runtime.default.rules.drain()


def sent_texts(commands: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """(chat, text) of each sendMessage, in order."""
    return [(p[0], p[1]["text"]) for method, p in commands if method == "sendMessage"]


async def make_user(s: Served, role: str, sessions: list[str] | None = None) -> str:
    user_id = str(uuid.uuid4())
    body: dict[str, Any] = {"role": role, "displayName": f"{role} {user_id[:4]}"}
    if sessions is not None:
        body["sessions"] = sessions
    (await s.http.put(f"/admin/profiles/{user_id}", json=body)).raise_for_status()
    return user_id


# ---- the settings document -------------------------------------------------------------------


async def test_the_settings_are_the_defaults_until_an_admin_saves_a_document(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path) as (s, _):
        answer = await s.http.get("/settings")
        assert answer.status_code == 200 and answer.json() == defaults()
        assert answer.json()["businessHours"]["week"]["mon"] == [{"start": "09:00", "end": "18:00"}]
        saved = document(
            businessHours=closed_all_week() | {"week": closed_all_week()["week"] | {
                "mon": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "24:00"}],
            }},
            greeting={"enabled": True, "text": GREETING},
            assignment={"rule": "round_robin"},
        )  # fmt: skip
        put = await s.http.put("/settings", json=saved)
        assert (put.status_code, put.json()) == (200, saved)
        assert (await s.http.get("/settings")).json() == saved
        assert (await s.http.get("/sessions/default/settings")).json() == saved
        [entry] = [
            a for a in (await s.http.get("/activity")).json()["activity"]
            if a["action"] == "settings_changed"
        ]  # fmt: skip
        assert entry["details"] == {"changed": ["businessHours", "greeting", "assignment"]}
        assert entry["actorId"] is None  # the API token
    async with desk(tmp_path, epoch="after-restart") as (s, _):
        assert (await s.http.get("/settings")).json() == saved


async def test_members_read_the_settings_and_only_admins_write_them(tmp_path: Path) -> None:
    async with desk(tmp_path) as (s, _):
        users = {
            "admin": await make_user(s, "admin"),
            "supervisor": await make_user(s, "supervisor"),
            "agent": await make_user(s, "agent"),
            "stranger": await make_user(s, "agent", ["sales"]),
        }
        saved = document(greeting={"enabled": True, "text": GREETING})
        for name, user_id in users.items():
            async with s.client(user_token(user_id)) as client:
                read = await client.get("/settings")
                write = await client.put("/settings", json=saved)
            if name == "stranger":  # not a member of the default session
                assert read.status_code == 403 and read.json()["error"]["code"] == "forbidden"
            else:
                assert read.status_code == 200, name
            if name == "admin":
                assert write.status_code == 200
            else:
                assert write.status_code == 403, name
                assert write.json()["error"]["code"] == "forbidden"
        async with s.client() as anonymous:
            assert (await anonymous.get("/settings")).status_code == 401
        logged = [
            a["actorId"] for a in (await s.http.get("/activity")).json()["activity"]
            if a["action"] == "settings_changed"
        ]  # fmt: skip
        assert logged == [users["admin"]]


def broken(path: str, value: Any) -> dict[str, Any]:
    """The default document with the value at the dotted `path` replaced (None: removed)."""
    result = document()
    *parents, last = path.split(".")
    target = result
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return result


@pytest.mark.parametrize(
    ("path", "value", "code", "words"),
    [
        ("businessHours.timezone", "Mars/Olympus_Mons", "bad_businessHours", "unknown time zone"),
        ("businessHours.timezone", "", "bad_businessHours", "businessHours.timezone"),
        ("businessHours.week.mon", [{"start": "18:00", "end": "09:00"}], "bad_businessHours",
         "start 18:00 is not before end 09:00"),
        ("businessHours.week.tue", [{"start": "09:00", "end": "09:00"}], "bad_businessHours",
         "not before"),
        ("businessHours.week.wed", [{"start": "9:00", "end": "18:00"}], "bad_businessHours",
         "businessHours.week.wed.0.start"),
        ("businessHours.week.thu", [{"start": "09:00", "end": "24:30"}], "bad_businessHours",
         "businessHours.week.thu.0.end"),
        ("businessHours.week.sun", None, "bad_businessHours", "businessHours.week.sun"),
        ("businessHours.week.holiday", [], "bad_businessHours", "businessHours.week.holiday"),
        ("businessHours.enabled", "yes", "bad_businessHours", "businessHours.enabled"),
        ("awayMessage", {"enabled": True, "text": "   "}, "bad_awayMessage", "not be blank"),
        ("awayMessage.text", "x" * 4097, "bad_awayMessage", "awayMessage.text"),
        ("greeting", {"enabled": True, "text": ""}, "bad_greeting", "not be blank"),
        ("greeting.enabled", None, "bad_greeting", "greeting.enabled"),
        ("assignment.rule", "least_busy", "bad_assignment", "assignment.rule"),
        ("assignment", None, "bad_assignment", "assignment"),
    ],
)  # fmt: skip
async def test_a_bad_document_is_refused_with_the_code_of_its_part_and_changes_nothing(
    tmp_path: Path, path: str, value: Any, code: str, words: str
) -> None:
    async with desk(tmp_path) as (s, _):
        answer = await s.http.put("/settings", json=broken(path, value))
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == code and words in error["message"], error
        assert (await s.http.get("/settings")).json() == defaults()


async def test_not_json_or_not_an_object_is_refused(tmp_path: Path) -> None:
    async with desk(tmp_path) as (s, _):
        for body in (b"{", b"[]", b'"settings"'):
            answer = await s.http.put("/settings", content=body)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"


# ---- the rules -------------------------------------------------------------------------------


async def test_a_customers_first_message_gets_the_greeting_once(tmp_path: Path) -> None:
    async with desk(tmp_path) as (s, commands):
        greeting = document(greeting={"enabled": True, "text": GREETING})
        (await s.http.put("/settings", json=greeting)).raise_for_status()
        first, other = CUSTOMERS[0], CUSTOMERS[1]
        await customer_writes(s, incoming(first, "M1", "oi"))
        assert sent_texts(commands) == [(first, GREETING)]
        await customer_writes(s, incoming(first, "M2", "tem alguém aí?"))
        await customer_writes(s, incoming(first, "M1", "oi"))  # the same message again
        # Nor a group, a customer message an hour old, or one from a history sync.
        await customer_writes(s, {**incoming(GROUP, "G1", "oi"),
                                  "key": {"remoteJid": GROUP, "id": "G1", "fromMe": False,
                                          "participant": other}})  # fmt: skip
        await customer_writes(s, incoming(other, "OLD", "ontem", age=3600))
        s.bridge.publish(
            "messaging-history.set",
            {"chats": [], "contacts": [], "isLatest": True,
             "messages": [incoming(CUSTOMERS[2], "H1", "histórico")]},
        )  # fmt: skip
        await s.applied()
        await s.runtime.default.rules.drain()
        assert sent_texts(commands) == [(first, GREETING)]
        # A chat whose customer wrote before (the old message) is not new: no greeting.
        await customer_writes(s, incoming(other, "NOW", "oi de novo"))
        assert sent_texts(commands) == [(first, GREETING)]
        [send] = [p for method, p in commands if method == "sendMessage"]
        [logged] = [
            a for a in (await s.http.get("/activity")).json()["activity"]
            if a["action"] == "auto_reply_sent"
        ]  # fmt: skip
        assert logged["chatId"] == first and logged["actorId"] is None
        assert logged["details"] == {"rule": "greeting", "messageId": send[2]["messageId"]}
        rules = s.runtime.default.rules.stats
        assert (rules.replies["greeting"], rules.stale) == (1, 1)


async def test_outside_business_hours_the_away_message_goes_once_per_conversation(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path) as (s, commands):
        away = document(
            businessHours=closed_all_week(),
            awayMessage={"enabled": True, "text": AWAY},
            greeting={"enabled": True, "text": GREETING},
        )
        (await s.http.put("/settings", json=away)).raise_for_status()
        chat = CUSTOMERS[3]
        await customer_writes(s, incoming(chat, "A1", "oi"), incoming(chat, "A2", "alô?"))
        await customer_writes(s, incoming(chat, "A3", "???"))
        assert sent_texts(commands) == [(chat, GREETING), (chat, AWAY)]
        # Open all week: no away message for a new customer, only the greeting.
        always = closed_all_week() | {"week": {day: [{"start": "00:00", "end": "24:00"}]
                                               for day in closed_all_week()["week"]}}  # fmt: skip
        (await s.http.put("/settings", json=away | {"businessHours": always})).raise_for_status()
        await customer_writes(s, incoming(CUSTOMERS[4], "B1", "oi"))
        assert sent_texts(commands)[2:] == [(CUSTOMERS[4], GREETING)]


async def test_round_robin_gives_unassigned_chats_to_the_agents_online_in_turn(
    tmp_path: Path,
) -> None:
    online = OnlineAgents()
    async with desk(tmp_path, online) as (s, commands):
        ana, bruno = sorted([await make_user(s, "agent"), await make_user(s, "agent")])
        stranger = await make_user(s, "agent", ["sales"])  # online, but not in this session
        rotating = document(assignment={"rule": "round_robin"})
        (await s.http.put("/settings", json=rotating)).raise_for_status()

        await customer_writes(s, incoming(CUSTOMERS[0], "R0", "oi"))  # nobody online
        assert (await s.http.get(f"/chats/{CUSTOMERS[0]}")).json()["assignment"] is None

        online.users = [bruno, stranger, ana]
        for n in range(4):
            await customer_writes(s, incoming(CUSTOMERS[n], f"R{n}-b", "oi"))
        taken = [
            (await s.http.get(f"/chats/{c}")).json()["assignment"]["agentId"] for c in CUSTOMERS[:4]
        ]
        assert taken == [ana, bruno, ana, bruno]
        # An assigned chat stays with its agent.
        await customer_writes(s, incoming(CUSTOMERS[0], "R0-c", "ainda aí?"))
        assert (await s.http.get(f"/chats/{CUSTOMERS[0]}")).json()["assignment"]["agentId"] == ana
        assigned = [
            a for a in (await s.http.get("/activity")).json()["activity"]
            if a["action"] == "chat_assigned"
        ]  # fmt: skip
        assert len(assigned) == 4 and all(a["actorId"] is None for a in assigned)
        assert {a["details"]["rule"] for a in assigned} == {"round_robin"}
        assert sent_texts(commands) == []  # assignment sends nothing
        online.users = [ana]  # bruno went offline: ana again
        await customer_writes(s, incoming(CUSTOMERS[4], "R4", "oi"))
        assert (await s.http.get(f"/chats/{CUSTOMERS[4]}")).json()["assignment"]["agentId"] == ana

    # After a restart the rotation goes on where it stopped (ana last): bruno next.
    online.users = [ana, bruno]
    async with desk(tmp_path, online, epoch="after-restart") as (s, _):
        await customer_writes(s, incoming(CUSTOMERS[5], "R5", "oi"))
        await customer_writes(s, incoming(CUSTOMERS[6], "R6", "oi"))
        taken = [
            (await s.http.get(f"/chats/{c}")).json()["assignment"]["agentId"]
            for c in CUSTOMERS[5:7]
        ]
        assert taken == [bruno, ana]


async def test_an_assignment_by_round_robin_is_announced_on_the_streams(tmp_path: Path) -> None:
    online = OnlineAgents()
    async with desk(tmp_path, online) as (s, _):
        agent = await make_user(s, "agent")
        online.users = [agent]
        (await s.http.put("/settings", json=document(assignment={"rule": "round_robin"})))
        since = (await s.http.get("/events/poll")).json()["lastEventId"]
        await customer_writes(s, incoming(CUSTOMERS[7], "S1", "oi"))
        envelopes = (await s.http.get("/events/poll", params={"since": since})).json()["events"]
        changed = [e["data"] for e in envelopes if e["type"] == "assignment_changed"]
        assert [c["chatId"] for c in changed] == [CUSTOMERS[7]]
        assert changed[0]["assignment"]["agentId"] == agent
        assert changed[0]["assignment"]["assignedBy"] is None


async def test_with_whatsapp_not_connected_a_reply_is_not_sent_and_counted(
    tmp_path: Path,
) -> None:
    async with desk(tmp_path) as (s, commands):
        greeting = document(greeting={"enabled": True, "text": GREETING})
        (await s.http.put("/settings", json=greeting)).raise_for_status()
        s.bridge.publish("connection.update", {"connection": "close"})
        await customer_writes(s, incoming(CUSTOMERS[1], "N1", "oi"))
        assert sent_texts(commands) == []
        assert s.runtime.default.rules.stats.failures == 1
        metrics = (await s.http.get("/metrics")).text
        assert 'wa_rule_failures_total{session="default"} 1.0' in metrics


async def test_each_session_has_its_own_settings(tmp_path: Path) -> None:
    async with desk(tmp_path) as (s, _):
        bridge = {"pub": f"ipc://{tmp_path}/sales-pub", "router": f"ipc://{tmp_path}/sales-router"}
        (await s.http.post("/sessions", json={"id": "sales", "bridge": bridge})).raise_for_status()
        seller = await make_user(s, "agent", ["sales"])
        sales = document(greeting={"enabled": True, "text": "Vendas: olá!"})
        put = await s.http.put("/sessions/sales/settings", json=sales)
        assert (put.status_code, put.json()) == (200, sales)
        assert (await s.http.get("/settings")).json() == defaults()
        async with s.client(user_token(seller)) as client:
            assert (await client.get("/sessions/sales/settings")).json() == sales
            assert (await client.get("/settings")).status_code == 403
        missing = await s.http.get("/sessions/nowhere/settings")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "session_not_found")
        (await s.http.delete("/sessions/sales", params={"purge": "true"})).raise_for_status()
        (await s.http.post("/sessions", json={"id": "sales", "bridge": bridge})).raise_for_status()
        assert (await s.http.get("/sessions/sales/settings")).json() == defaults()  # purged
