"""What a client sees of a route in an OpenAPI document, flattened for comparison: its parameters, the
fields of its request body and of its success answer (as dotted paths, `[]` for list items, each with
its JSON types), and its success status code."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 4
"""How deep nested fields are followed (a team's members nest teams)."""
SUCCESS = ("200", "201", "202", "204")


@dataclass(frozen=True)
class Shape:
    """One route of one document."""

    status: str | None
    parameters: dict[str, str]
    """Query and path parameters: name -> where."""
    body: dict[str, set[str]]
    response: dict[str, set[str]]


def routes(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(METHOD, path) of every operation."""
    for path, operations in document["paths"].items():
        for method in operations:
            yield method.upper(), path


def shape(document: dict[str, Any], method: str, path: str) -> Shape:
    operation = document["paths"][path][method.lower()]
    schemas = document.get("components", {}).get("schemas", {})
    status = next((code for code in SUCCESS if code in operation["responses"]), None)
    answer = operation["responses"].get(status or "", {}).get("content", {}).get("application/json", {})
    body: dict[str, set[str]] = {}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        _merge(body, _fields(content.get("schema", {}), schemas, "", frozenset()))
    return Shape(
        status=status,
        parameters={
            p["name"]: p["in"] for p in operation.get("parameters", []) if p["in"] in ("query", "path")
        },
        body={name: types for name, types in body.items() if "." not in name and "[]" not in name},
        response=_fields(answer.get("schema", {}), schemas, "", frozenset()),
    )


def _fields(
    schema: dict[str, Any], schemas: dict[str, Any], prefix: str, seen: frozenset[str]
) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen or prefix.count(".") + prefix.count("[]") >= MAX_DEPTH:
            return {prefix: {"object"}} if prefix else {}
        return _fields(schemas.get(name, {}), schemas, prefix, seen | {name})
    for alternative in (*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())):
        _merge(found, _fields(alternative, schemas, prefix, seen))
    kind = schema.get("type")
    if prefix and kind and kind != "null":
        found.setdefault(prefix, set()).add(kind)
    for name, sub in schema.get("properties", {}).items():
        _merge(found, _fields(sub, schemas, f"{prefix}.{name}" if prefix else name, seen))
    if kind == "array" and "items" in schema:
        _merge(found, _fields(schema["items"], schemas, f"{prefix}[]", seen))
    return found


def _merge(into: dict[str, set[str]], more: dict[str, set[str]]) -> None:
    for key, types in more.items():
        into.setdefault(key, set()).update(types)


def differences(agno: dict[str, Any], kern: dict[str, Any], method: str, path: str) -> list[tuple[str, str]]:
    """(key, what) for everything Agno's route offers that kern's does not, or offers otherwise: `route`,
    `status`, `param:<name>`, `body:<field>`, `response:<field path>`. kern's extra fields are not
    differences (they are its additions)."""
    if path not in kern["paths"] or method.lower() not in kern["paths"][path]:
        return [("route", "not served")]
    theirs, ours = shape(agno, method, path), shape(kern, method, path)
    found = []
    if theirs.status != ours.status:
        found.append(("status", f"{theirs.status} on Agno, {ours.status} on kern"))
    for name, where in theirs.parameters.items():
        if ours.parameters.get(name) != where:
            found.append((f"param:{name}", f"{where} parameter missing"))
    for kind, mine, other in (("body", theirs.body, ours.body), ("response", theirs.response, ours.response)):
        for field, types in mine.items():
            if field not in other:
                found.append((f"{kind}:{field}", "missing"))
            elif not types & other[field] and types and other[field]:
                found.append((f"{kind}:{field}", f"{sorted(types)} on Agno, {sorted(other[field])} on kern"))
    return found
