"""Responses API through the real openai SDK over HTTP."""

from __future__ import annotations

import json

import openai

from kern.model_server import ModelServer
from kern.model_server.behaviour import story_words

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "note": {"type": "string"},
        },
        "required": ["city", "days"],
    },
}
SEARCH_TOOL = {
    "type": "function",
    "name": "search",
    "description": "Search the web.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}
CALC_TOOL = {"type": "function", "name": "calculator", "parameters": {"type": "object", "properties": {}}}

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
TEXT_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_streaming_text(client: openai.OpenAI, model_server: ModelServer) -> None:
    events = list(client.responses.create(model="kern-mock", input="Tell me a story", stream=True))
    types = [e.type for e in events]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert types == TEXT_EVENTS + ["response.output_text.delta"] * 60 + TEXT_TAIL
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert not deltas[0].startswith(" ") and all(d.startswith(" ") for d in deltas[1:])
    text = "".join(deltas)
    assert text == " ".join(story_words(60))
    assert events[-4].text == text
    completed = events[-1].response
    assert completed.status == "completed" and completed.output_text == text
    assert completed.id == events[0].response.id
    usage = completed.usage
    assert usage is not None
    assert usage.output_tokens == 60 and usage.input_tokens == 4
    assert usage.total_tokens == 64
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    record = model_server.wait_for_request(lambda r: r.status == "completed", timeout=2)
    assert record.path == "/v1/responses" and record.stream and record.words_sent == 60
    assert record.body["input"] == "Tell me a story"


def test_stream_helper_accumulates(client: openai.OpenAI) -> None:
    with client.responses.stream(model="kern-mock", input="hello", instructions="Be brief.") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == " ".join(story_words(60))
    assert final.instructions == "Be brief."


def test_non_streaming_text_with_item_list_and_cap(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="any-model-id",
        instructions="You are terse.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "first question"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "first answer"}]},
            {"role": "user", "content": "second question"},
        ],
        max_output_tokens=12,
        temperature=0.2,
    )
    assert response.model == "any-model-id"
    assert response.output_text == " ".join(story_words(12))
    assert response.usage is not None and response.usage.output_tokens == 12
    assert response.usage.input_tokens == 9
    assert response.temperature == 0.2


def test_tool_call_fits_schema(client: openai.OpenAI) -> None:
    response = client.responses.create(model="kern-mock", input="How warm is it?", tools=[WEATHER_TOOL])
    [call] = response.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "example", "unit": "celsius", "days": 1}


def test_several_named_tools_in_one_turn_streaming(client: openai.OpenAI) -> None:
    prompt = "Use calculator and search to find it"
    events = list(
        client.responses.create(
            model="kern-mock", input=prompt, tools=[WEATHER_TOOL, SEARCH_TOOL, CALC_TOOL], stream=True
        )
    )
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [(item.type, item.name) for item in added] == [
        ("function_call", "search"),
        ("function_call", "calculator"),
    ]
    done_args = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(a) for a in done_args] == [{"query": prompt}, {}]
    final = events[-1].response
    assert events[-1].type == "response.completed"
    assert [o.name for o in final.output] == ["search", "calculator"]
    assert not any(e.type == "response.output_text.delta" for e in events)


def test_follow_up_with_tool_output(client: openai.OpenAI) -> None:
    first = client.responses.create(model="kern-mock", input="search for dragons", tools=[SEARCH_TOOL])
    [call] = first.output
    follow_up = client.responses.create(
        model="kern-mock",
        tools=[SEARCH_TOOL],
        input=[
            {"role": "user", "content": "search for dragons"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": "Dragons are large  reptiles.",
            },
        ],
    )
    assert follow_up.output[0].type == "message"
    assert follow_up.output_text.startswith("Based on Dragons are large reptiles.: Once upon a time")
    assert len(follow_up.output_text.split()) == 6 + 60


def test_tool_choice_none_gives_text(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="kern-mock", input="search", tools=[SEARCH_TOOL], tool_choice="none", max_output_tokens=3
    )
    assert response.output_text == "Once upon a"


def test_bad_request(client: openai.OpenAI, model_server: ModelServer) -> None:
    try:
        client.responses.create(model="kern-mock", input=[{"role": "wizard", "content": "x"}])
    except openai.BadRequestError as exc:
        assert exc.status_code == 400
        assert "wizard" in str(exc)
    else:
        raise AssertionError("expected BadRequestError")
    assert model_server.requests[-1].status == "error"
