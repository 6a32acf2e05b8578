"""The richer kinds of `POST /send` that need nothing but the request: a location, contact
cards, a poll. Pure: each checks what the shape cannot say and returns the Baileys content
for `sendMessage` (as `generateWAMessageContent` in Baileys' `Utils/messages.js` reads it)
with the text the pending bubble shows. Refusals are raised as `BadRequest`.

The kinds that name another message (forward, edit, delete) need the state: `api.py`.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator import shapes as s
from orchestrator.errors import BadRequest, Code
from orchestrator.jids import PHONE

# E.164 allows 15 digits; no country's numbers are shorter than 8 with the country code.
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 8, 15

Built = tuple[dict[str, Any], str | None]
"""The Baileys content, and the pending bubble's text (as the normalizer will read it)."""


def location(body: s.LocationBody) -> Built:
    """`{location: LocationMessage}`. The ranges are the shape's (`location_out_of_range`)."""
    message: dict[str, Any] = {
        "degreesLatitude": body["latitude"],
        "degreesLongitude": body["longitude"],
    }
    for field in ("name", "address"):
        if field in body:
            message[field] = body[field]
    # The same text the normalizer gives the message once WhatsApp echoes it back.
    text = body.get("name") or body.get("address") or f"{body['latitude']},{body['longitude']}"
    return {"location": message}, text


def contacts(cards: list[s.ContactCardBody]) -> Built:
    """`{contacts: {displayName, contacts: [{displayName, vcard}]}}`: Baileys sends one card
    as a contactMessage and several as a contactsArrayMessage."""
    built = [{"displayName": c["name"], "vcard": vcard(c["name"], phone_digits(c["phone"]))}
             for c in cards]  # fmt: skip
    # The array's displayName is what a chat list shows, and what the normalizer reads back.
    display = ", ".join(c["name"] for c in cards)
    return {"contacts": {"displayName": display, "contacts": built}}, display


def phone_digits(phone: str) -> str:
    """The digits of an international phone number in any usual notation (`+55 (11) 9...`)."""
    value = phone.strip()
    digits = re.sub(r"\D", "", value)
    if not PHONE.match(value) or not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        raise BadRequest(
            Code.INVALID_CONTACT_PHONE,
            f"not an international phone number: {phone[:40]!r} "
            f"({MIN_PHONE_DIGITS}..{MAX_PHONE_DIGITS} digits, country code first)",
        )
    return digits


def vcard(name: str, digits: str) -> str:
    """A vCard 3.0 as WhatsApp writes them: the `waid` parameter is what makes the card open
    a chat with that number on the phone."""
    return (
        "BEGIN:VCARD\n"
        "VERSION:3.0\n"
        f"N:;{vcard_escape(name)};;;\n"
        f"FN:{vcard_escape(name)}\n"
        f"TEL;type=CELL;waid={digits}:+{digits}\n"
        "END:VCARD"
    )


def vcard_escape(text: str) -> str:
    """RFC 6350 3.4 text escaping: a name can hold no line break, comma or semicolon that
    would end its field or split it into components."""
    return (
        text.replace("\\", "\\\\")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
        .replace(",", "\\,")
        .replace(";", "\\;")
    )


def poll(body: s.PollBody) -> Built:
    """`{poll: {name, values, selectableCount}}`; Baileys adds the messageSecret that votes are
    encrypted with. WhatsApp's composer takes 2..12 distinct options."""
    options = body["options"]
    if not s.MIN_POLL_OPTIONS <= len(options) <= s.MAX_POLL_OPTIONS:
        raise BadRequest(
            Code.BAD_POLL_OPTIONS,
            f"a poll has {s.MIN_POLL_OPTIONS}..{s.MAX_POLL_OPTIONS} options, not {len(options)}",
        )
    if len(set(options)) != len(options):
        # Votes name options by their hash: two equal options could not be told apart.
        raise BadRequest(Code.BAD_POLL_OPTIONS, "poll options must be distinct")
    selectable = body.get("selectableCount", 1)
    if selectable > len(options):
        raise BadRequest(
            Code.BAD_POLL_SELECTABLE_COUNT,
            f"selectableCount is 0 (any) .. {len(options)} (the options), not {selectable}",
        )
    content = {"poll": {"name": body["name"], "values": options, "selectableCount": selectable}}
    return content, body["name"]
