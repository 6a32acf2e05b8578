"""WhatsApp ids (jids), pure: parsing, phone numbers, and which ids are chats at all."""

from __future__ import annotations

import re

USER_SERVER = "s.whatsapp.net"
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{6,22}$")
JID = re.compile(r"^[0-9A-Za-z.+_-]{1,64}(:[0-9]{1,4})?@(s\.whatsapp\.net|g\.us|lid)$")


def normalize_jid(jid: str) -> str:
    """Drop the device part: `123:7@s.whatsapp.net` -> `123@s.whatsapp.net`; `c.us` -> phone."""
    user, at, server = jid.partition("@")
    if not at or (":" not in user and server != "c.us"):
        return jid  # already plain: the same string, not a copy (this runs for every message)
    user = user.split(":", 1)[0]
    if server == "c.us":
        server = USER_SERVER
    return f"{user}@{server}"


def is_lid(jid: str) -> bool:
    return jid.endswith("@lid")


def is_group(jid: str) -> bool:
    return jid.endswith("@g.us")


def parse_chat_id(value: str) -> str | None:
    """A jid, or a phone number in any usual notation, as a normalized chat jid; None if neither."""
    value = value.strip()
    if JID.match(value):
        return normalize_jid(value)
    if PHONE.match(value):
        digits = re.sub(r"\D", "", value)
        if 8 <= len(digits) <= 15:
            return f"{digits}@{USER_SERVER}"
    return None
