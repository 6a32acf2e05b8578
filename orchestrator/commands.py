"""The bridge's commands, each named once: its parameters, its timeout, whether it is safe to
repeat, and what the API answers when it fails. Nothing else in the orchestrator spells a
bridge method name; the wire format is `transport`'s, the whitelist is the bridge's
(`bridge-node/src/commands.js`).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from orchestrator.errors import Code, CommandError
from orchestrator.transport import CommandChannel
from orchestrator.wire import Position

# The codes with which the bridge says WhatsApp is not there to ask.
OFFLINE = frozenset({"not_connected", "replay_mode"})


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    timeout: float | None = None  # None: the channel's default (ORCH_COMMAND_TIMEOUT)
    idempotent: bool = False  # retried on timeout
    failure: Code = Code.BRIDGE_ERROR  # what the API answers when it fails
    offline: Code = Code.NOT_CONNECTED  # ... and when WhatsApp is not connected


REPLAY = Method("replay", idempotent=True)
CONNECT = Method("connect")
DISCONNECT = Method("disconnect")
LOGOUT = Method("logout")
SEND_MESSAGE = Method("sendMessage", timeout=120.0)
READ_MESSAGES = Method("readMessages", timeout=30.0)
PROFILE_PICTURE = Method("profilePictureUrl", idempotent=True)
GROUP_METADATA = Method("groupMetadata", idempotent=True)
DOWNLOAD_MEDIA = Method(
    "downloadMedia",
    timeout=120.0,
    failure=Code.MEDIA_UNAVAILABLE,
    offline=Code.MEDIA_UNAVAILABLE,  # replayed photos exist only on WhatsApp's servers
)
PAIRING_CODE = Method("requestPairingCode")
CHAT_MODIFY = Method("chatModify", timeout=30.0)  # an app-state patch: resync, encode, send
REJECT_CALL = Method("rejectCall", timeout=30.0)
# Chat states are worth nothing late: a short timeout, and never repeated.
SEND_PRESENCE = Method("sendPresenceUpdate", timeout=10.0)
PRESENCE_SUBSCRIBE = Method("presenceSubscribe", timeout=10.0)
STATE = Method("state", idempotent=True)

METHODS = {
    m.name: m
    for m in (
        REPLAY, CONNECT, DISCONNECT, LOGOUT, SEND_MESSAGE, READ_MESSAGES,
        PROFILE_PICTURE, GROUP_METADATA, DOWNLOAD_MEDIA, PAIRING_CODE, REJECT_CALL,
        SEND_PRESENCE, PRESENCE_SUBSCRIBE, STATE,
    )
}  # fmt: skip


def new_message_id() -> str:
    """An id for a message we send, in WhatsApp Web's form (3EB0 + 20 hex digits). We choose it
    (sendMessage's `messageId`) so the API's answer, the stream and the bridge's
    bridge.send_failed all name the same message."""
    return "3EB0" + secrets.token_hex(10).upper()


def refusal(exc: CommandError) -> Code:
    """The API's code for a failed command."""
    method = METHODS.get(exc.method, Method(exc.method))
    return method.offline if exc.code in OFFLINE else method.failure


class ReplayPage(TypedDict):
    events: list[Any]  # raw envelopes, parsed by the follower
    more: bool


class Bridge:
    """Typed calls over a command channel. Raises CommandError (CommandTimeout) and
    TransportError, as the channel does.

    `refuse` says why the bridge at the channel's end is not ours (BridgeFollower.wrong_bridge):
    then every command but `state` (which is how that is found out) fails with `wrong_bridge`,
    so nothing is sent, read or logged out on another orchestrator's WhatsApp."""

    def __init__(
        self, channel: CommandChannel, refuse: Callable[[], str | None] = lambda: None
    ) -> None:
        self._channel = channel
        self._refuse = refuse

    async def _call(self, method: Method, params: Any = None, timeout: float | None = None) -> Any:
        if method is not STATE and (why := self._refuse()) is not None:
            raise CommandError(method.name, "wrong_bridge", why)
        if method.idempotent and timeout is None:
            return await self._channel.call_idempotent(method.name, params)
        return await self._channel.call(method.name, params, timeout=timeout or method.timeout)

    # ---- following the event stream ------------------------------------------------------

    async def replay(
        self,
        after: Position | None,
        limit: int,
        *,
        until: Position | None = None,
        timeout: float | None = None,
    ) -> ReplayPage:
        """Events after `after` (None: from the oldest held), up to `limit`, stopping before
        `until`. CommandError `position_gone` (with `oldest`) when `after` is no longer held.
        A `timeout` makes it one attempt with that timeout instead of retried ones."""
        params: dict[str, Any] = {
            "epoch": after.epoch if after else None,
            "seq": after.seq if after else 0,
            "limit": limit,
        }
        # Only the JetStream transport knows stream sequences (the bridge ignores the key).
        if after is not None and after.stream is not None:
            params["stream"] = after.stream
        if until is not None:
            params["until"] = {"epoch": until.epoch, "seq": until.seq}
            if until.stream is not None:
                params["until"]["stream"] = until.stream
        result = await self._call(REPLAY, params, timeout)
        if not isinstance(result, dict):
            raise CommandError(REPLAY.name, "bad_result", "replay answered no page")
        return {"events": list(result.get("events") or []), "more": bool(result.get("more"))}

    # ---- the WhatsApp connection ---------------------------------------------------------

    async def state(self, *, timeout: float | None = None) -> dict[str, Any]:
        """What the bridge knows now: who it is, its position, its WhatsApp connection, the
        account. A `timeout` makes it one attempt with that timeout instead of retried ones."""
        answer = await self._call(STATE, timeout=timeout)
        if not isinstance(answer, dict):
            raise CommandError(STATE.name, "bad_result", "state answered no object")
        return answer

    async def connect(self) -> None:
        await self._call(CONNECT)

    async def disconnect(self) -> None:
        await self._call(DISCONNECT)

    async def logout(self, *, wipe: bool) -> None:
        """Log out; `wipe` deletes the credentials, so that a new QR follows."""
        await self._call(LOGOUT, {"wipe": wipe})

    async def request_pairing_code(self, phone: str) -> str:
        return str(await self._call(PAIRING_CODE, [phone]))

    # ---- messages ------------------------------------------------------------------------

    async def send_message(
        self, jid: str, content: dict[str, Any], options: dict[str, Any]
    ) -> None:
        await self._call(SEND_MESSAGE, [jid, content, options])

    async def read_messages(self, keys: list[dict[str, Any]]) -> None:
        await self._call(READ_MESSAGES, [keys])

    async def chat_modify(self, mod: dict[str, Any], jid: str) -> None:
        await self._call(CHAT_MODIFY, [mod, jid])

    async def download_media(self, raw_message: Any) -> bytes:
        """The decrypted bytes of a message's media (`raw_message` as the bridge encoded it)."""
        result = await self._call(DOWNLOAD_MEDIA, [raw_message])
        try:
            return base64.b64decode(result["$bytes"])
        except (KeyError, TypeError, binascii.Error):
            raise CommandError(
                DOWNLOAD_MEDIA.name, "bad_result", "no bytes in the answer"
            ) from None

    async def reject_call(self, call_id: str, caller: str) -> None:
        """Decline a ringing call (the `call` event's `id` and `from`). The bridge publishes
        `bridge.call_rejected` once it went out."""
        await self._call(REJECT_CALL, [call_id, caller])

    # ---- presence ------------------------------------------------------------------------

    async def send_presence(self, state: str, jid: str | None) -> None:
        """A chat state to `jid`, or (jid None) the account-wide available/unavailable."""
        await self._call(SEND_PRESENCE, [state] if jid is None else [state, jid])

    async def presence_subscribe(self, jid: str) -> None:
        await self._call(PRESENCE_SUBSCRIBE, [jid])

    # ---- people and groups ---------------------------------------------------------------

    async def profile_picture_url(self, jid: str) -> str | None:
        """None when there is none, or it is hidden from us (WhatsApp answers 401/404)."""
        try:
            url = await self._call(PROFILE_PICTURE, [jid, "image"])
        except CommandError as exc:
            if exc.code == "failed":
                return None
            raise
        return url if isinstance(url, str) else None

    async def group_exists(self, jid: str) -> bool:
        """Whether WhatsApp knows the group (its metadata can be fetched)."""
        try:
            await self._call(GROUP_METADATA, [jid])
        except CommandError as exc:
            if exc.code == "failed":
                return False
            raise
        return True
