"""WhatsApp messages -> facts: one `WebMessageInfo`, one message update, receipt or reaction.

The counterpart of mautrix-whatsapp's `msgconv/from-whatsapp.go`, minus the I/O. Each reader
takes one wire-encoded item and returns at most one fact (or None: nothing a helpdesk sees),
raising `ShapeError` (or anything else) when it cannot read it; the caller turns that into
an `Unreadable` for this item alone.

What a WebMessageInfo means, mirroring Baileys' own `normalizeMessageContent`,
`getContentType` and `processMessage`:
- content wrapped in ephemeral / view-once / edited / device-sent / ... envelopes is unwrapped;
- a protocolMessage REVOKE or MESSAGE_EDIT changes its *target* message, other protocol
  messages (history sync notifications, key shares, ...) mean nothing here;
- a reactionMessage sets a reaction on its target;
- a stub without content (group notices) is not a message, except the REVOKE stub, which is
  what a deleted message looks like, and the CIPHERTEXT stub, a message Baileys could not
  decrypt (yet): a `waiting` message, whose content may arrive later under the same key;
- everything else is a visible message, `unknown` when we do not know the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from orchestrator.domain import (
    ACK_DELIVERED,
    ACK_PLAYED,
    ACK_READ,
    ACK_SENT,
    WAITING,
    Fact,
    Media,
    Message,
    MessageChanged,
    MessageSeen,
    Reaction,
    ReactionSet,
)
from orchestrator.normalize.values import (
    ShapeError,
    as_dict,
    interned,
    is_hidden,
    opt_bool,
    opt_dict,
    opt_float,
    opt_int,
    opt_jid,
    opt_list,
    opt_str,
    owned,
    req_jid,
    req_str,
)
from orchestrator.wire import dumps

SELF = "self"
"""The reaction sender for our own reactions. Our own jid has several forms (phone jid, LID,
per device) and none is in the event, so every own reaction gets this one name: a later own
reaction then replaces an earlier one whichever device sent it."""

# proto.Message.ProtocolMessage.Type; a proto2 enum at its default (0) is not on the wire
PROTOCOL_REVOKE = 0
PROTOCOL_MESSAGE_EDIT = 14
# WAMessageStubType.REVOKE: a message deleted for everyone, kept as a contentless stub
STUB_REVOKE = 1
# WAMessageStubType.CIPHERTEXT: decryption failed (decode-wa-message.js); Baileys upserts the
# stub, asks the sender to retry (or the phone to resend it) and upserts the content later
STUB_CIPHERTEXT = 2

# FutureProofMessage (and DeviceSentMessage) envelopes: the content is in their `.message`.
# Baileys' normalizeMessageContent list plus the bot / mention / lottie wrappers.
_WRAPPERS = frozenset(
    {
        "ephemeralMessage",
        "viewOnceMessage",
        "viewOnceMessageV2",
        "viewOnceMessageV2Extension",
        "documentWithCaptionMessage",
        "editedMessage",
        "deviceSentMessage",
        "botInvokeMessage",
        "botForwardedMessage",
        "groupMentionedMessage",
        "lottieStickerMessage",
        "associatedChildMessage",
        "groupStatusMessage",
        "groupStatusMessageV2",
        "pollCreationMessageV4",
    }
)
_EDITED = "editedMessage"
# Baileys normalizes at most 5 levels; real messages nest 2 or 3.
_MAX_WRAPPING = 8
# Fields beside the content, never the content itself (Baileys' getContentType skips them).
_NOT_CONTENT = frozenset(
    {
        "messageContextInfo",
        "senderKeyDistributionMessage",
        "fastRatchetKeySenderKeyDistributionMessage",
    }
)
# Content that changes another message (votes, encrypted reactions and comments, pins,
# keep-in-chat) or only carries keys: never a bubble of its own, and not "unknown" either.
_INVISIBLE = frozenset(
    {
        "pollUpdateMessage",
        "encReactionMessage",
        "encEventResponseMessage",
        "encCommentMessage",
        "keepInChatMessage",
        "pinInChatMessage",
        "secretEncryptedMessage",
        "stickerSyncRmrMessage",
    }
)


class Key(NamedTuple):
    """The parts of a WAMessageKey the facts need."""

    chat_id: str
    id: str
    from_me: bool
    participant: str | None
    chat_alt: str | None
    participant_alt: str | None


def read_key(value: Any, where: str) -> Key:
    key = as_dict(value, where)
    return Key(
        req_jid(key, "remoteJid", where),
        req_str(key, "id", where),
        opt_bool(key.get("fromMe"), f"{where}.fromMe") or False,
        opt_jid(key.get("participant"), f"{where}.participant"),
        opt_jid(key.get("remoteJidAlt"), f"{where}.remoteJidAlt"),
        opt_jid(key.get("participantAlt"), f"{where}.participantAlt"),
    )


def reactor(value: Any, where: str) -> str:
    """Who reacted, from the key of the message that carried the reaction."""
    key = as_dict(value, where)
    if opt_bool(key.get("fromMe"), f"{where}.fromMe"):
        return SELF
    sender = opt_jid(key.get("participant"), f"{where}.participant")
    return sender or req_jid(key, "remoteJid", where)


# --- content -------------------------------------------------------------------------------


def unwrap(message: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The innermost content of a Message, and whether an editedMessage envelope held it."""
    content = message
    edited = False
    for _ in range(_MAX_WRAPPING):
        for name, inner in content.items():
            if inner is not None and name in _WRAPPERS:
                break
        else:
            return content, edited
        nested = as_dict(inner, name).get("message")
        if nested is None:  # an envelope around nothing: no content
            return {}, edited
        content = as_dict(nested, f"{name}.message")
        edited = edited or name == _EDITED
    raise ShapeError("message: wrapped too deeply")


def content_kind(content: dict[str, Any]) -> str | None:
    """The content's field name (`conversation`, `imageMessage`, ...), None if there is none.

    The first non-null field on the wire that is not a side field, as Baileys' getContentType
    (which wants "Message" in the name: we take any field, so new kinds show up as unknown).
    """
    for name, value in content.items():
        if value is not None and name not in _NOT_CONTENT:
            return name
    return None


# A kind's reader: (content node) -> (type, text, media). `conversation` is a bare string.
_Reader = Callable[[Any], tuple[str, str | None, Media | None]]


def _media(node: dict[str, Any], file_name: str | None = None) -> Media:
    return Media(
        mimetype=interned(opt_str(node.get("mimetype"), "mimetype")),
        file_name=file_name and owned(file_name),
        size=opt_int(node.get("fileLength"), "fileLength"),
        seconds=opt_int(node.get("seconds"), "seconds"),
    )


def _caption(node: dict[str, Any]) -> str | None:
    return opt_str(node.get("caption"), "caption")


def _conversation(node: Any) -> tuple[str, str | None, Media | None]:
    return "text", opt_str(node, "conversation"), None


def _extended_text(node: dict[str, Any]) -> tuple[str, str | None, Media | None]:
    return "text", opt_str(node.get("text"), "text"), None


def _visual(kind: str) -> _Reader:
    def read(node: dict[str, Any]) -> tuple[str, str | None, Media | None]:
        return kind, _caption(node), _media(node)

    return read


def _document(node: dict[str, Any]) -> tuple[str, str | None, Media | None]:
    file_name = opt_str(node.get("fileName"), "fileName")
    return "document", _caption(node), _media(node, file_name)


def _location(node: dict[str, Any]) -> tuple[str, str | None, Media | None]:
    text = (
        opt_str(node.get("name"), "name")
        or opt_str(node.get("address"), "address")
        or _caption(node)  # live locations have a caption instead
    )
    if text is None:
        lat = opt_float(node.get("degreesLatitude"), "degreesLatitude")
        lng = opt_float(node.get("degreesLongitude"), "degreesLongitude")
        if lat is not None and lng is not None:
            text = f"{lat},{lng}"
    return "location", text, None


def _contact(node: dict[str, Any]) -> tuple[str, str | None, Media | None]:
    return "contact", opt_str(node.get("displayName"), "displayName"), None


def _contacts(node: dict[str, Any]) -> tuple[str, str | None, Media | None]:
    text = opt_str(node.get("displayName"), "displayName")
    if text is None:
        names = [
            opt_str(as_dict(card, "contacts[]").get("displayName"), "contacts[].displayName")
            for card in opt_list(node.get("contacts"), "contacts")
        ]
        text = ", ".join(name for name in names if name) or None
    return "contact", text, None


def _poll(node: dict[str, Any]) -> tuple[str, str | None, Media | None]:
    return "poll", opt_str(node.get("name"), "name"), None


_KINDS: dict[str, _Reader] = {
    "conversation": _conversation,
    "extendedTextMessage": _extended_text,
    "imageMessage": _visual("image"),
    "videoMessage": _visual("video"),
    "ptvMessage": _visual("video"),  # round video notes: a VideoMessage under another name
    "audioMessage": _visual("audio"),
    "stickerMessage": _visual("sticker"),
    "documentMessage": _document,
    "locationMessage": _location,
    "liveLocationMessage": _location,
    "contactMessage": _contact,
    "contactsArrayMessage": _contacts,
    "pollCreationMessage": _poll,
    "pollCreationMessageV2": _poll,
    "pollCreationMessageV3": _poll,
    "pollCreationMessageV5": _poll,
}


def _read_kind(kind: str, node: Any) -> tuple[str, str | None, Media | None]:
    reader = _KINDS.get(kind)
    if reader is None:
        return "unknown", None, None
    if kind != "conversation":
        node = as_dict(node, kind)
    try:
        return reader(node)
    except ShapeError as exc:
        raise ShapeError(f"{kind}.{exc}") from None


def _quoted_id(node: Any, kind: str) -> str | None:
    if type(node) is not dict:
        return None
    context = opt_dict(node.get("contextInfo"), f"{kind}.contextInfo")
    if context is None:
        return None
    return opt_str(context.get("stanzaId"), f"{kind}.contextInfo.stanzaId")


def text_of(message: Any, where: str, depth: int = 0) -> str | None:
    """The text (body or caption) of a Message: the new content of an edit."""
    if message is None:
        return None
    if depth > 2:
        raise ShapeError(f"{where}: edits nested too deeply")
    content, _ = unwrap(as_dict(message, where))
    kind = content_kind(content)
    if kind is None or kind in _INVISIBLE:
        return None
    if kind == "protocolMessage":  # the whole edit stanza rather than its new content
        node = as_dict(content[kind], kind)
        return text_of(node.get("editedMessage"), f"{kind}.editedMessage", depth + 1)
    return _read_kind(kind, content[kind])[1]


# --- messages.upsert / history ------------------------------------------------------------


def read_web_message(item: Any, live: bool, history: bool = False) -> Fact | None:
    """One WebMessageInfo: a MessageSeen, the change it makes to another message, or None.

    `live`: from a 'notify' upsert (just arrived); `history`: from a history sync chunk.
    """
    info = as_dict(item, "message")
    key = read_key(info.get("key"), "key")
    if is_hidden(key.chat_id):
        return None
    stub = opt_int(info.get("messageStubType"), "messageStubType")
    wire_message = info.get("message")
    content, edited = (
        ({}, False) if wire_message is None else unwrap(as_dict(wire_message, "message"))
    )
    kind = content_kind(content)
    if kind is None:
        if stub == STUB_CIPHERTEXT:
            return MessageSeen(_waiting(key, info), live=live, history=history)
        # Deleted for everyone: Baileys keeps the message as a REVOKE stub without content.
        # Other stubs (group notices) are not messages.
        return MessageChanged(key.chat_id, key.id, deleted=True) if stub == STUB_REVOKE else None
    if kind in _INVISIBLE:
        return None
    node = content[kind]
    if kind == "protocolMessage":
        return _protocol(key, as_dict(node, kind))
    if kind == "reactionMessage":
        return _reaction_message(key, as_dict(node, kind))
    msg_type, text, media = _read_kind(kind, node)
    from_me = key.from_me
    status = opt_int(info.get("status"), "status")
    timestamp = info.get("messageTimestamp")
    quoted = _quoted_id(node, kind)
    raw: dict[str, Any] = {"key": info["key"], "message": wire_message}
    if timestamp is not None:
        raw["messageTimestamp"] = timestamp
    # What the message keeps is copied or interned: the event's parse tree goes (values.owned).
    return MessageSeen(
        Message(
            id=owned(key.id),
            chat_id=interned(key.chat_id),
            chat_alt=interned(key.chat_alt),
            from_me=from_me,
            sender=interned(_sender(key)),
            sender_alt=interned(_sender_alt(key)),
            sender_name=interned(opt_str(info.get("pushName"), "pushName")),
            timestamp=opt_int(timestamp, "messageTimestamp") or 0,
            type=msg_type,
            text=text and owned(text),
            quoted_id=quoted and owned(quoted),
            media=media,
            ack=_ack(status, from_me),
            raw_kind=kind if msg_type == "unknown" else None,
            edited=edited,
            deleted=stub == STUB_REVOKE,
            reactions=_reactions(info.get("reactions")),
            raw=dumps(raw),
        ),
        live=live,
        history=history,
    )


def _waiting(key: Key, info: dict[str, Any]) -> Message:
    """A message Baileys could not decrypt: who sent it and when, no content. The stub's
    parameters (the decryption error, a resend request id) say nothing a reader can use."""
    timestamp = info.get("messageTimestamp")
    raw: dict[str, Any] = {"key": info["key"]}
    if timestamp is not None:
        raw["messageTimestamp"] = timestamp
    return Message(
        id=key.id,
        chat_id=key.chat_id,
        chat_alt=key.chat_alt,
        from_me=key.from_me,
        sender=_sender(key),
        sender_alt=_sender_alt(key),
        sender_name=opt_str(info.get("pushName"), "pushName"),
        timestamp=opt_int(timestamp, "messageTimestamp") or 0,
        type=WAITING,
        text=None,
        quoted_id=None,
        media=None,
        ack=_ack(opt_int(info.get("status"), "status"), key.from_me),
        raw=dumps(raw),
    )


def _sender(key: Key) -> str | None:
    if key.from_me:
        return None
    return key.participant or key.chat_id


def _sender_alt(key: Key) -> str | None:
    """The sender's other jid: participantAlt in groups, the chat's alt in a 1:1 chat."""
    if key.from_me:
        return None
    return key.participant_alt if key.participant else key.chat_alt


def _ack(status: int | None, from_me: bool) -> int:
    # An unknown status value (not in WebMessageInfo.Status) is treated as absent.
    if status is not None and 0 <= status <= ACK_PLAYED:
        return status
    # No status: our own message reached the server; someone else's reached us.
    return ACK_SENT if from_me else ACK_DELIVERED


def _reactions(value: Any) -> tuple[Reaction, ...]:
    """WebMessageInfo.reactions: set by history sync and by Baileys' event buffer, which folds
    reactions into a message upserted in the same batch. Empty text = removed."""
    if not value:
        return ()
    reactions = []
    for item in opt_list(value, "reactions"):
        reaction = as_dict(item, "reactions[]")
        emoji = opt_str(reaction.get("text"), "reactions[].text")
        if emoji is not None:
            reactions.append(Reaction(emoji, reactor(reaction.get("key"), "reactions[].key")))
    return tuple(reactions)


def _protocol(key: Key, node: dict[str, Any]) -> MessageChanged | None:
    # The target is in the chat the protocol message arrived in: protocolMessage.key is
    # written from the sender's point of view (in a 1:1 chat its remoteJid is us), so only
    # its id is ours to use. Baileys' processMessage does the same.
    kind = opt_int(node.get("type"), "protocolMessage.type") or PROTOCOL_REVOKE
    if kind == PROTOCOL_REVOKE:
        target = as_dict(node.get("key"), "protocolMessage.key")
        return MessageChanged(
            key.chat_id, req_str(target, "id", "protocolMessage.key"), deleted=True
        )
    if kind == PROTOCOL_MESSAGE_EDIT:
        target = as_dict(node.get("key"), "protocolMessage.key")
        text = text_of(node.get("editedMessage"), "protocolMessage.editedMessage")
        return MessageChanged(
            key.chat_id, req_str(target, "id", "protocolMessage.key"), text=text, edited=True
        )
    return None


def _reaction_message(key: Key, node: dict[str, Any]) -> ReactionSet:
    # As for protocol messages, the target key is the reactor's view: take only its id.
    target = as_dict(node.get("key"), "reactionMessage.key")
    return ReactionSet(
        chat_id=key.chat_id,
        message_id=req_str(target, "id", "reactionMessage.key"),
        sender=SELF if key.from_me else (key.participant or key.chat_id),
        emoji=opt_str(node.get("text"), "reactionMessage.text"),
    )


# --- messages.update / messages.reaction / message-receipt.update -----------------------


def read_message_update(item: Any) -> MessageChanged | None:
    """One `{key, update}`: ack, edit and revoke, all in one fact. Never the time: on a
    receipt `update.messageTimestamp` is the receipt's time, not the message's."""
    entry = as_dict(item, "update")
    key = read_key(entry.get("key"), "key")
    if is_hidden(key.chat_id):
        return None
    update = as_dict(entry.get("update"), "update")
    status = opt_int(update.get("status"), "update.status")
    ack = status if status is not None and 0 <= status <= ACK_PLAYED else None
    text: str | None = None
    edited = False
    deleted = False
    if "message" in update:
        message = update["message"]
        if message is None:
            deleted = (
                opt_int(update.get("messageStubType"), "update.messageStubType") == STUB_REVOKE
            )
        else:
            edited, text = _edit_of(as_dict(message, "update.message"))
    if ack is None and not edited and not deleted:
        return None  # starred, poll votes, a re-uploaded media message: nothing we show
    return MessageChanged(key.chat_id, key.id, ack=ack, text=text, edited=edited, deleted=deleted)


def _edit_of(message: dict[str, Any]) -> tuple[bool, str | None]:
    """(is an edit, new text) for `update.message`, which Baileys sets to
    `{editedMessage: {message: <new content>}}` for an edit, and to the whole message for
    other reasons (media re-upload): only the former is an edit."""
    content, edited = unwrap(message)
    node = content.get("protocolMessage")
    if node is not None:
        node = as_dict(node, "protocolMessage")
        if opt_int(node.get("type"), "protocolMessage.type") == PROTOCOL_MESSAGE_EDIT:
            return True, text_of(node.get("editedMessage"), "protocolMessage.editedMessage")
        return False, None
    if not edited:
        return False, None
    kind = content_kind(content)
    if kind is None or kind in _INVISIBLE or kind == "reactionMessage":
        return True, None
    return True, _read_kind(kind, content[kind])[1]


def read_reaction(item: Any) -> ReactionSet | None:
    """messages.reaction `{key, reaction}`: `key` is the reacted message, `reaction.key` the
    message that carried the reaction, so its remoteJid is the chat as we see it (the target
    key is the reactor's view: in a 1:1 chat its remoteJid is our own jid)."""
    entry = as_dict(item, "reaction")
    target = read_key(entry.get("key"), "key")
    reaction = as_dict(entry.get("reaction"), "reaction")
    carrier = opt_dict(reaction.get("key"), "reaction.key")
    if carrier is None:
        raise ShapeError("reaction.key: missing (who reacted is unknown)")
    chat_id = opt_jid(carrier.get("remoteJid"), "reaction.key.remoteJid") or target.chat_id
    if is_hidden(chat_id) or is_hidden(target.chat_id):
        return None
    return ReactionSet(
        chat_id=chat_id,
        message_id=target.id,
        sender=reactor(carrier, "reaction.key"),
        emoji=opt_str(reaction.get("text"), "reaction.text"),
    )


# UserReceipt timestamps, strongest last.
_RECEIPTS = (
    ("receiptTimestamp", ACK_DELIVERED),
    ("readTimestamp", ACK_READ),
    ("playedTimestamp", ACK_PLAYED),
)


def read_receipt(item: Any) -> MessageChanged | None:
    """message-receipt.update `{key, receipt}` (groups): the strongest receipt it carries."""
    entry = as_dict(item, "receipt")
    key = read_key(entry.get("key"), "key")
    if is_hidden(key.chat_id):
        return None
    receipt = as_dict(entry.get("receipt"), "receipt")
    ack = None
    for name, value in _RECEIPTS:
        if opt_int(receipt.get(name), f"receipt.{name}"):
            ack = value
    if ack is None:
        return None
    return MessageChanged(key.chat_id, key.id, ack=ack)
