"""Session state, `RunContext` and dependencies, on Agno 3.1.10 and on kern: a tool's changes to
`run_context.session_state` are kept for the session's next runs (in memory without a db, in the db with
one), `{name}` placeholders are resolved, state and dependencies are shown to the model when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern, system_message_of

TRANSIENT = ("current_user_id", "current_session_id", "current_run_id")


def run_context_class(fw: Framework) -> Any:
    return __import__(f"{fw.name}.run", fromlist=["RunContext"]).RunContext


def shopper(fw: Framework, server: ModelServer, **options: Any) -> Any:
    RunContext = run_context_class(fw)

    def add_item(run_context: RunContext, item: str) -> str:  # type: ignore[valid-type]
        """Add an item to the shopping list.

        Args:
            item: The item to add.
        """
        run_context.session_state["shopping_list"].append(item)  # type: ignore[attr-defined]
        return f"Added {item}"

    add_item.__annotations__["run_context"] = RunContext
    return fw.Agent(
        id="example", name="Shopper", model=fw.model(server, reply_words=4), tools=[add_item],
        session_state={"shopping_list": []}, **options,
    )  # fmt: skip


def persistent(state: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if state is None else {k: v for k, v in state.items() if k not in TRANSIENT}


def sqlite_db(fw: Framework, folder: Path) -> Any:
    """kern's SqliteDb beside Agno's InMemoryDb (Agno's SqliteDb needs greenlet, not installed here)."""
    if fw.name == "agno":
        return in_memory_db(fw, folder)
    return __import__("kern.db.sqlite", fromlist=["SqliteDb"]).SqliteDb(db_file=str(folder / "kern.db"))


def in_memory_db(fw: Framework, _: Path) -> Any:
    return __import__(f"{fw.name}.db.in_memory", fromlist=["InMemoryDb"]).InMemoryDb()


DBS = {"sqlite": sqlite_db, "in memory": in_memory_db}


@pytest.mark.parametrize("db", list(DBS))
def test_a_tools_changes_to_session_state_last_for_the_session(
    ray_session: None, server: ModelServer, tmp_path: Path, db: str
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        agent = shopper(fw, server, db=DBS[db](fw, tmp_path))
        first = agent.run("Add milk")
        second = agent.run("Add eggs")
        other = agent.run("Add tea", session_id="another")
        return (
            persistent(first.session_state),
            persistent(second.session_state),
            persistent(other.session_state),
            persistent(agent.get_session_state()),
            persistent(agent.get_session_state("another")),
            [t.tool_name for t in second.tools],
        )

    expected = script(agno())
    assert expected[1] == {"shopping_list": ["example", "example"]}
    assert script(kern()) == expected


@pytest.mark.parametrize("db", list(DBS))
def test_update_session_state_and_session_names_from_the_object(
    ray_session: None, server: ModelServer, tmp_path: Path, db: str
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        agent = shopper(fw, server, db=DBS[db](fw, tmp_path))
        agent.run("Add milk")
        updated = persistent(agent.update_session_state({"budget": 20}))
        after = agent.run("Add eggs")
        agent.set_session_name(session_name="Groceries")
        named = agent.get_session_name()
        return updated, persistent(after.session_state), persistent(agent.get_session_state()), named

    expected = script(agno())
    assert script(kern()) == expected


def test_placeholders_and_state_in_the_system_message(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> str:
        server.clear_requests()
        agent = fw.Agent(
            id="example", name="Greeter", model=fw.model(server, reply_words=3),
            session_state={"user_name": "Ada"},
            instructions="Greet {user_name} warmly. Leave {unknown} as it is.",
            add_session_state_to_context=True,
        )  # fmt: skip
        agent.run("Hello", user_id="u1")
        text = system_message_of(server.requests[-1].body)
        return text.split("<session_state>")[0]  # (the state line holds run ids)

    expected = script(agno())
    assert "Greet Ada warmly. Leave {unknown} as it is." in expected
    assert script(kern()) == expected


def test_without_a_db_each_run_starts_from_the_default_state(ray_session: None, server: ModelServer) -> None:
    """Without a db nothing keeps the session's state between runs (as on Agno); a run's own
    `session_state` is merged over the default."""

    def script(fw: Framework) -> tuple[Any, ...]:
        agent = shopper(fw, server)
        first = agent.run("Add milk", session_state={"store": "corner"})
        second = agent.run("Add eggs")
        return persistent(first.session_state), persistent(second.session_state)

    expected = script(agno())
    assert script(kern()) == expected


def test_dependencies_reach_tools_and_the_user_message(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        RunContext = run_context_class(fw)

        def look_up(run_context: RunContext, topic: str) -> str:  # type: ignore[valid-type]
            """Look a topic up.

            Args:
                topic: The topic.
            """
            return json.dumps(run_context.dependencies, sort_keys=True)  # type: ignore[attr-defined]

        look_up.__annotations__["run_context"] = RunContext
        agent = fw.Agent(
            id="example", name="Researcher", model=fw.model(server, reply_words=3), tools=[look_up],
            dependencies={"city": "Lyon", "year": lambda: 2026}, add_dependencies_to_context=True,
            instructions="Work in {city}.",
        )  # fmt: skip
        output = agent.run("Research")
        seen = [json.loads(tool.result) for tool in output.tools]
        first = server.requests[0].body
        user = [i for i in first["input"] if i.get("role") == "user"][-1]["content"]
        text = user if isinstance(user, str) else "".join(p.get("text", "") for p in user)
        return seen, text, "Work in Lyon." in system_message_of(first)

    expected = script(agno())
    assert expected[0] == [{"city": "Lyon", "year": 2026}]
    assert script(kern()) == expected


def test_agentic_state_gives_the_model_a_tool_to_update_it(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        agent = fw.Agent(
            id="example", name="Keeper", model=fw.model(server, reply_words=3), session_state={"notes": []},
            enable_agentic_state=True,
        )  # fmt: skip
        output = agent.run("Remember this")
        tools = server.requests[0].body.get("tools", [])
        schema = json.dumps(tools[0]["parameters"], sort_keys=True) if tools else ""
        return [t["name"] for t in tools], "session_state_updates" in schema, output.status

    expected = script(agno())
    assert expected[0] == ["update_session_state"]
    assert script(kern()) == expected


def member_requests(server: ModelServer) -> list[dict[str, Any]]:
    """The member's model requests (the leader's system message lists the team's members)."""
    bodies = [request.body for request in server.requests]
    return [b for b in bodies if isinstance(b, dict) and "<team_members>" not in system_message_of(b)]


@pytest.mark.parametrize("db", list(DBS))
def test_a_team_shares_its_state_and_dependencies_with_its_members(
    ray_session: None, server: ModelServer, tmp_path: Path, db: str
) -> None:
    """A member starts from its own state under the team's; what its tools change comes back to the
    team's state (and is saved with the team's run); the team's `add_dependencies_to_context` and
    `add_session_state_to_context` apply to its members; a member with `add_history_to_context` is
    given its own earlier runs in the team's session, tool calls included."""

    def script(fw: Framework) -> list[Any]:
        RunContext = run_context_class(fw)

        def add_item(run_context: RunContext, item: str) -> str:  # type: ignore[valid-type]
            """Add an item to the shopping list.

            Args:
                item: The item to add.
            """
            state = run_context.session_state  # type: ignore[attr-defined]
            state.setdefault("shopping_list", []).append(item)
            state["seen"] = dict(run_context.dependencies or {})  # type: ignore[attr-defined]
            return f"Added {item}"

        add_item.__annotations__["run_context"] = RunContext
        member = fw.Agent(
            id="example", name="Shopper", model=fw.model(server, reply_words=4), tools=[add_item],
            session_state={"member_own": 1}, add_history_to_context=True, instructions="Shop for {owner}.",
        )  # fmt: skip
        team = fw.Team(
            name="Desk", members=[member], model=fw.model(server, reply_words=4), db=DBS[db](fw, tmp_path),
            session_state={"shopping_list": [], "owner": "Ada"}, dependencies={"city": "Lyon"},
            add_dependencies_to_context=True, add_session_state_to_context=True,
        )  # fmt: skip
        seen = []
        for text in ("Add milk", "Add eggs"):
            server.clear_requests()
            output = team.run(text)
            first = member_requests(server)[0]
            system = system_message_of(first)
            items = first["input"]
            turns = [(i["role"], i["content"]) for i in items if i.get("role") in ("user", "assistant")]
            # (Agno leaves out the member's own dependencies block when the member has history: kern not.)
            context = '"city": "Lyon"' in turns[-1][1]
            turns = [(role, text.split("\n\n<additional context>")[0]) for role, text in turns]
            seen.append({
                "state": persistent(output.session_state),
                "stored": persistent(team.get_session_state()),
                "member's instructions": system.split("<session_state>")[0],
                "state shown": "'member_own': 1" in system and "'owner': 'Ada'" in system,
                "member's turns": turns,
                "dependencies in its input": context,
                "tool calls in its history": [i["type"] for i in items if "type" in i and "role" not in i],
            })  # fmt: skip
        return seen

    expected = script(agno())
    assert expected[1]["state"] == {
        "shopping_list": ["example", "example"], "owner": "Ada", "member_own": 1, "seen": {"city": "Lyon"}
    }  # fmt: skip
    assert len(expected[1]["member's turns"]) == 3
    assert script(kern()) == expected


def test_a_run_sets_its_own_context_options(ray_session: None, server: ModelServer, tmp_path: Path) -> None:
    """`add_history_to_context`, `add_dependencies_to_context`, `add_session_state_to_context` given to
    `run` apply to that run only."""

    def script(fw: Framework) -> list[Any]:
        agent = fw.Agent(
            id="example", name="Greeter", model=fw.model(server, reply_words=3),
            db=in_memory_db(fw, tmp_path), session_state={"user_name": "Ada"}, dependencies={"city": "Lyon"},
        )  # fmt: skip
        seen = []
        for options in ({}, {"add_history_to_context": True, "add_dependencies_to_context": True,
                             "add_session_state_to_context": True}, {}):  # fmt: skip
            server.clear_requests()
            agent.run("Hello", **options)
            body = server.requests[-1].body
            turns = [i["content"] for i in body["input"] if i.get("role") in ("user", "assistant")]
            shown = "<session_state>" in system_message_of(body)
            seen.append((len(turns), '"city": "Lyon"' in turns[-1], shown))
        return seen

    expected = script(agno())
    assert expected == [(1, False, False), (3, True, True), (1, False, False)]
    assert script(kern()) == expected
