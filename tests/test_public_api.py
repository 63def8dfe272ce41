"""The Agno-compatible surface: names, enum values, JSON round trips."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel

import kern.agent
import kern.models.openai
import kern.run.agent
import kern.run.team
import kern.team
from kern.run.agent import RunCancelledEvent, RunCompletedEvent, RunContentEvent, RunEvent, RunOutput
from kern.run.base import RunStatus
from kern.run.events import AGENT_EVENTS, TEAM_EVENTS, event_from_json, event_to_json, is_terminal
from kern.run.team import TeamRunCancelledEvent, TeamRunEvent, TeamRunOutput
from kern.specs import slugify


def test_seed_imports_exist() -> None:
    for module, name in [
        (kern.agent, "Agent"),
        (kern.team, "Team"),
        (kern.models.openai, "OpenAIResponses"),
        (kern.models.openai, "OpenAIChat"),
        (kern.run.agent, "RunEvent"),
        (kern.run.team, "TeamRunEvent"),
    ]:
        assert hasattr(module, name)
    assert kern.models.openai.__all__ == ["OpenAIChat", "OpenAILike", "OpenAIResponses"]


def test_enum_values_match_agno() -> None:
    assert RunEvent.run_content == "RunContent" and RunEvent.run_cancelled == "RunCancelled"
    assert TeamRunEvent.run_content == "TeamRunContent" and TeamRunEvent.run_cancelled == "TeamRunCancelled"
    assert RunStatus.cancelled is RunStatus.CANCELLED and RunStatus.completed.value == "COMPLETED"
    assert [s.value for s in RunStatus] == ["PENDING", "RUNNING", "COMPLETED", "PAUSED", "CANCELLED", "ERROR"]
    assert RunEvent.run_paused == "RunPaused" and TeamRunEvent.run_continued == "TeamRunContinued"


def test_events_round_trip_through_json() -> None:
    events = [
        RunContentEvent(run_id="m", agent_id="a", agent_name="A", content="hi", parent_run_id="t"),
        RunCancelledEvent(run_id="m", agent_id="a", agent_name="A", content="partial"),
        TeamRunCancelledEvent(run_id="t", team_id="x", team_name="X", content="part"),
    ]
    for event in events:
        back = event_from_json(event_to_json(event))
        assert back == event and type(back) is type(event)
    assert [is_terminal(e) for e in events] == [False, True, True]
    assert '"event":"TeamRunCancelled"' in event_to_json(events[2])


def test_outputs_round_trip_with_members() -> None:
    member = RunOutput(run_id="m", agent_id="a", agent_name="A", status=RunStatus.cancelled, content="x")
    team = TeamRunOutput(run_id="t", team_id="x", team_name="X", member_responses=[member])
    assert TeamRunOutput.model_validate_json(team.model_dump_json()) == team


def test_structured_content_crosses_json_as_its_fields() -> None:
    class Story(BaseModel):
        title: str

    event = RunCompletedEvent(run_id="m", agent_id="a", agent_name="A", content=Story(title="x"),
                              content_type="Story")  # fmt: skip
    back = event_from_json(event_to_json(event))
    assert (back.content, back.content_type) == ({"title": "x"}, "Story")


def test_ids_are_slugs_of_names() -> None:
    assert slugify("Storytelling Team") == "storytelling-team"
    with pytest.raises(ValueError, match="Cannot derive an id"):
        slugify("!!!")


def test_bad_construction_is_a_clear_error() -> None:
    from kern.agent import Agent
    from kern.team import Team

    with pytest.raises(TypeError, match="Team members must be Agent or Team objects"):
        Team(name="T", members=["writer"])
    with pytest.raises(ValueError, match="distinct ids; repeated: \\['writer'\\]"):
        Team(name="T", members=[Agent(name="Writer"), Agent(name="Writer")])
    with pytest.raises(ValueError, match="at least one member"):
        Team(name="T", members=[])
    with pytest.raises(TypeError, match="input must be a str or a pydantic model, got int"):
        Agent(name="Writer").run(42)


def test_tool_decorator_builds_a_function_from_hints_and_docstring() -> None:
    from kern.tools import Function, tool

    @tool(stop_after_tool_call=True)
    def lookup(term: str, limit: int = 3) -> str:
        """Look a term up.

        Args:
            term: What to look up.
            limit: How many results.
        """
        return term

    assert isinstance(lookup, Function) and lookup.stop_after_call
    assert lookup.definition()["parameters"] == {
        "properties": {
            "term": {"type": "string", "description": "What to look up."},
            "limit": {"type": "integer", "default": 3, "description": "How many results."},
        },
        "required": ["term"],
        "type": "object",
    }
    with pytest.raises(ValueError, match="Invalid arguments for lookup"):
        lookup.parse_arguments('{"limit": "many"}')


def test_every_event_has_an_agent_and_a_team_form_that_pickle() -> None:
    """The classes come from one table: each team form is its agent form with the team's identity; the
    tasks-mode events are a team's only."""
    assert set(TEAM_EVENTS) - set(AGENT_EVENTS) == {kind for kind in TEAM_EVENTS if kind.startswith("task_")}
    for kind, team_form in TEAM_EVENTS.items():
        assert getattr(kern.run.team, team_form.__name__) is team_form
        assert getattr(kern.run.team, team_form.__name__.removeprefix("Team")) is team_form  # (Agno's name)
        event = team_form(run_id="r", team_id="t", team_name="T", **_required(team_form))
        assert pickle.loads(pickle.dumps(event)) == event
        if kind not in AGENT_EVENTS:
            continue
        agent_form = AGENT_EVENTS[kind]
        assert team_form.__name__ == f"Team{agent_form.__name__}"
        assert getattr(kern.run.agent, agent_form.__name__) is agent_form
        agent_fields = set(agent_form.model_fields) - {"agent_id", "agent_name"}
        assert agent_fields == set(team_form.model_fields) - {"team_id", "team_name"}


def _required(cls: type[BaseModel]) -> dict[str, object]:
    return {"tool": {"tool_call_id": "c", "tool_name": "f"}} if "tool" in cls.model_fields else {}
