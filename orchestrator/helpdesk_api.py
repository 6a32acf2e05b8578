"""REST routes for the helpdesk metadata: assignments, tags, notes, quick replies, activity,
profiles. Permission rules live in `helpdesk`; this module maps them to HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.api import Api, ApiError, page_limit, principal_of
from orchestrator.errors import ConflictError, StoreError
from orchestrator.helpdesk import Forbidden, Helpdesk, NotFound
from orchestrator.principal import ROLES

MAX_NOTE = 10_000


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ApiError(400, f"bad_{name}", f"{name}: a non-empty string of at most {limit} chars")
    return value.strip()


def _int_param(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):  # fits a 64-bit id
        raise ApiError(400, f"bad_{name}", f"{name} must be a positive integer")
    return int(raw)


def _translating(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """The helpdesk's refusals and the store's failures as API errors."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except Forbidden as exc:
            raise ApiError(403, "forbidden", str(exc)) from None
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except ConflictError as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        except StoreError as exc:
            raise ApiError(503, "store_unavailable", str(exc)) from None

    return run


class HelpdeskApi:
    def __init__(self, helpdesk: Helpdesk, api: Api) -> None:
        self.helpdesk = helpdesk
        self.api = api

    async def assign(self, request: Request) -> Response:
        principal = principal_of(request)
        chat_id = self.api.chat_id(request.path_params["chat_id"], principal)
        body = await self.api.json_body(request)
        agent_id = _text(body, "agentId", 100)
        assert agent_id is not None
        assignment = await self.helpdesk.assign(principal, chat_id, agent_id)
        return JSONResponse({"chatId": chat_id, "assignment": assignment})

    async def unassign(self, request: Request) -> Response:
        principal = principal_of(request)
        chat_id = self.api.chat_id(request.path_params["chat_id"], principal)
        await self.helpdesk.unassign(principal, chat_id)
        return JSONResponse({"chatId": chat_id, "assignment": None})

    async def tags(self, request: Request) -> Response:
        return JSONResponse({"tags": self.helpdesk.tags()})

    async def create_tag(self, request: Request) -> Response:
        body = await self.api.json_body(request)
        name = _text(body, "name", 50)
        color = _text(body, "color", 20, required=False)
        assert name is not None
        tag = await self.helpdesk.create_tag(principal_of(request), name, color)
        return JSONResponse(tag, status_code=201)

    async def tag_chat(self, request: Request) -> Response:
        principal = principal_of(request)
        chat_id = self.api.chat_id(request.path_params["chat_id"], principal)
        body = await self.api.json_body(request)
        tag_id = body.get("tagId")
        if type(tag_id) is not int:
            raise ApiError(400, "bad_tagId", "tagId must be an integer")
        await self.helpdesk.set_tag(principal, chat_id, tag_id, True)
        return JSONResponse({"chatId": chat_id, "tags": self.helpdesk.chat_extras(chat_id)["tags"]})

    async def untag_chat(self, request: Request) -> Response:
        principal = principal_of(request)
        chat_id = self.api.chat_id(request.path_params["chat_id"], principal)
        await self.helpdesk.set_tag(principal, chat_id, _int_param(request, "tag_id"), False)
        return JSONResponse({"chatId": chat_id, "tags": self.helpdesk.chat_extras(chat_id)["tags"]})

    async def notes(self, request: Request) -> Response:
        chat_id = self.api.chat_id(request.path_params["chat_id"], principal_of(request))
        return JSONResponse({"notes": await self.helpdesk.notes(chat_id)})

    async def add_note(self, request: Request) -> Response:
        principal = principal_of(request)
        chat_id = self.api.chat_id(request.path_params["chat_id"], principal)
        body = await self.api.json_body(request)
        text = _text(body, "body", MAX_NOTE)
        assert text is not None
        return JSONResponse(await self.helpdesk.add_note(principal, chat_id, text), status_code=201)

    async def quick_replies(self, request: Request) -> Response:
        return JSONResponse({"quickReplies": await self.helpdesk.quick_replies()})

    async def save_quick_reply(self, request: Request) -> Response:
        body = await self.api.json_body(request)
        shortcut, text = _text(body, "shortcut", 50), _text(body, "body", MAX_NOTE)
        assert shortcut is not None and text is not None
        reply_id = _int_param(request, "reply_id") if "reply_id" in request.path_params else None
        saved = await self.helpdesk.save_quick_reply(
            principal_of(request), reply_id, shortcut, text
        )
        return JSONResponse(saved, status_code=201 if reply_id is None else 200)

    async def delete_quick_reply(self, request: Request) -> Response:
        await self.helpdesk.delete_quick_reply(
            principal_of(request), _int_param(request, "reply_id")
        )
        return Response(status_code=204)

    async def activity(self, request: Request) -> Response:
        principal = principal_of(request)
        if not principal.is_staff:
            raise ApiError(403, "forbidden", "the activity log is for admins and supervisors")
        chat = request.query_params.get("chatId")
        chat_id = None if chat is None else self.api.chat_id(chat, principal)
        rows = await self.helpdesk.store.activity(chat_id, page_limit(request))
        return JSONResponse({"activity": [_activity_json(r) for r in rows]})

    async def save_profile(self, request: Request) -> Response:
        body = await self.api.json_body(request)
        role = body.get("role")
        if role not in ROLES:
            raise ApiError(400, "bad_role", f"role must be one of {list(ROLES)}")
        name = _text(body, "displayName", 100, required=False)
        user_id = request.path_params["user_id"]
        if len(user_id) > 100:
            raise ApiError(400, "bad_user_id", "user id too long")
        profile = await self.helpdesk.save_profile(principal_of(request), user_id, name, role)
        return JSONResponse(profile)


def _activity_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "actorId": row.get("actor_id"),
        "action": row["action"],
        "chatId": row.get("chat_id"),
        "details": row.get("details"),
        "createdAt": str(row["created_at"]),
    }


def helpdesk_routes(h: HelpdeskApi) -> list[Route]:
    t = _translating
    return [
        Route("/chats/{chat_id}/assignment", t(h.assign), methods=["PUT"]),
        Route("/chats/{chat_id}/assignment", t(h.unassign), methods=["DELETE"]),
        Route("/chats/{chat_id}/tags", t(h.tag_chat), methods=["POST"]),
        Route("/chats/{chat_id}/tags/{tag_id}", t(h.untag_chat), methods=["DELETE"]),
        Route("/chats/{chat_id}/notes", t(h.notes), methods=["GET"]),
        Route("/chats/{chat_id}/notes", t(h.add_note), methods=["POST"]),
        Route("/tags", t(h.tags), methods=["GET"]),
        Route("/tags", t(h.create_tag), methods=["POST"]),
        Route("/quick-replies", t(h.quick_replies), methods=["GET"]),
        Route("/quick-replies", t(h.save_quick_reply), methods=["POST"]),
        Route("/quick-replies/{reply_id}", t(h.save_quick_reply), methods=["PUT"]),
        Route("/quick-replies/{reply_id}", t(h.delete_quick_reply), methods=["DELETE"]),
        Route("/activity", t(h.activity), methods=["GET"]),
    ]
