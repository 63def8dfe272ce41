"""Structured output and input (`output_schema`, `use_json_mode`, `input_schema`), as Agno does them: what
the model is asked for, and how its answer becomes the schema's instance."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from kern.models.base import ResponseFormat

if TYPE_CHECKING:
    from kern.specs import ComponentSpec

OutputSchema = type[BaseModel] | dict[str, Any]
"""A pydantic class, or a JSON Schema (the answer is then a dict)."""

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class StructuredOutputError(ValueError):
    """The model's answer does not fit the output schema."""


def response_format(spec: ComponentSpec) -> ResponseFormat | None:
    """What each model call asks for: the schema (strict, as the OpenAI SDK makes it from a pydantic
    class), or with `use_json_mode` any JSON object (the fields are then in the system message)."""
    schema = spec.output_schema
    if schema is None:
        return None
    if spec.use_json_mode:
        return ResponseFormat(schema=None)
    if isinstance(schema, dict):
        inner = schema.get("json_schema") if schema.get("type") == "json_schema" else None
        if isinstance(inner, dict):
            return ResponseFormat(
                inner.get("name", "output"), inner.get("schema", {}), inner.get("strict", False)
            )
        return ResponseFormat("output", schema, strict=False)
    from openai.lib._pydantic import to_strict_json_schema  # the SDK's own `parse()` uses it

    return ResponseFormat(schema.__name__, to_strict_json_schema(schema))


def content_type(schema: OutputSchema) -> str:
    """`content_type` of an answer to this schema (Agno's)."""
    return "dict" if isinstance(schema, dict) else schema.__name__


def parse_output(schema: OutputSchema, text: str) -> Any:
    """The answer as the schema's instance (a dict for a JSON Schema); StructuredOutputError naming what
    does not fit."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    name = content_type(schema)
    if isinstance(schema, dict):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            raise StructuredOutputError(f"The model's answer is not JSON ({exc}): {_clip(text)}") from None
        if not isinstance(value, dict):
            raise StructuredOutputError(f"The model's answer is not a JSON object: {_clip(text)}")
        return value
    try:
        return schema.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(answer)'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise StructuredOutputError(f"The model's answer does not fit {name}: {problems}") from None


def json_mode_prompt(schema: OutputSchema) -> str:
    """What the system message adds in JSON mode: the fields to answer with (as Agno words it)."""
    properties = schema if isinstance(schema, dict) else schema.model_json_schema()
    fields = {
        name: {key: value for key, value in field.items() if key != "title"}
        for name, field in properties.get("properties", {}).items()
    }
    return (
        "Provide your output as a JSON containing the following fields:"
        f"\n<json_fields>\n{json.dumps(list(fields), ensure_ascii=False)}\n</json_fields>"
        "\n\nHere are the properties for each field:"
        "\n<json_field_properties>"
        f"\n{json.dumps(fields, indent=2, ensure_ascii=False)}"
        "\n</json_field_properties>"
        "\nStart your response with `{` and end it with `}`."
        "\nYour output will be passed to json.loads() to convert it to a Python object."
        "\nMake sure it only contains valid JSON."
    )


def input_text(value: object, schema: type[BaseModel] | None) -> str:
    """A run's input as the text sent to the model: validated against `input_schema` when there is one
    (a dict, a JSON string or an instance), a pydantic instance as its JSON (as Agno sends it)."""
    if schema is not None:
        value = _validated(value, schema)
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2, exclude_none=True)
    if isinstance(value, str):
        return value
    raise TypeError(f"input must be a str or a pydantic model, got {type(value).__name__}")


def _validated(value: object, schema: type[BaseModel]) -> BaseModel:
    if isinstance(value, BaseModel):
        if not isinstance(value, schema):
            raise ValueError(f"input_schema expects {schema.__name__}, got {type(value).__name__}")
        return value
    try:
        if isinstance(value, str):
            return schema.model_validate_json(value)
        if isinstance(value, dict):
            return schema.model_validate(value)
    except ValidationError as exc:
        raise ValueError(f"The input does not fit input_schema {schema.__name__}: {exc}") from None
    raise TypeError(f"input_schema {schema.__name__} takes a dict, a JSON string or a {schema.__name__}")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
