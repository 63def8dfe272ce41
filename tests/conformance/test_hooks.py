"""Hooks, retries and tool-call controls, on Agno 3.1.10 and on kern: pre-hooks see and may change the
input or refuse it, post-hooks see and may change the output, tool hooks wrap each tool call,
`tool_call_limit` and `tool_choice` bound the tools, `retries` tries a failed model call again. kern's
`RunStarted` comes before the pre-hooks' events (docs/agno-differences.md), so it is left out here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern


def exceptions(fw: Framework) -> Any:
    return __import__(f"{fw.name}.exceptions", fromlist=["InputCheckError"])


STARTED = ("RunStarted", "TeamRunStarted")


def names(events: list[Any]) -> list[str]:
    """Event names as a user sees them, without `RunStarted` and Agno's empty first content event."""
    seen = [(str(getattr(e.event, "value", e.event)), e) for e in events]
    return [n for n, e in seen if n not in STARTED and not (n.endswith("RunContent") and e.content is None)]


def guarded(fw: Framework, server: ModelServer) -> Any:
    errors = exceptions(fw)

    def mask(run_input: Any) -> None:
        run_input.input_content = run_input.input_content.replace("1234", "****")

    def guard(run_input: Any) -> None:
        if "secret" in run_input.input_content_string():
            raise errors.InputCheckError(
                "No secrets here", check_trigger=errors.CheckTrigger.INPUT_NOT_ALLOWED
            )

    def broken(run_input: Any) -> None:
        raise RuntimeError("this hook fails; the run goes on")

    def shout(run_output: Any) -> None:
        run_output.content = run_output.content.upper()

    model = fw.model(server, reply_words=3)
    return fw.Agent(
        id="example", name="Guarded", model=model, pre_hooks=[broken, mask, guard], post_hooks=[shout]
    )


def test_hooks_change_the_input_and_the_output(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        agent = guarded(fw, server)
        output = agent.run("Card 1234, please")
        sent = server.requests[-1].body["input"][-1]["content"]
        events = list(agent.run("Card 1234 again", stream=True, stream_events=True))
        return (
            output.status,
            output.content,
            output.get_content_as_string(),
            "****" in str(sent),
            names(events),
        )

    expected = script(agno())
    assert expected[1] == "ONCE UPON A"
    assert script(kern()) == expected


def test_a_pre_hook_refuses_the_input(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        agent = guarded(fw, server)
        output = agent.run("my secret")
        events = list(agent.run("my secret", stream=True, stream_events=True))
        final = events[-1]
        return (
            output.status, names(events), final.content, final.error_type, len(server.requests),
        )  # fmt: skip

    expected = script(agno())
    assert expected[2] == "No secrets here" and expected[4] == 0
    assert script(kern()) == expected


def test_an_output_check_refuses_the_output(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        errors = exceptions(fw)

        def no_dragons(run_output: Any) -> None:
            if "dragon" in run_output.content:
                raise errors.OutputCheckError("Dragons are not allowed")

        agent = fw.Agent(
            id="example", name="Checked", model=fw.model(server, reply_words=8), post_hooks=[no_dragons]
        )
        events = list(agent.run("Tell", stream=True, stream_events=True))
        return names(events)[-1], events[-1].content, events[-1].error_type

    expected = script(agno())
    assert expected[1] == "Dragons are not allowed"
    assert script(kern()) == expected


def lookup(fw: Framework) -> Any:
    def look_up(topic: str) -> str:
        """Look a topic up.

        Args:
            topic: The topic.
        """
        return f"notes on {topic}"

    return look_up


def test_tool_hooks_wrap_each_tool_call(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> list[Any]:
        def bracket(function_name: str, function_call: Any, arguments: dict[str, Any]) -> Any:
            return f"[{function_name}] {function_call(**arguments)}"

        model = fw.model(server, reply_words=3)
        agent = fw.Agent(id="example", name="Hooked", model=model, tools=[lookup(fw)], tool_hooks=[bracket])
        return [(t.tool_name, t.result) for t in agent.run("Research").tools]

    expected = script(agno())
    assert expected == [("look_up", "[look_up] notes on example")]
    assert script(kern()) == expected


def async_lookup() -> Any:
    async def look_up(topic: str) -> str:
        """Look a topic up.

        Args:
            topic: The topic.
        """
        await asyncio.sleep(0)
        return f"notes on {topic}"

    return look_up


async def async_bracket(function_name: str, function_call: Any, arguments: dict[str, Any]) -> Any:
    return f"[{function_name}] {await function_call(**arguments)}"


def shouting(function_name: str, function_call: Any, arguments: dict[str, Any]) -> Any:
    """A sync hook in an async chain: `function_call` gives an awaitable, handed back wrapped."""

    async def shout() -> str:
        return str(await function_call(**arguments)).upper()

    return shout()


@pytest.mark.parametrize(
    ("tool_kind", "hook"), [("async", async_bracket), ("sync", async_bracket), ("async", shouting)]
)
def test_tool_hooks_around_async_tools_and_async_hooks(
    ray_session: None, server: ModelServer, tool_kind: str, hook: Any
) -> None:
    """An async tool or an async hook makes the chain async (Agno's under `arun`; kern's under `run`
    too): `function_call` gives an awaitable, which an async hook awaits and a sync hook may return."""

    def script(fw: Framework) -> list[Any]:
        tool = async_lookup() if tool_kind == "async" else lookup(fw)
        agent = fw.Agent(id="example", name="Hooked", model=fw.model(server, reply_words=3), tools=[tool],
                         tool_hooks=[hook])  # fmt: skip
        output = asyncio.run(agent.arun("Research"))
        return [(t.tool_name, t.result) for t in output.tools]

    expected = script(agno())
    assert expected[0][1] in ("[look_up] notes on example", "NOTES ON EXAMPLE")
    assert script(kern()) == expected


def test_a_teams_tool_hooks_wrap_its_delegation(ray_session: None, server: ModelServer) -> None:
    """kern only: Agno's `run` skips an async hook, and its `arun` hands the hook an async generator
    where the member's answer should be (docs/agno-differences.md)."""
    fw = kern()
    member = fw.Agent(id="example", name="Writer", model=fw.model(server, reply_words=3))
    team = fw.Team(
        name="Desk", members=[member], model=fw.model(server, reply_words=3), tool_hooks=[async_bracket]
    )
    output = team.run("Write")
    answer = output.member_responses[0].content
    assert [(t.tool_name, t.result) for t in output.tools] == [
        ("delegate_task_to_member", f"[delegate_task_to_member] {answer}")
    ]


@pytest.mark.parametrize("tool_kind", ["sync", "async"])
def test_a_hook_may_change_the_arguments(ray_session: None, server: ModelServer, tool_kind: str) -> None:
    """kern only: Agno runs the tool with the original arguments whatever the hook passes on."""

    def to_dragons(function_call: Any, arguments: dict[str, Any]) -> Any:
        return function_call(**{**arguments, "topic": "dragons"})

    tool = async_lookup() if tool_kind == "async" else lookup(kern())
    agent = kern().Agent(name="Hooked", model=kern().model(server, reply_words=3), tools=[tool],
                         tool_hooks=[to_dragons])  # fmt: skip
    assert [t.result for t in agent.run("Research").tools] == ["notes on dragons"]


@pytest.mark.parametrize("limit", [0, 1])
def test_tool_call_limit_stops_further_calls(ray_session: None, server: ModelServer, limit: int) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        tools = [lookup(fw)]
        agent = fw.Agent(
            name="Limited", model=fw.model(server, reply_words=3), tools=tools, tool_call_limit=limit
        )
        output = agent.run("Research")
        tool_messages = [
            i for i in server.requests[-1].body["input"] if i.get("type") == "function_call_output"
        ]
        return output.status, [t.tool_name for t in output.tools or []], [m["output"] for m in tool_messages]

    expected = script(agno())
    assert script(kern()) == expected


@pytest.mark.parametrize("choice", ["none", "auto"])  # (a forced call repeats forever on both)
def test_tool_choice_is_sent_as_agno_sends_it(ray_session: None, server: ModelServer, choice: Any) -> None:
    def script(fw: Framework) -> Any:
        server.clear_requests()
        agent = fw.Agent(
            name="Chooser", model=fw.model(server, reply_words=3), tools=[lookup(fw)], tool_choice=choice
        )
        agent.run("Research")
        return server.requests[0].body.get("tool_choice")

    expected = script(agno())
    assert expected is not None
    assert script(kern()) == expected


def test_retries_try_a_failed_model_call_again(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_faults()
        server.add_fault("401", times=1)
        agent = fw.Agent(
            name="Retrying", model=fw.model(server, reply_words=3), retries=1, delay_between_retries=0
        )
        output = agent.run("Tell")
        return output.status, output.content

    expected = script(agno())
    assert script(kern()) == expected


def test_a_teams_hooks_and_tool_choice(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        errors = exceptions(fw)

        def guard(run_input: Any) -> None:
            if "secret" in run_input.input_content_string():
                raise errors.InputCheckError("No secrets here")

        def sign(run_output: Any) -> None:
            run_output.content = f"{run_output.content} -- the desk"

        writer = fw.Agent(id="example", name="Writer", model=fw.model(server, reply_words=3))
        team = fw.Team(
            name="Desk", members=[writer], model=fw.model(server, reply_words=3), pre_hooks=[guard],
            post_hooks=[sign], tool_choice="auto",
        )  # fmt: skip
        answered = team.run("Write")
        refused = list(team.run("my secret", stream=True, stream_events=True))
        return (
            answered.content, server.requests[0].body.get("tool_choice"),
            names(refused), refused[-1].content, refused[-1].error_type,
        )  # fmt: skip

    expected = script(agno())
    assert expected[0].endswith(" -- the desk")
    assert script(kern()) == expected
