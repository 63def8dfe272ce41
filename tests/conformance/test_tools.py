"""Tools as Agno scripts declare them (`@tool` with options, `Toolkit` classes), on Agno 3.1.10 and on
kern: the model is offered the same tools and told the same, and the runs answer the same."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern, system_message_of


def tools_api(fw: Framework) -> Any:
    return import_module(f"{fw.name}.tools")


def counting_tools(fw: Framework) -> list[Any]:
    tool = tools_api(fw).tool

    @tool(name="tally", description="Count the words of a text.", instructions="Count before you answer.")
    def count_words(text: str) -> str:
        return f"{len(text.split())} words"

    return [count_words]


def shop_toolkit(fw: Framework) -> list[Any]:
    class Shop(tools_api(fw).Toolkit):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(
                name="shop",
                tools=[self.price, self.stock, self.close_shop],
                instructions="Prices are in euros.",
                add_instructions=True,
                exclude_tools=["close_shop"],
            )

        def price(self, item: str) -> str:
            """The price of an item.

            Args:
                item: The item's name.
            """
            return f"{item}: 3 euros"

        def stock(self, item: str, shop: int = 1) -> str:
            """How many of an item are left.

            Args:
                item: The item's name.
                shop: Which shop.
            """
            return f"{item}: 12 left in shop {shop}"

        def close_shop(self) -> str:
            """Close the shop."""
            return "closed"

    return [Shop()]


def final_answer_tools(fw: Framework) -> list[Any]:
    tool = tools_api(fw).tool

    @tool(stop_after_tool_call=True)
    def lookup(key: str) -> str:
        """Look a key up.

        Args:
            key: The key.
        """
        return f"value of {key}"

    return [lookup]


CASES = {
    "@tool with options": counting_tools,
    "a Toolkit class": shop_toolkit,
    "stop after": final_answer_tools,
}


def offered(server: ModelServer, fw: Framework, case: str) -> tuple[list[tuple[str, str]], str, str]:
    """(name, description) of each tool offered, the system message, and the run's answer."""
    server.clear_requests()
    agent = fw.Agent(name="Clerk", id="example", model=fw.model(server, reply_words=4), tools=CASES[case](fw))
    answer = agent.run("Help me").content
    body = server.requests[0].body
    assert isinstance(body, dict)
    tools = [(t["name"], t.get("description", "")) for t in body.get("tools", [])]
    return tools, system_message_of(body), answer


@pytest.mark.parametrize("case", list(CASES))
def test_tools_are_offered_and_used_as_on_agno(ray_session: None, server: ModelServer, case: str) -> None:
    expected = offered(server, agno(), case)
    assert expected[0], "Agno offered tools"
    assert offered(server, kern(), case) == expected


def test_tool_options_kern_lacks_are_refused_by_name() -> None:
    from kern.tools import Toolkit, tool

    with pytest.raises(NotImplementedError, match=r"@tool\(external_execution_silent=\.\.\.\)"):
        tool(external_execution_silent=True)
    with pytest.raises(ValueError, match="Only one of requires_confirmation"):
        tool(requires_confirmation=True, external_execution=True)
    with pytest.raises(ValueError, match="Invalid tool configuration argument: 'colour'"):
        tool(colour="blue")
    with pytest.raises(ValueError, match=r"no tools named \['missing'\]"):
        Toolkit(name="empty", tools=[], include_tools=["missing"])


def test_a_tool_that_names_agent_gets_the_agent_not_a_model_argument(
    ray_session: None, server: ModelServer
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()

        def whoami(agent: fw.Agent, greeting: str) -> str:  # type: ignore[name-defined]
            """Say who answers.

            Args:
                greeting: How to greet.
            """
            return f"{greeting}, I am {agent.name}"

        whoami.__annotations__["agent"] = fw.Agent
        output = fw.Agent(
            id="example", name="Porter", model=fw.model(server, reply_words=2), tools=[whoami]
        ).run("Who?")
        offered = server.requests[0].body["tools"][0]["parameters"]["properties"]
        return sorted(offered), [t.result for t in output.tools]

    expected = script(agno())
    assert expected == (["greeting"], ["example, I am Porter"])
    assert script(kern()) == expected


def test_show_result_makes_the_tools_result_part_of_the_answer(
    ray_session: None, server: ModelServer
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        @tools_api(fw).tool(show_result=True)
        def forecast(city: str) -> str:
            """The weather of a city.

            Args:
                city: The city.
            """
            return f"Sunny in {city}."

        agent = fw.Agent(
            id="example", name="Weather", model=fw.model(server, reply_words=2), tools=[forecast]
        )
        events = list(agent.run("Weather?", stream=True, stream_events=True))
        contents = [
            e.content for e in events if str(getattr(e.event, "value", e.event)) == "RunContent" and e.content
        ]
        return contents, events[-1].content

    expected = script(agno())
    assert expected[0][0] == "Sunny in example."
    assert script(kern()) == expected


def test_cache_results_answers_a_repeated_call_from_the_cache(
    ray_session: None, server: ModelServer, tmp_path: Any
) -> None:
    def script(fw: Framework) -> bool:
        @tools_api(fw).tool(cache_results=True, cache_dir=str(tmp_path / fw.name), cache_ttl=60)
        def draw(label: str) -> str:
            """Draw a random number.

            Args:
                label: What the number is for.
            """
            import uuid

            return uuid.uuid4().hex

        agent = fw.Agent(id="example", name="Drawer", model=fw.model(server, reply_words=2), tools=[draw])
        first, second = (agent.run("Draw").tools[0].result for _ in range(2))
        return first == second

    assert script(agno()) is True
    assert script(kern()) is True


def test_a_strict_tool_is_offered_as_agno_offers_it(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()

        @tools_api(fw).tool(strict=True)
        def find(topic: str, limit: int = 3) -> str:
            """Find things.

            Args:
                topic: The topic.
                limit: How many.
            """
            return f"{limit} on {topic}"

        fw.Agent(id="example", name="Finder", model=fw.model(server, reply_words=2), tools=[find]).run("Find")
        offered = server.requests[0].body["tools"][0]
        return offered["parameters"], offered.get("strict")

    expected = script(agno())
    assert expected[1] is True and expected[0]["required"] == ["topic", "limit"]
    assert script(kern()) == expected


def test_tools_made_anew_for_each_run_keep_their_own_defaults() -> None:
    """Tools built from the same code (closures made per run) share an arguments model only when their
    parameters are the same: another default is another model."""
    from kern.tools.function import Function

    def make(default: str) -> Function:
        def lookup(query: str, language: str = default) -> str:
            return f"{query} in {language}"

        return Function.from_callable(lookup)

    english, french = make("en"), make("fr")
    assert english.parse_arguments('{"query": "q"}') == {"query": "q", "language": "en"}
    assert french.parse_arguments('{"query": "q"}') == {"query": "q", "language": "fr"}
    assert make("en")._arguments_model is english._arguments_model
