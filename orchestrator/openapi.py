"""The OpenAPI 3.1 document, generated from the route table and the shapes; served (public) at
`/openapi.json`, and the source of the JS client's types (`typescript.py`)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode
from typing_extensions import TypedDict

from orchestrator import shapes as s
from orchestrator.auth import Access
from orchestrator.routes import OPERATIONS, Operation, all_errors

JSON = "application/json"
COMPONENTS = "#/components/schemas/{model}"
Schema = dict[str, Any]


def envelope_union() -> Any:
    """The stream envelope, one variant per event type, discriminated on `type`."""
    variants = [
        TypedDict(  # type: ignore[operator]
            "".join(part.title() for part in name.split("_")) + "Envelope",
            {
                "id": Annotated[
                    str,
                    Field(
                        description="<bridge epoch>:<bridge seq>:<n>; '' for an ephemeral "
                        "envelope (agent_presence), which names no stream position"
                    ),
                ],
                "type": Literal[name],
                "session": Annotated[str, Field(description="the session (WhatsApp number)")],
                "data": data,
            },
        )
        for name, data in s.EVENT_DATA.items()
    ]
    return Annotated[Union[tuple(variants)], Field(discriminator="type")]  # noqa: UP007


def error_schema(codes: list[str]) -> Schema:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"enum": codes}, "message": {"type": "string"}},
            }
        },
    }


def _operation(op: Operation, refs: dict[Any, Schema]) -> Schema:
    operation: Schema = {"summary": op.summary, "operationId": op.name, "tags": [op.tag]}
    if op.params:
        operation["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "description": p.description,
                "schema": p.schema,
            }
            for p in op.params
        ]
    if op.body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": refs[op.body]}}}
    responses: Schema = {}
    if op.websocket:
        responses["101"] = {"description": "switching protocols: the stream"}
        errors = [("404", ["not_found"])]  # a plain request, not an upgrade
    else:
        if op.answer is not None:
            content: Schema = {op.content: {"schema": refs[op.answer]}}
        else:
            content = {op.content: {}}
        responses[str(op.status)] = (
            {"description": "no content"}
            if op.status == 204
            else {"description": "OK", "content": content}
        )
        by_status: dict[str, list[str]] = {}
        for code in all_errors(op):
            by_status.setdefault(str(code.status), []).append(code.value)
        errors = list(by_status.items())
    for status, codes in errors:
        responses[status] = {
            "description": ", ".join(codes),
            "content": {JSON: {"schema": error_schema(codes)}},
        }
    operation["responses"] = dict(sorted(responses.items()))
    if op.access is Access.PUBLIC:
        operation["security"] = []
    elif op.access is Access.SIGNED:
        operation["security"] = [{"bearer": []}, {"accessToken": []}, {"mediaLink": []}]
    if op.access in (Access.STAFF, Access.ADMIN):
        operation["description"] = f"For {op.access.value}."
    return operation


@cache
def document() -> Schema:
    shapes: list[Any] = []
    for op in OPERATIONS:
        shapes += [t for t in (op.body, op.answer) if t is not None and t not in shapes]
    envelope = envelope_union()
    inputs: list[tuple[Any, JsonSchemaMode, TypeAdapter[Any]]] = [
        (t, "serialization", TypeAdapter(t)) for t in shapes
    ]
    inputs.append(("Envelope", "serialization", TypeAdapter(envelope)))
    keyed, definitions = TypeAdapter.json_schemas(inputs, ref_template=COMPONENTS)
    refs = {key: schema for (key, _), schema in keyed.items()}
    schemas: Schema = definitions.get("$defs", {})
    schemas["Envelope"] = refs.pop("Envelope")
    refs["Envelope"] = {"$ref": COMPONENTS.format(model="Envelope")}
    # The long-poll's events are envelopes (the shape says Any: the union is built here).
    schemas["Poll"]["properties"]["events"]["items"] = refs["Envelope"]
    for schema in schemas.values():
        _drop_titles(schema)
    paths: Schema = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wa-helpdesk orchestrator",
            "version": "1",
            "description": "WhatsApp for multi-agent helpdesks: REST snapshots, streams, "
            'helpdesk metadata. Errors are always `{"error":{"code","message"}}`; each '
            "response lists the codes it can carry. Stream envelopes: `Envelope`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"accessToken": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "ORCH_API_TOKEN (acts as an admin) or a Supabase session JWT",
                },
                "accessToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "access_token",
                    "description": "the same token, for EventSource and WebSocket clients",
                },
                "mediaLink": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "sig",
                    "description": "a media link's signature (with exp): `media.url` as given",
                },
            },
        },
    }


def _drop_titles(schema: Any) -> None:
    """pydantic titles every property after its name ("Chatid"): noise in a document."""
    if isinstance(schema, dict):
        if isinstance(schema.get("title"), str) and "properties" not in schema:
            del schema["title"]
        for value in schema.values():
            _drop_titles(value)
    elif isinstance(schema, list):
        for item in schema:
            _drop_titles(item)


@cache
def document_bytes() -> bytes:
    return orjson.dumps(document())
