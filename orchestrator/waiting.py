"""Messages Baileys could not decrypt (type `waiting`), across chats, in RAM or not.

A waiting message's content may arrive much later (after a retry receipt, or from the phone
through a placeholder resend), when RAM's window of its chat no longer holds it, or after a
restart. So every waiting message is indexed here, whatever the window holds: the state finds
it to resolve it in place, `/metrics` counts them and `GET /waiting-messages` lists them.
They are few (a failed decryption is rare and most resolve within seconds), so the index keeps
them whole, and counting or listing walks it.

A waiting message that was revoked stays indexed (deleted): its content arriving later must
not bring it back. An edit gives it text: it is no longer waiting (see `with_edit`).
"""

from __future__ import annotations

import dataclasses
import heapq

from orchestrator import domain as d

MessageId = tuple[str, str]  # (chat id, message id)


class WaitingIndex:
    def __init__(self) -> None:
        self._messages: dict[MessageId, d.Message] = {}
        self.resolved = 0  # waiting messages that got their content (or an edit's text)

    def file(self, message: d.Message) -> None:
        """Keep `message`'s latest version if it is waiting; forget it otherwise. A waiting
        message filed again as something else got its content (or an edit's text): resolved.
        Called on every change of a message in RAM, so the common case (nothing waits) costs
        one type check."""
        if message.type == d.WAITING:
            self._messages[(message.chat_id, message.id)] = message
        elif self._messages:
            gone = self._messages.pop((message.chat_id, message.id), None)
            if gone is not None and not gone.deleted:
                self.resolved += 1

    def get(self, chat_id: str, message_id: str) -> d.Message | None:
        return self._messages.get((chat_id, message_id))

    def forget(self, chat_id: str, message_id: str) -> None:
        self._messages.pop((chat_id, message_id), None)

    def forget_chat(self, chat_id: str) -> list[d.Message]:
        """Forget the chat's waiting messages (its removal or merge), returning them."""
        gone = [m for key, m in self._messages.items() if key[0] == chat_id]
        for message in gone:
            del self._messages[(chat_id, message.id)]
        return gone

    @property
    def count(self) -> int:
        """How many are waiting now (revoked ones wait for nothing)."""
        return sum(not m.deleted for m in self._messages.values())

    def newest(self, limit: int) -> list[d.Message]:
        """Up to `limit` waiting messages, newest first, across chats."""
        waiting = (m for m in self._messages.values() if not m.deleted)
        return heapq.nlargest(limit, waiting, key=lambda m: (m.timestamp, m.arrival, m.id))


def is_waiting(message: d.Message) -> bool:
    return message.type == d.WAITING and not message.deleted


def resolve(old: d.Message, new: d.Message) -> d.Message:
    """A waiting message `old` seen again as `new`, the same key: the content arrived (after a
    retry, or from the phone: Baileys upserts it like any message). It becomes that message in
    place: the same arrival and time (so the same place in its chat), what we learned of it
    since (acks, reactions), and the content, type and quote of `new`. A revoked one stays a
    deleted stub; a second stub changes nothing."""
    if old.deleted or new.type == d.WAITING:
        return old
    return dataclasses.replace(
        new,
        arrival=old.arrival,
        timestamp=old.timestamp or new.timestamp,
        sender_name=new.sender_name or old.sender_name,
        ack=max(old.ack, new.ack),
        reactions=old.reactions or new.reactions,
    )


def with_edit(message: d.Message, text: str) -> d.Message:
    """An edit of a waiting message (its original never decrypted): we have its text now, so
    it shows as a `text` message, edited. What kind the original was (a caption's image)
    stays unknown until its content arrives."""
    return dataclasses.replace(message, type="text", text=text, edited=True)
