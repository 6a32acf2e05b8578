"""What Baileys' WhatsApp Business label events mean (Utils/chat-utils.js processSyncAction,
from app-state mutations of the `regular` collection).

    labels.edit         a Label {id, name, color, deleted, predefinedId}: created, renamed,
                        recoloured or deleted (a SET of `["label_edit", id]`)
    labels.association  {association: {type: "label_jid", chatId, labelId}, type: "add"|"remove"}
                        or a `label_message` association (a label on one message: not modelled)

Pure, like every reader here.
"""

from __future__ import annotations

from typing import Any

from orchestrator.domain import ChatLabelled, Fact, LabelEdited
from orchestrator.normalize.values import (
    ShapeError,
    as_dict,
    is_hidden,
    opt_bool,
    opt_int,
    opt_str,
    req_jid,
    req_str,
)

_ASSOCIATION_TYPES = {"add": True, "remove": False}


def read_label_edit(event: str, data: Any) -> list[Fact]:
    label = as_dict(data, "data")
    # Unset proto fields come as null: color 0 is WhatsApp's first colour, `deleted` null is
    # false. A label that exists has a name; only a deletion may come without one.
    label_id = req_str(label, "id", "data")
    deleted = bool(opt_bool(label.get("deleted"), "data.deleted"))
    name = opt_str(label.get("name"), "data.name")
    if name is None and not deleted:
        raise ShapeError("data.name: missing")
    predefined = opt_str(label.get("predefinedId"), "data.predefinedId")
    color = opt_int(label.get("color"), "data.color") or 0
    return [LabelEdited(label_id, name or "", color, deleted, predefined)]


def read_label_association(event: str, data: Any) -> list[Fact]:
    payload = as_dict(data, "data")
    action = payload.get("type")
    on = _ASSOCIATION_TYPES.get(action) if type(action) is str else None
    if on is None:
        raise ShapeError("data.type: not add or remove")
    association = as_dict(payload.get("association"), "data.association")
    kind = association.get("type")
    if kind == "label_message":
        return []  # a label on one message: the helpdesk labels chats only
    if kind != "label_jid":
        raise ShapeError("data.association.type: not label_jid or label_message")
    chat_id = req_jid(association, "chatId", "data.association")
    label_id = req_str(association, "labelId", "data.association")
    return [] if is_hidden(chat_id) else [ChatLabelled(chat_id, label_id, on)]
