"""TypeScript declarations of the API's shapes, generated from the OpenAPI document: the JS
client's types come from the one contract, never by hand. They are the source
`clients/js/src/wa-api.ts` of the npm package @wa-helpdesk/client, and its copy
`orchestrator/static/wa-api.d.ts` that the console serves (types only: the same text is a valid
.d.ts).

    python -m orchestrator.typescript --write   writes both (make types)
    python -m orchestrator.typescript           prints them

Covers what the document uses: objects, arrays, maps, enums, consts, unions, nullability, refs.
A test fails when a committed file differs from what this generates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from orchestrator.openapi import document

REPO = Path(__file__).resolve().parent.parent
# The package's source first: the console's copy follows it.
GENERATED_FILES = (
    REPO / "clients" / "js" / "src" / "wa-api.ts",
    REPO / "orchestrator" / "static" / "wa-api.d.ts",
)

HEADER = """\
// Generated from the orchestrator's OpenAPI document by orchestrator/typescript.py
// (`make types`). Do not edit: change orchestrator/shapes.py and regenerate.
"""
REF = "#/components/schemas/"


def ts_type(schema: dict[str, Any], indent: str = "") -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(REF)
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        return " | ".join(_literal(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(ts_type(s, indent) for s in schema[key])
    kind = schema.get("type")
    if kind == "string":
        return "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        item = ts_type(schema.get("items", {}), indent)
        return f"({item})[]" if " | " in item else f"{item}[]"
    if kind == "object":
        if "properties" in schema:
            return _object(schema, indent)
        extra = schema.get("additionalProperties")
        value = ts_type(extra, indent) if isinstance(extra, dict) else "unknown"
        return f"Record<string, {value}>"
    return "unknown"


def _object(schema: dict[str, Any], indent: str) -> str:
    required = set(schema.get("required", ()))
    lines = ["{"]
    for name, prop in schema["properties"].items():
        description = prop.get("description")
        if description:
            lines.append(f"{indent}  /** {description} */")
        optional = "" if name in required else "?"
        lines.append(f"{indent}  {name}{optional}: {ts_type(prop, indent + '  ')}")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def declarations(doc: dict[str, Any]) -> str:
    out = [HEADER]
    for name, schema in doc["components"]["schemas"].items():
        if schema.get("type") == "object" and "properties" in schema:
            out.append(f"export interface {name} {ts_type(schema)}\n")
        else:
            out.append(f"export type {name} = {ts_type(schema)}\n")
    mapping = doc["components"]["schemas"]["Envelope"]["discriminator"]["mapping"]
    out.append(f"export type EventType = {' | '.join(_literal(t) for t in mapping)}\n")
    codes = sorted(
        {
            code
            for item in doc["paths"].values()
            for operation in item.values()
            for response in operation["responses"].values()
            for code in _error_codes(response)
        }
    )
    out.append(f"export type ErrorCode = {' | '.join(_literal(c) for c in codes)}\n")
    return "\n".join(out)


def _error_codes(response: dict[str, Any]) -> list[str]:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    error = schema.get("properties", {}).get("error", {})
    codes: list[str] = error.get("properties", {}).get("code", {}).get("enum", [])
    return codes


def write() -> None:
    text = declarations(document())
    for path in GENERATED_FILES:
        path.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    elif sys.argv[1:]:
        sys.exit("usage: python -m orchestrator.typescript [--write]")
    else:
        sys.stdout.write(declarations(document()))
