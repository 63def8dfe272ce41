"""Structured outputs: the requested answer format (``text.format`` or ``response_format``) and the
JSON answer that replaces a text reply."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from kern.model_server.behaviour import Reply
from kern.model_server.parsing import RequestError
from kern.model_server.structured import SchemaError, fitting_value, unfitting_value

FormatKind = Literal["text", "json_object", "json_schema"]
FORMAT_KINDS: tuple[FormatKind, ...] = ("text", "json_object", "json_schema")


@dataclass(frozen=True)
class OutputFormat:
    """An answer format; ``echo`` is the format object as the request gave it."""

    kind: FormatKind = "text"
    echo: dict[str, Any] = field(default_factory=lambda: {"type": "text"})
    schema: dict[str, Any] = field(default_factory=dict)
    value: Any = None
    """For ``json_schema``: the value that fits ``schema``."""

    def answer(self, text: str, invalid: bool) -> str | None:
        """The JSON document answering instead of ``text`` (``None`` for plain text).

        ``json_object`` wraps the text as ``{"answer": text}``. With ``invalid`` the document does not
        fit: for ``json_schema`` it lacks a required property (or has another type), for ``json_object``
        it is cut short, so it is not JSON at all.
        """
        if self.kind == "json_object":
            document = json.dumps({"answer": text}, ensure_ascii=False)
            return document[:-2] if invalid else document
        if self.kind == "json_schema":
            value = unfitting_value(self.schema, self.value) if invalid else self.value
            return json.dumps(value, ensure_ascii=False)
        return None

    def shape(self, reply: Reply, invalid: bool) -> Reply:
        """``reply`` with its text replaced by the JSON answer, in words that join back to it exactly."""
        answer = None if reply.is_tool_call else self.answer(reply.text, invalid)
        return reply if answer is None else Reply(words=tuple(answer.split(" ")))


def responses_format(body: dict[str, Any]) -> OutputFormat:
    """The Responses API's ``text.format`` (name and schema inside the format object)."""
    text = body.get("text")
    raw = text.get("format") if isinstance(text, dict) else None
    return _output_format(raw, "text.format", raw, "text.format")


def chat_format(body: dict[str, Any]) -> OutputFormat:
    """Chat Completions' ``response_format`` (name and schema under ``json_schema``)."""
    raw = body.get("response_format")
    spec = raw.get("json_schema") if isinstance(raw, dict) else None
    return _output_format(raw, "response_format", spec, "response_format.json_schema")


def _output_format(raw: Any, param: str, spec: Any, spec_param: str) -> OutputFormat:
    """The format ``raw`` given at ``param``; ``spec`` holds a JSON schema's name and schema."""
    if raw is None:
        return OutputFormat()
    if not isinstance(raw, dict):
        raise RequestError(f"Invalid '{param}': expected an object.", param)
    kind = raw.get("type")
    if kind not in FORMAT_KINDS:
        raise RequestError(
            f"Invalid value for '{param}.type': {kind!r}. "
            "Supported values are: 'text', 'json_object', and 'json_schema'.",
            f"{param}.type",
        )
    if kind != "json_schema":
        return OutputFormat(kind, raw)
    if not isinstance(spec, dict):
        raise RequestError(f"Missing required parameter: '{spec_param}'.", spec_param)
    name, schema = spec.get("name"), spec.get("schema")
    if not isinstance(name, str) or not name:
        raise RequestError(f"Missing required parameter: '{spec_param}.name'.", f"{spec_param}.name")
    if not isinstance(schema, dict):
        raise RequestError(f"Missing required parameter: '{spec_param}.schema'.", f"{spec_param}.schema")
    try:
        value = fitting_value(schema)
    except SchemaError as exc:
        raise RequestError(
            f"Invalid schema for response_format '{name}': {exc}",
            f"{spec_param}.schema",
            "invalid_json_schema",
        ) from None
    return OutputFormat("json_schema", raw, schema, value)
