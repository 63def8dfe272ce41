"""Deterministic JSON values for a JSON Schema, as pydantic v2 and OpenAI's strict mode emit them."""

from __future__ import annotations

import json
import math
from typing import Any

from kern.model_server.behaviour import STORY_WORDS

MAX_RECURSION = 1
"""How often a ``$ref`` already being expanded is expanded fully again; deeper, values are minimal."""
LIST_ITEMS = 2
PHRASE_WORDS = 3
TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
MERGE_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T12:00:00Z",
    "time": "12:00:00Z",
    "duration": "P1D",
    "email": "ember@example.com",
    "idn-email": "ember@example.com",
    "uri": "https://example.com/ember",
    "uri-reference": "https://example.com/ember",
    "iri": "https://example.com/ember",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b",
}
HINTS = {"object": ("properties", "required", "additionalProperties"), "array": ("items", "prefixItems")}
"""Keywords that imply a type when ``type`` is missing; otherwise a string is answered."""
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


class SchemaError(ValueError):
    """No value fits the schema: it is malformed, contradictory or recurses without end."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"at {where}: {problem}")


def fitting_value(schema: dict[str, Any]) -> Any:
    """A value that validates against ``schema``; raises ``SchemaError``."""
    return _Generator(schema).value(schema, "#", (), None)


def unfitting_value(schema: dict[str, Any], value: Any) -> Any:
    """A value that does not fit: ``value`` without a required property, else one of another type."""
    root = _Generator(schema).resolve(schema["$ref"], "#") if "$ref" in schema else schema
    required = root.get("required")
    if isinstance(value, dict) and isinstance(required, list):
        missing = next((name for name in required if name in value), None)
        if missing is not None:
            return {name: item for name, item in value.items() if name != missing}
    return "unexpected" if isinstance(value, dict) else {"unexpected": True}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    names = {float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), "unknown")


def _declared_types(schema: dict[str, Any], where: str) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        return []
    types = _as_list(declared)
    for kind in types:
        if kind not in TYPES:
            raise SchemaError(where, f"unknown type {kind!r}")
    if not types:
        raise SchemaError(where, "'type' allows no value")
    return types


def _fits_types(value: Any, types: list[str]) -> bool:
    return not types or _allows(types, _json_type(value))


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Both schemas at once (for ``allOf``): properties, required names and bounds combined."""
    merged = dict(first)
    for key, theirs in second.items():
        ours = merged.setdefault(key, theirs)
        if ours is theirs:
            continue
        if key == "properties" and isinstance(ours, dict) and isinstance(theirs, dict):
            both = {name: {"allOf": [ours[name], theirs[name]]} for name in set(ours) & set(theirs)}
            merged[key] = {**ours, **theirs, **both}
        elif key in ("required", "allOf") and isinstance(ours, list) and isinstance(theirs, list):
            merged[key] = [*ours, *theirs]
        elif key == "type":
            merged[key] = [t for t in MERGE_TYPES if _allows(ours, t) and _allows(theirs, t)]
        elif key in LOWER_BOUNDS + UPPER_BOUNDS and _is_number(ours) and _is_number(theirs):
            merged[key] = (max if key in LOWER_BOUNDS else min)(ours, theirs)
    return merged


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allows(declared: Any, kind: str) -> bool:
    types = _as_list(declared)
    return kind in types or (kind == "integer" and "number" in types)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(schema: dict[str, Any], key: str, where: str) -> float | None:
    bound = schema.get(key)
    if bound is not None and not _is_number(bound):
        raise SchemaError(where, f"'{key}' must be a number, got {bound!r}")
    return bound


def _count(schema: dict[str, Any], key: str, where: str) -> int | None:
    bound = schema.get(key)
    if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
        raise SchemaError(where, f"'{key}' must be a non-negative integer, got {bound!r}")
    return bound


class _Generator:
    """Walks one schema document; string values take the story's words in turn."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.word_index = 0

    def words(self, count: int) -> str:
        start, self.word_index = self.word_index, self.word_index + count
        return " ".join(STORY_WORDS[i % len(STORY_WORDS)].strip(".,") for i in range(start, start + count))

    def resolve(self, ref: Any, where: str) -> dict[str, Any]:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaError(where, f"only local '$ref's (#/...) are supported, got {ref!r}")
        target: Any = self.root
        for token in filter(None, ref[1:].split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            elif isinstance(target, dict) and token in target:
                target = target[token]
            else:
                raise SchemaError(where, f"'$ref' {ref!r} does not resolve")
        if not isinstance(target, dict):
            raise SchemaError(where, f"'$ref' {ref!r} is not a schema")
        return target

    def enter(
        self, ref: str, where: str, refs: tuple[str, ...], minimal: frozenset[str] | None
    ) -> tuple[tuple[str, ...], frozenset[str] | None]:
        """Follow ``ref``: past ``MAX_RECURSION`` values get minimal; a cycle among minimal ones fails."""
        if minimal is not None:
            if ref in minimal:
                raise SchemaError(where, f"'$ref' {ref!r} recurses without end: no finite value fits")
            minimal = minimal | {ref}
        elif refs.count(ref) >= MAX_RECURSION:
            minimal = frozenset({ref})
        return (*refs, ref), minimal

    def value(self, schema: Any, where: str, refs: tuple[str, ...], minimal: frozenset[str] | None) -> Any:
        """A value for ``schema``; ``minimal`` (the refs entered since recursion got deep) asks for
        the smallest one: required properties only, fewest items, the ``null`` branch first."""
        if schema is True or schema == {}:
            return self.words(PHRASE_WORDS)
        if not isinstance(schema, dict):
            raise SchemaError(where, f"expected a schema object, got {schema!r}")
        types = _declared_types(schema, where)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            enum = schema["enum"]
            if not isinstance(enum, list) or not enum:
                raise SchemaError(where, "'enum' must be a non-empty list")
            return enum[0]
        default = schema.get("default")
        empty = isinstance(default, list | dict) and not default
        if default is not None and _fits_types(default, types) and (minimal is not None or not empty):
            return default
        if "$ref" in schema:
            refs, minimal = self.enter(schema["$ref"], where, refs, minimal)
            return self.value(self.resolve(schema["$ref"], where), schema["$ref"], refs, minimal)
        if "allOf" in schema:
            return self.all_of(schema, where, refs, minimal)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.one_of(schema[key], f"{where}/{key}", refs, minimal)
        kind = self.kind(schema, types, minimal is not None)
        if kind == "object":
            return self.object(schema, where, refs, minimal)
        if kind == "array":
            return self.array(schema, where, refs, minimal)
        if kind == "string":
            return self.string(schema, where)
        if kind in ("integer", "number"):
            return self.number(schema, where, kind == "integer")
        return True if kind == "boolean" else None

    def kind(self, schema: dict[str, Any], types: list[str], minimal: bool) -> str:
        if not types:
            return next(
                (kind for kind, keys in HINTS.items() if any(key in schema for key in keys)), "string"
            )
        if minimal and "null" in types:
            return "null"
        return next((kind for kind in types if kind != "null"), "null")

    def all_of(
        self, schema: dict[str, Any], where: str, refs: tuple[str, ...], minimal: frozenset[str] | None
    ) -> Any:
        parts = schema["allOf"]
        if not isinstance(parts, list) or not parts:
            raise SchemaError(where, "'allOf' must be a non-empty list")
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        for part in parts:
            if not isinstance(part, dict):
                raise SchemaError(f"{where}/allOf", f"expected a schema object, got {part!r}")
            if "$ref" in part:
                refs, minimal = self.enter(part["$ref"], where, refs, minimal)
                part = {**self.resolve(part["$ref"], where), **{k: v for k, v in part.items() if k != "$ref"}}
            merged = _merge(merged, part)
        return self.value(merged, where, refs, minimal)

    def one_of(self, options: Any, where: str, refs: tuple[str, ...], minimal: frozenset[str] | None) -> Any:
        """The first branch that has a value: non-null branches first, or the ``null`` one if minimal."""
        if not isinstance(options, list) or not options:
            raise SchemaError(where, "expected a non-empty list of schemas")

        def is_null(i: int) -> bool:
            return isinstance(options[i], dict) and options[i].get("type") == "null"

        errors: list[SchemaError] = []
        for i in sorted(range(len(options)), key=lambda i: is_null(i) == (minimal is None)):
            try:
                return self.value(options[i], f"{where}/{i}", refs, minimal)
            except SchemaError as exc:
                errors.append(exc)
        raise errors[0]

    def object(
        self, schema: dict[str, Any], where: str, refs: tuple[str, ...], minimal: frozenset[str] | None
    ) -> dict[str, Any]:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        extra = schema.get("additionalProperties", True)
        if not isinstance(properties, dict):
            raise SchemaError(where, "'properties' must be an object")
        if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
            raise SchemaError(where, "'required' must be a list of property names")
        names = [name for name in properties if minimal is None or name in required]
        names += [name for name in required if name not in properties and name not in names]
        result: dict[str, Any] = {}
        for name in names:
            if name not in properties and extra is False:
                raise SchemaError(where, f"required property {name!r} is not allowed")
            sub = properties.get(name, extra if isinstance(extra, dict) else {})
            result[name] = self.value(sub, f"{where}/properties/{name}", refs, minimal)
        wanted = _count(schema, "minProperties", where) or 0
        if minimal is None and not properties and isinstance(extra, dict):
            wanted = max(wanted, 1)
        while len(result) < wanted:
            if extra is False:
                raise SchemaError(where, "'minProperties' needs more properties than are allowed")
            if "propertyNames" in schema:
                key = self.value(schema["propertyNames"], f"{where}/propertyNames", refs, minimal)
            else:
                key = self.words(1).lower()
                key = f"{key}_{len(result)}" if key in result else key
            if not isinstance(key, str) or key in result:
                raise SchemaError(where, "no further distinct property name fits 'propertyNames'")
            result[key] = self.value(extra, f"{where}/additionalProperties", refs, minimal)
        most = _count(schema, "maxProperties", where)
        for name in reversed(list(result)):
            if most is not None and len(result) > most and name not in required:
                del result[name]
        if most is not None and len(result) > most:
            raise SchemaError(where, "more properties are required than 'maxProperties' allows")
        return result

    def array(
        self, schema: dict[str, Any], where: str, refs: tuple[str, ...], minimal: frozenset[str] | None
    ) -> list[Any]:
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", {})
        if not isinstance(prefix, list):
            raise SchemaError(where, "'prefixItems' must be a list of schemas")
        least = _count(schema, "minItems", where) or 0
        most = _count(schema, "maxItems", where)
        count = least if minimal is not None else max(least, len(prefix), LIST_ITEMS)
        if items is False:
            count = min(count, len(prefix))
        if most is not None:
            count = min(count, most)
        values = [
            self.value(prefix[i] if i < len(prefix) else items, f"{where}/items/{i}", refs, minimal)
            for i in range(count)
        ]
        if schema.get("uniqueItems"):
            unique: dict[str, Any] = {}
            for item in values:
                unique.setdefault(json.dumps(item, sort_keys=True), item)
            values = list(unique.values())
        if len(values) < least:
            raise SchemaError(where, f"no {least} (distinct) items fit 'items' and 'maxItems'")
        return values

    def string(self, schema: dict[str, Any], where: str) -> str:
        least = _count(schema, "minLength", where) or 0
        most = _count(schema, "maxLength", where)
        if most is not None and most < least:
            raise SchemaError(where, f"'maxLength' {most} is below 'minLength' {least}")
        known = schema.get("format")
        text = (FORMATS.get(known) if isinstance(known, str) else None) or self.words(PHRASE_WORDS)
        while len(text) < least:
            text += " " + self.words(PHRASE_WORDS)
        if most is not None and len(text) > most:
            head = text[: most + 1]
            whole_words = head.rsplit(" ", 1)[0] if " " in head else ""
            text = whole_words if len(whole_words) >= max(least, 1) else text[:most]
        return text

    def number(self, schema: dict[str, Any], where: str, integer: bool) -> int | float:
        """1 if it fits, else the first fitting number near the bounds or between them."""
        keys = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf")
        low, above, high, below, step = (_number(schema, key, where) for key in keys)
        if step is not None and step <= 0:
            raise SchemaError(where, "'multipleOf' must be positive")
        start = max((b for b in (low, above) if b is not None), default=None)
        end = min((b for b in (high, below) if b is not None), default=None)
        candidates: list[float] = [1]
        if start is not None:
            candidates += [math.ceil(start), math.floor(start) + 1, start]
        if end is not None:
            candidates += [math.floor(end), math.ceil(end) - 1, end]
        if start is not None and end is not None:
            middle = (start + end) / 2
            candidates += [math.floor(middle), math.ceil(middle), middle]
        if step is not None:
            candidates = [m * step for c in candidates for m in (math.ceil(c / step), math.floor(c / step))]

        def fits(x: float) -> bool:
            return (
                (low is None or x >= low)
                and (high is None or x <= high)
                and (above is None or x > above)
                and (below is None or x < below)
                and (not integer or float(x).is_integer())
                and (step is None or float(x / step).is_integer())
            )

        found = next((x for x in candidates if fits(x)), None)
        if found is None:
            raise SchemaError(where, f"no {'integer' if integer else 'number'} fits the bounds")
        return int(found) if float(found).is_integer() else found
