"""Structured output and input, on Agno 3.1.10 and on kern: `output_schema` makes `content` the schema's
instance (Responses and Chat Completions, streamed or not), `use_json_mode` asks for a JSON object,
`input_schema` validates the input. Where kern differs (a misfit answer fails the run), the difference is
in docs/agno-differences.md."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, Field

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern

FRAMEWORKS = {"agno": agno, "kern": kern}


class Mood(StrEnum):
    happy = "happy"
    sad = "sad"


class Scene(BaseModel):
    place: str
    hour: int = Field(ge=0, le=23)


class Story(BaseModel):
    title: str = Field(description="A short title")
    genre: str
    mood: Mood
    characters: list[str]
    scene: Scene
    sequel: str | None = None


class Question(BaseModel):
    topic: str
    depth: int


def chat_model(fw: Framework, server: ModelServer) -> Any:
    module = __import__(f"{fw.name}.models.openai", fromlist=["OpenAIChat"])
    return module.OpenAIChat(id="gpt-conformance", base_url=server.base_url, api_key="kern-test")


def shape(output: Any) -> tuple[Any, ...]:
    """What a user reads of a structured output: its type, content type, and that it validates."""
    content = output.content
    return type(content).__name__, output.content_type, Story.model_validate(content.model_dump()) == content


MODELS = {"responses": lambda fw, server: fw.model(server), "chat": chat_model}


@pytest.mark.parametrize("api", list(MODELS))
def test_output_schema_makes_content_the_schema_instance(
    ray_session: None, server: ModelServer, api: str
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        agent = fw.Agent(id="example", name="Teller", model=MODELS[api](fw, server), output_schema=Story)
        return shape(agent.run("Tell a story"))

    expected = script(agno())
    assert expected == ("Story", "Story", True)
    assert script(kern()) == expected


@pytest.mark.parametrize("api", list(MODELS))
def test_the_request_asks_for_the_schema_as_agno_asks(
    ray_session: None, server: ModelServer, api: str
) -> None:
    def script(fw: Framework) -> Any:
        server.clear_requests()
        fw.Agent(id="example", name="Teller", model=MODELS[api](fw, server), output_schema=Story).run(
            "Tell a story"
        )
        body = server.requests[-1].body
        return body.get("text", {}).get("format") if api == "responses" else body.get("response_format")

    expected = script(agno())
    assert expected["type"] == "json_schema"
    assert script(kern()) == expected


def test_streaming_with_an_output_schema_yields_one_content_event_with_the_instance(
    ray_session: None, server: ModelServer
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        agent = fw.Agent(id="example", name="Teller", model=fw.model(server), output_schema=Story)
        events = list(agent.run("Tell a story", stream=True, stream_events=True))
        contents = [
            e for e in events if str(getattr(e.event, "value", e.event)) == "RunContent" and e.content
        ]
        final = events[-1]
        return (
            [type(e.content).__name__ for e in contents],
            [e.content_type for e in contents],
            str(getattr(final.event, "value", final.event)),
            type(final.content).__name__,
        )

    expected = script(agno())
    assert script(kern()) == expected


def test_a_team_with_an_output_schema_answers_with_its_instance(
    ray_session: None, server: ModelServer
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        writer = fw.Agent(name="Writer", model=fw.model(server, reply_words=5))
        team = fw.Team(name="Desk", members=[writer], model=fw.model(server), output_schema=Story)
        return shape(team.run("Tell a story"))

    expected = script(agno())
    assert script(kern()) == expected


def test_json_mode_asks_for_a_json_object_and_lists_the_fields(
    ray_session: None, server: ModelServer
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        agent = fw.Agent(
            id="example", name="Teller", model=chat_model(fw, server), output_schema=Scene, use_json_mode=True
        )
        output = agent.run("Where?")
        body = server.requests[-1].body
        system = next(m["content"] for m in body["messages"] if m["role"] in ("system", "developer"))
        return body["response_format"], "<json_fields>" in system, type(output.content).__name__

    expected = script(agno())
    assert script(kern()) == expected


def test_an_answer_that_does_not_fit_fails_the_run_on_kern(ray_session: None, server: ModelServer) -> None:
    """Agno keeps the text and logs a warning; kern ends the run with a RunError naming the misfit."""
    model = kern().OpenAIResponses(
        id="gpt-conformance", base_url=server.base_url, api_key="kern-test",
        default_headers={"x-kern-invalid-json": "1"},
    )  # fmt: skip
    output = kern().Agent(name="Teller", model=model, output_schema=Story).run("Tell a story")
    assert output.status == "ERROR"
    assert "does not fit Story" in (output.error or "")


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_input_schema_validates_the_input(ray_session: None, server: ModelServer, name: str) -> None:
    server.clear_requests()
    fw = FRAMEWORKS[name]()
    agent = fw.Agent(id="example", name="Asker", model=fw.model(server), input_schema=Question)
    assert agent.run({"topic": "dragons", "depth": 2}).status == "COMPLETED"
    assert agent.run(Question(topic="dragons", depth=3)).status == "COMPLETED"
    sent = [r.body["input"][-1]["content"] for r in server.requests]
    assert '"topic": "dragons"' in str(sent[0]) and '"depth": 3' in str(sent[1])
    with pytest.raises(ValueError):
        agent.run({"topic": "dragons"})
