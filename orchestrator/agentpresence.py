"""Agent presence: which helpdesk users are online (hold a stream connection) and who views or
types in which chat. RAM only, never stored: it is true only while it lasts, and each replica
knows the clients connected to it.

Online: a user holds at least one SSE or WebSocket stream, or long-polled within the last
`poll_linger` seconds (a poll client is between two polls most of the time). Connections are
counted: a user with two tabs stays online until both close. The API token is no user: its
streams count for nobody.

Activity, per user and chat: `viewing` lapses after `viewing_lapse` seconds and `typing` after
`typing_lapse` unless posted again (a client refreshes them while they hold); typing implies
viewing, so a lapsed typing leaves the user viewing; `idle` ends both.

Every change goes out as an `agent_presence` envelope on the ephemeral feed: going online or
offline once per session the user may use (chatId null), a chat's state once in its session
(the streams show it to whoever may see that chat). Mere refreshes announce nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.ephemeral import Item
from orchestrator.errors import Code, Forbidden
from orchestrator.principal import Principal

log = logging.getLogger("orchestrator.agentpresence")

TYPING_LAPSE = 6.0
VIEWING_LAPSE = 60.0
POLL_LINGER = 25.0  # the client's default poll timeout: it is back by then if it is there

Key = tuple[str, str]  # (session, chat id)


@dataclass(slots=True)
class _Activity:
    viewing_until: float = 0.0
    typing_until: float = 0.0
    timer: asyncio.TimerHandle | None = None

    def state(self, now: float) -> s.AgentState | None:
        if self.typing_until > now:
            return "typing"
        if self.viewing_until > now:
            return "viewing"
        return None

    def next_change(self, now: float) -> float | None:
        pending = [t for t in (self.typing_until, self.viewing_until) if t > now]
        return min(pending) if pending else None


class AgentPresence:
    """`publish` puts envelopes on the ephemeral feed; `sessions` lists the sessions that
    exist; `may_use(user id, session)` and `name(user id)` read the helpdesk profiles (so a
    membership changed since the user signed in counts)."""

    def __init__(
        self,
        publish: Callable[[Iterable[Item]], None],
        *,
        sessions: Callable[[], Collection[str]],
        may_use: Callable[[str, str], bool],
        name: Callable[[str], str | None],
        typing_lapse: float = TYPING_LAPSE,
        viewing_lapse: float = VIEWING_LAPSE,
        poll_linger: float = POLL_LINGER,
    ) -> None:
        self._publish = publish
        self._sessions = sessions
        self._may_use = may_use
        self._name = name
        self.typing_lapse = typing_lapse
        self.viewing_lapse = viewing_lapse
        self.poll_linger = poll_linger
        # User id -> open connections; insertion order is the order they came online.
        self._connections: dict[str, int] = {}
        self._activity: dict[str, dict[Key, _Activity]] = {}

    # ---- reading ------------------------------------------------------------------------

    def is_online(self, user_id: str) -> bool:
        return user_id in self._connections

    def online(self, session: str) -> list[str]:
        """The user ids of the online agents who may use `session`, in the order they came
        online (what round-robin assignment picks from)."""
        return [user for user in self._connections if self._may_use(user, session)]

    def activity(self, user_id: str, session: str) -> list[tuple[str, s.AgentState]]:
        """(chat id, state) of what the user does in the session's chats now."""
        now = _now()
        found = []
        for (key_session, chat_id), activity in self._activity.get(user_id, {}).items():
            state = activity.state(now)
            if key_session == session and state is not None:
                found.append((chat_id, state))
        return found

    def snapshot(self) -> Iterator[Item]:
        """The state now as envelopes: what a client that just connected is told first."""
        for user in self._connections:
            yield from self._whole(user, True)
        now = _now()
        for user, chats in self._activity.items():
            for (session, chat_id), activity in chats.items():
                state = activity.state(now)
                if state is not None:
                    yield session, "agent_presence", chat_id, self._data(user, chat_id, state)

    # ---- connections --------------------------------------------------------------------

    @contextlib.contextmanager
    def connected(self, principal: Principal) -> Iterator[None]:
        """Held for as long as a stream (SSE, WebSocket) is connected."""
        user = principal.user_id
        if user is None:
            yield
            return
        self._open(user)
        try:
            yield
        finally:
            self._close(user)

    @contextlib.contextmanager
    def polling(self, principal: Principal) -> Iterator[None]:
        """Held for a long-poll and `poll_linger` seconds after it."""
        user = principal.user_id
        if user is None:
            yield
            return
        self._open(user)
        try:
            yield
        finally:
            asyncio.get_running_loop().call_later(self.poll_linger, self._close, user)

    def _open(self, user: str) -> None:
        count = self._connections.get(user, 0)
        self._connections[user] = count + 1
        if count == 0:
            log.info("agent %s online", user)
            self._publish(self._whole(user, True))

    def _close(self, user: str) -> None:
        count = self._connections.get(user, 0) - 1
        if count > 0:
            self._connections[user] = count
            return
        self._connections.pop(user, None)
        for activity in self._activity.pop(user, {}).values():
            if activity.timer is not None:
                activity.timer.cancel()
        log.info("agent %s offline", user)
        self._publish(self._whole(user, False))

    # ---- activity -----------------------------------------------------------------------

    def set(self, user: str, session: str, chat_id: str, state: str) -> s.AgentState | None:
        """Record what the user does in the chat now; announce it when it changed."""
        now = _now()
        chats = self._activity.setdefault(user, {})
        key = (session, chat_id)
        activity = chats.get(key) or _Activity()
        before = activity.state(now)
        if state == "idle":
            activity.viewing_until = activity.typing_until = 0.0
        else:
            activity.viewing_until = now + self.viewing_lapse
            activity.typing_until = now + self.typing_lapse if state == "typing" else 0.0
        chats[key] = activity
        after = self._reschedule(user, key, activity, now)
        if after != before:
            self._announce(user, session, chat_id, after)
        return after

    def _reschedule(
        self, user: str, key: Key, activity: _Activity, now: float
    ) -> s.AgentState | None:
        if activity.timer is not None:
            activity.timer.cancel()
            activity.timer = None
        at = activity.next_change(now)
        if at is None:
            self._forget(user, key)
            return None
        loop = asyncio.get_running_loop()
        # A little after the deadline: the state read then has surely moved on.
        activity.timer = loop.call_at(at + 0.001, self._lapsed, user, key)
        return activity.state(now)

    def _lapsed(self, user: str, key: Key) -> None:
        activity = self._activity.get(user, {}).get(key)
        if activity is None:
            return
        now = _now()
        state = self._reschedule(user, key, activity, now)
        self._announce(user, key[0], key[1], state)

    def _forget(self, user: str, key: Key) -> None:
        chats = self._activity.get(user)
        if chats is not None:
            chats.pop(key, None)
            if not chats:
                del self._activity[user]

    # ---- envelopes ----------------------------------------------------------------------

    def _whole(self, user: str, online: bool) -> list[Item]:
        data = {**self._data(user, None, None), "online": online}
        return [
            (session, "agent_presence", None, data)
            for session in self._sessions()
            if self._may_use(user, session)
        ]

    def _announce(self, user: str, session: str, chat_id: str, state: s.AgentState | None) -> None:
        self._publish([(session, "agent_presence", chat_id, self._data(user, chat_id, state))])

    def _data(self, user: str, chat_id: str | None, state: s.AgentState | None) -> s.AgentPresence:
        return {
            "userId": user,
            "name": self._name(user),
            "online": self.is_online(user),
            "chatId": chat_id,
            "state": state,
        }


def _now() -> float:
    return asyncio.get_running_loop().time()


class AgentPresenceApi:
    """`POST /chats/{chatId}/agent-presence`, on any session (`call.session`). `chat_id`
    resolves a chat the caller may see, as the stream routes do (refusals raised)."""

    def __init__(
        self, presence: AgentPresence, chat_id: Callable[[str, str, Principal], str]
    ) -> None:
        self.presence = presence
        self._chat_id = chat_id

    async def set_state(self, call: Call[s.AgentPresenceBody]) -> s.AgentPresenceSet:
        principal = call.user
        chat_id = self._chat_id(call.session, call.path("chatId"), principal)
        if principal.user_id is None:
            raise Forbidden(
                Code.FORBIDDEN, "the API token is no agent: sign in as a user to show presence"
            )
        state = self.presence.set(principal.user_id, call.session, chat_id, call.body["state"])
        return {"chatId": chat_id, "state": state}
