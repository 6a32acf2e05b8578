"""The route table, the shapes and the HTTP layer, in-process (tests/inprocess.py): what the
contract promises about itself, how bodies are refused, and group participants from the raw
events to the API and the streams."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest

from orchestrator import errors
from orchestrator.errors import ApiError, Code
from orchestrator.openapi import document
from orchestrator.routes import OPERATIONS, all_errors, body_field_code
from orchestrator.shapes import EVENT_DATA, EventType
from orchestrator.typescript import GENERATED_FILES, REPO, declarations
from tests.inprocess import served

pytestmark = pytest.mark.anyio

GROUP = "120363000000000001@g.us"
ANA, BIA, CAIO = (f"55119000000{n}@s.whatsapp.net" for n in ("01", "02", "03"))


# ---- the contract about itself --------------------------------------------------------------


def test_the_stream_event_types_are_listed_once() -> None:
    assert list(EVENT_DATA) == list(get_args(EventType))


def test_the_error_tree_is_drawn_in_its_docstring() -> None:
    doc = errors.__doc__ or ""
    classes = [
        name for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.OrchestratorError)
    ]  # fmt: skip
    drawn = re.findall(r"[├└]── (\w+)", doc)
    assert sorted(drawn) == sorted(set(classes) - {"OrchestratorError"})


def test_the_js_clients_types_are_generated_from_the_document() -> None:
    """The npm package's source (clients/js/src/wa-api.ts) and the console's copy."""
    generated = declarations(document())
    assert {str(path.relative_to(REPO)) for path in GENERATED_FILES} == {
        "clients/js/src/wa-api.ts",
        "orchestrator/static/wa-api.d.ts",
    }
    for path in GENERATED_FILES:
        assert path.read_text() == generated, f"{path}: run `make types` and commit the result"


def test_the_readme_names_every_operation() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()

    def template(text: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", text)

    missing = [
        f"{op.method} {op.path}"
        for op in OPERATIONS
        if f"{op.method} {template(op.path)}" not in template(readme)
    ]
    assert missing == []


def test_every_body_field_has_an_error_code_and_every_code_a_status() -> None:
    for op in OPERATIONS:
        if op.body is not None:
            for field in op.body.__annotations__:
                assert isinstance(body_field_code(field), Code), (op.name, field)
    assert all(400 <= code.status < 600 for code in Code)
    assert len({code.value for code in Code}) == len(Code)


def test_a_refusal_carries_a_code_of_its_own_status_only() -> None:
    errors.NotFound(Code.CHAT_NOT_FOUND, "fine")
    with pytest.raises(TypeError):
        errors.NotFound(Code.BAD_LIMIT, "a 400 code on a 404 class")
    assert ApiError(Code.BAD_LIMIT, "x").code.status == 400


def test_every_operation_documents_its_credential_refusals() -> None:
    for op in OPERATIONS:
        codes = all_errors(op)
        if op.access.name == "PUBLIC":
            assert Code.UNAUTHORIZED not in codes, op.name
        else:
            assert {Code.UNAUTHORIZED, Code.NO_PROFILE, Code.TOO_MANY_FAILURES} <= set(codes)


# ---- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/tags", b"{", "invalid_json"),
        ("/tags", b"[1]", "invalid_json"),
        ("/tags", b"{}", "bad_name"),
        ("/tags", b'{"name": "   "}', "bad_name"),
        ("/tags", b'{"name": "x", "color": 5}', "bad_color"),
        ("/tags", b'{"name": "' + b"x" * 51 + b'"}', "bad_name"),
        ("/send", b'{"text": "hi"}', "invalid_chat_id"),
        ("/send", b'{"chatId": "5511900000001", "media": {"type": "gif"}}', "bad_media"),
        ("/send", b'{"chatId": "5511900000001", "quotedId": 7}', "bad_quotedId"),
        ("/send", b'{"chatId": "5511900000001", "reaction": {"emoji": "x"}}', "bad_reaction"),
        ("/admin/pairing-code", b'{"phone": 5511}', "invalid_phone"),
    ],
)
async def test_a_body_is_refused_with_the_code_of_the_field_at_fault(
    tmp_path: Path, path: str, body: bytes, code: str
) -> None:
    async with served(tmp_path) as s:
        response = await s.http.post(path, content=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == code, error


async def test_types_are_not_coerced_and_strings_are_trimmed(tmp_path: Path) -> None:
    async with served(tmp_path) as s:
        s.bridge.publish("chats.upsert", [{"id": ANA, "conversationTimestamp": 1}])
        await s.applied()
        tag = (await s.http.post("/tags", json={"name": "  vip  "})).json()
        assert tag["name"] == "vip"
        for tag_id in (str(tag["id"]), True, 1.0):
            response = await s.http.post(f"/chats/{ANA}/tags", json={"tagId": tag_id})
            assert response.json()["error"]["code"] == "bad_tagId", tag_id
        assert (await s.http.post(f"/chats/{ANA}/tags", json={"tagId": tag["id"]})).is_success


async def test_a_body_over_the_limit_is_413(tmp_path: Path) -> None:
    async with served(tmp_path, media_max_bytes=1000) as s:
        limit = s.runtime.settings.max_body_bytes
        response = await s.http.post("/tags", content=b" " * (limit + 1))
        assert (response.status_code, response.json()["error"]["code"]) == (413, "body_too_large")


# ---- group participants ---------------------------------------------------------------------


def group_metadata(participants: list[dict[str, Any]]) -> dict[str, Any]:
    """A Baileys 7 GroupMetadata as the bridge encodes it."""
    return {"id": GROUP, "subject": "Support team", "owner": ANA, "participants": participants}


async def test_group_participants_and_their_roles_reach_the_api_and_the_streams(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as s:
        s.bridge.publish("chats.upsert", [{"id": ANA, "conversationTimestamp": 1}])
        s.bridge.publish(
            "groups.upsert",
            [group_metadata([{"id": ANA, "admin": "superadmin"}, {"id": BIA, "admin": None}])],
        )
        await s.applied()
        chat = (await s.http.get(f"/chats/{GROUP}")).json()
        assert chat["isGroup"] and chat["participants"] == [
            {"id": ANA, "admin": "superadmin"},
            {"id": BIA, "admin": None},
        ]
        assert (await s.http.get(f"/chats/{ANA}")).json()["participants"] is None

        since = (await s.http.get("/events/poll")).json()["lastEventId"]
        s.bridge.publish(
            "group-participants.update",
            {"id": GROUP, "author": ANA, "participants": [{"id": BIA}], "action": "promote"},
        )
        s.bridge.publish(
            "group-participants.update",
            {"id": GROUP, "author": ANA, "participants": [{"id": CAIO}], "action": "add"},
        )
        await s.applied()
        events = (await s.http.get("/events/poll", params={"since": since, "timeout": 0})).json()[
            "events"
        ]
        updates = [e["data"]["participants"] for e in events if e["type"] == "chat_update"]
        assert updates == [
            [{"id": ANA, "admin": "superadmin"}, {"id": BIA, "admin": "admin"}],
            [
                {"id": ANA, "admin": "superadmin"},
                {"id": BIA, "admin": "admin"},
                {"id": CAIO, "admin": None},
            ],
        ]
        assert (await s.http.get(f"/chats/{GROUP}")).json()["participants"] == updates[-1]
