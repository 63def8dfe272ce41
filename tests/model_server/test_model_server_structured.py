"""Structured outputs (``json_schema`` and ``json_object``) through the real openai SDK over HTTP."""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import jsonschema
import openai
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

from kern.model_server import ModelServer
from kern.model_server.behaviour import STORY_WORDS, story_words
from kern.model_server.config import HeaderValueError, ModelServerConfig, apply_header_overrides

INVALID = {"x-kern-invalid-json": "1"}
STORY = {word.strip(".,") for word in STORY_WORDS}


class Mood(StrEnum):
    CALM = "calm"
    STORMY = "stormy"


class Ingredient(BaseModel):
    name: str
    grams: int = Field(ge=5, le=500)
    optional: bool


class Recipe(BaseModel):
    title: str
    mood: Mood
    course: Literal["starter", "main", "dessert"]
    cooked_on: date
    published_at: datetime
    ingredients: list[Ingredient] = Field(min_length=1, max_length=4)
    rating: float = Field(gt=0, lt=5)
    notes: str | None = None
    tags: list[str]


class Node(BaseModel):
    label: str
    children: list[Node] = []
    parent_hint: Node | None = None


def assert_story_phrase(text: str) -> None:
    assert text and set(text.split()) <= STORY


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "kern-mock", "messages": [{"role": "user", "content": "Plan dinner"}], **fields}


def test_responses_parse_nested_model_and_echo_format(client: openai.OpenAI) -> None:
    response = client.responses.parse(model="kern-mock", input="Plan dinner", text_format=Recipe)
    recipe = response.output_parsed
    assert isinstance(recipe, Recipe)
    assert_story_phrase(recipe.title)
    assert (recipe.mood, recipe.course, recipe.cooked_on.isoformat()) == (Mood.CALM, "starter", "2025-01-01")
    assert 1 <= len(recipe.ingredients) <= 4 and all(5 <= i.grams <= 500 for i in recipe.ingredients)
    assert 0 < recipe.rating < 5 and recipe.notes is not None
    text_format = response.text.format if response.text else None
    assert text_format is not None and text_format.type == "json_schema"
    assert (text_format.name, text_format.strict) == ("Recipe", True)
    assert text_format.schema_["additionalProperties"] is False  # the SDK's strict form, echoed
    assert response.usage is not None and response.usage.output_tokens == len(response.output_text.split(" "))


def test_responses_stream_parse_in_paced_deltas(client: openai.OpenAI, model_server: ModelServer) -> None:
    headers = {"x-kern-chunk-words": "2", "x-kern-tokens-per-second": "2000"}
    with client.responses.stream(
        model="kern-mock", input="Plan dinner", text_format=Recipe, extra_headers=headers
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    text = "".join(deltas)
    assert len(deltas) > 10 and text == final.output_text
    assert Recipe.model_validate_json(text) == final.output_parsed
    record = model_server.wait_for_request(lambda r: r.status == "completed", timeout=2)
    assert record.words_sent == len(text.split(" "))


def test_chat_parse_and_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(**chat(), response_format=Recipe)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Recipe) and completion.choices[0].finish_reason == "stop"
    with client.chat.completions.stream(**chat(), response_format=Recipe) as stream:
        pieces = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(pieces) > 10 and "".join(pieces) == final.choices[0].message.content
    assert final.choices[0].message.parsed == parsed


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_recursive_model_terminates(client: openai.OpenAI, api: str) -> None:
    if api == "responses":
        node = client.responses.parse(model="kern-mock", input="tree", text_format=Node).output_parsed
    else:
        node = client.chat.completions.parse(**chat(), response_format=Node).choices[0].message.parsed
    assert node is not None and len(node.children) == 2
    grandchildren = [g for child in node.children for g in child.children]
    assert all(not g.children and g.parent_hint is None for g in grandchildren)


def test_json_object_mode(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="kern-mock", input="hi", text={"format": {"type": "json_object"}}, max_output_tokens=5
    )
    assert json.loads(response.output_text) == {"answer": " ".join(story_words(5))}
    assert response.text is not None and response.text.format.type == "json_object"
    chunks = client.chat.completions.create(**chat(response_format={"type": "json_object"}), stream=True)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert json.loads(content) == {"answer": " ".join(story_words(60))}


def test_tool_calls_come_before_the_structured_answer(client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "name": "pantry",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    }
    first = client.responses.parse(
        model="kern-mock", input="what is in the pantry?", tools=[tool], text_format=Recipe
    )
    [call] = first.output
    assert call.type == "function_call" and first.output_parsed is None
    second = client.responses.parse(
        model="kern-mock",
        tools=[tool],
        text_format=Recipe,
        input=[
            {"role": "user", "content": "what is in the pantry?"},
            {"type": "function_call", "call_id": call.call_id, "name": "pantry", "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "flour and eggs"},
        ],
    )
    assert isinstance(second.output_parsed, Recipe)


def json_schema_format(schema: Any, name: str = "Thing") -> dict[str, Any]:
    return {"type": "json_schema", "name": name, "schema": schema}


BAD_SCHEMAS = [
    ({"type": "object", "properties": {"a": {"type": "strin"}}}, "unknown type 'strin'"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}, "does not resolve"),
    ({"type": "object", "properties": {"a": {"enum": []}}}, "'enum' must be a non-empty list"),
    ({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 2}}}, "no integer"),
    (
        {"type": "object", "properties": {"s": {"type": "string", "minLength": 3, "maxLength": 1}}},
        "maxLength",
    ),
    (
        {
            "$defs": {"A": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "required": ["a"]}},
            "$ref": "#/$defs/A",
        },
        "recurses without end",
    ),
]


@pytest.mark.parametrize(("schema", "problem"), BAD_SCHEMAS)
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_unsatisfiable_schema_is_400(
    client: openai.OpenAI, model_server: ModelServer, api: str, schema: dict[str, Any], problem: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        if api == "responses":
            client.responses.create(
                model="kern-mock", input="hi", text={"format": json_schema_format(schema)}
            )
        else:
            spec = {"name": "Thing", "schema": schema}
            client.chat.completions.create(
                **chat(response_format={"type": "json_schema", "json_schema": spec})
            )
    assert info.value.code == "invalid_json_schema" and problem in info.value.message
    assert "Invalid schema for response_format 'Thing'" in info.value.message
    param = "text.format.schema" if api == "responses" else "response_format.json_schema.schema"
    assert info.value.param == param
    assert model_server.requests[-1].status == "error"


@pytest.mark.parametrize(
    ("fmt", "param"),
    [
        ({"type": "xml"}, "text.format.type"),
        ({"type": "json_schema", "schema": {"type": "object"}}, "text.format.name"),
        ({"type": "json_schema", "name": "Thing"}, "text.format.schema"),
    ],
)
def test_invalid_format_is_400(client: openai.OpenAI, fmt: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="kern-mock", input="hi", text={"format": fmt})
    assert info.value.param == param


def test_invalid_json_header_breaks_validation(client: openai.OpenAI, model_server: ModelServer) -> None:
    with pytest.raises(pydantic.ValidationError, match="Field required"):
        client.responses.parse(model="kern-mock", input="hi", text_format=Recipe, extra_headers=INVALID)
    with (
        pytest.raises(pydantic.ValidationError),
        client.chat.completions.stream(**chat(), response_format=Recipe, extra_headers=INVALID) as stream,
    ):
        stream.get_final_completion()
    raw = client.chat.completions.create(
        **chat(response_format={"type": "json_object"}), extra_headers=INVALID
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.choices[0].message.content or "")
    model_server.configure(invalid_json=True)
    with pytest.raises(pydantic.ValidationError):
        client.chat.completions.parse(**chat(), response_format=Ingredient)
    assert model_server.requests[0].headers["x-kern-invalid-json"] == "1"


def test_invalid_json_header_values() -> None:
    base = ModelServerConfig()
    assert apply_header_overrides(base, {"X-Kern-Invalid-Json": "true"}).invalid_json
    assert not apply_header_overrides(base, {"x-kern-invalid-json": "0"}).invalid_json
    with pytest.raises(HeaderValueError) as info:
        apply_header_overrides(base, {"x-kern-invalid-json": "yes please"})
    assert info.value.header == "x-kern-invalid-json"


def test_stall_mid_json(model_server: ModelServer) -> None:
    model_server.add_fault("stall", after_words=3)
    received: list[str] = []
    with openai.OpenAI(base_url=model_server.base_url, api_key="test", max_retries=0, timeout=0.5) as client:
        with pytest.raises(openai.APITimeoutError):
            for chunk in client.chat.completions.create(
                **chat(response_format={"type": "json_object"}), stream=True
            ):
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == '{"answer": "Once upon'
    assert model_server.wait_for_disconnect(timeout=2).fault == "stall"


RAW_SCHEMAS = [
    {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 7, "exclusiveMinimum": 10}}},
    {
        "type": "object",
        "properties": {"x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.1}},
    },
    {"type": "object", "properties": {"x": {"type": ["number", "null"], "maximum": -3.5}}, "required": ["x"]},
    {
        "allOf": [{"$ref": "#/definitions/A"}, {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}],
        "definitions": {"A": {"type": "object", "properties": {"a": {"const": 3}}, "required": ["a"]}},
    },
    {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 3},
    {
        "type": "array",
        "prefixItems": [{"type": "string", "format": "email"}, {"format": "uri"}],
        "items": False,
    },
    {"type": "object", "properties": {"d": {"type": "string", "format": "date"}, "u": {"format": "uuid"}}},
    {"oneOf": [{"type": "object", "properties": {"kind": {"const": "a"}}, "required": ["kind"]}]},
    {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "maxItems": 0},
]


@pytest.mark.parametrize("schema", RAW_SCHEMAS)
def test_raw_schema_keywords(client: openai.OpenAI, schema: dict[str, Any]) -> None:
    spec = {"name": "Raw", "schema": schema, "strict": False}
    completion = client.chat.completions.create(
        **chat(response_format={"type": "json_schema", "json_schema": spec})
    )
    value = json.loads(completion.choices[0].message.content or "")
    jsonschema.validate(value, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# -- property: for pydantic models, the answer validates ------------------------------------------------
FIELD_NAMES = st.sampled_from(["title", "count", "note", "kind", "size", "tags", "owner", "score"])
SCALARS = st.one_of(
    st.sampled_from([str, int, float, bool, date, datetime, Mood, Literal["x", "y"], Literal[3]]),
    st.builds(
        lambda lo, span: Annotated[int, Field(ge=lo, le=lo + span)], st.integers(-50, 50), st.integers(0, 5)
    ),
    st.builds(
        lambda lo, span: Annotated[float, Field(gt=lo, lt=lo + span)], st.floats(-9, 9), st.floats(0.01, 3)
    ),
    st.builds(
        lambda lo, span: Annotated[str, Field(min_length=lo, max_length=lo + span)],
        st.integers(0, 40),
        st.integers(0, 9),
    ),
)


def models(children: st.SearchStrategy[Any]) -> st.SearchStrategy[type[BaseModel]]:
    fields = st.lists(
        st.tuples(FIELD_NAMES, children, st.booleans()), min_size=1, max_size=4, unique_by=lambda f: f[0]
    )
    return st.builds(
        lambda name, spec: create_model(
            f"M{name}", **{n: ((t | None, None) if optional else (t, ...)) for n, t, optional in spec}
        ),
        st.integers(0, 999),
        fields,
    )


def _compound(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        children.map(lambda t: list[t]),
        st.builds(
            lambda t, lo: Annotated[list[t], Field(min_length=lo, max_length=lo + 2)],
            children,
            st.integers(0, 3),
        ),
        children.map(lambda t: t | None),
        st.tuples(children, children).map(lambda pair: pair[0] | pair[1]),
        children.map(lambda t: dict[str, t]),
        models(children),
    )


# (Hypothesis warns when a generated model's repr is large, which a nested one sometimes is: not a failure)
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(models(st.recursive(SCALARS, _compound, max_leaves=8)))
def test_answers_fit_generated_models(client: openai.OpenAI, model: type[BaseModel]) -> None:
    strict = client.responses.parse(model="kern-mock", input="go", text_format=model)
    assert isinstance(strict.output_parsed, model)
    schema = model.model_json_schema()
    spec = {"name": model.__name__, "schema": schema}
    completion = client.chat.completions.create(
        **chat(response_format={"type": "json_schema", "json_schema": spec})
    )
    content = completion.choices[0].message.content or ""
    model.model_validate_json(content)
    jsonschema.validate(
        json.loads(content), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
